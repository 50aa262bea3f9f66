/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmem-sim: replay a scenario through dynmemd's own manager and engine
 * on a simulated hypervisor, and through the peers' rules, and compare
 * (dynmem-sim(1)).
 */
#include "sim-output.h"
#include "sim-recording.h"
#include "sim-run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FILE, fclose)

typedef struct {
    const SimAlgo *list;
    size_t n_algos;
    bool json;
    const char *plot;
    bool verbose;
    FILE *trace_oom;
    bool several; /* more than one scenario: JSON array, plot names */
} RunOptions;

/* Run one scenario through every algorithm asked and print its table (or
 * JSON, or plot). Returns 0, or -1 when anything failed (said on stderr). */
static int run_scenario(SimScenario *s, const char *label, bool first, const RunOptions *ro)
{
    int status = 0;
    SimRunOptions o = {.plot = ro->plot != NULL,
                       .plot_max_vm = 6,
                       .verbose = ro->verbose,
                       .trace_oom = ro->trace_oom,
                       .scenario_name = s->name};
    SimResult res[SIM_ALGO_LAST] = {0};
    size_t done = 0;
    for (size_t a = 0; a < ro->n_algos; a++) {
        g_autofree char *err = NULL;
        if (sim_run(s, ro->list[a], &o, &res[done], &err) < 0) {
            fprintf(stderr, "%s: %s: %s\n", label, sim_algo_to_string(ro->list[a]), err);
            status = -1;
            continue;
        }
        done++;
    }
    sim_results_finish(res, done);
    if (ro->json) {
        g_autofree char *j = sim_format_json(s, res, done);
        printf("%s%s", first ? "" : ", ", j);
    } else {
        g_autofree char *t = sim_format_table(s, res, done);
        printf("%s", t);
        for (size_t a = 0; a < done; a++)
            if (res[a].algo == SIM_ALGO_DYNMEM && res[a].domain_cycles)
                printf("dynmem: %.1f s of CPU for %" G_GUINT64_FORMAT
                       " domain-cycles, %.2f us each (the simulated guests included)\n",
                       res[a].wall_s, res[a].domain_cycles,
                       res[a].wall_s * 1e6 / (double)res[a].domain_cycles);
        printf("\n");
    }
    if (ro->plot) {
        g_autofree char *path = NULL;
        if (ro->several) {
            const char *dot = strrchr(ro->plot, '.');
            g_autofree char *base = g_path_get_basename(label);
            char *bdot = strrchr(base, '.');
            if (bdot)
                *bdot = '\0';
            path = g_strdup_printf("%.*s-%s%s", (int)(dot - ro->plot), ro->plot, base, dot);
        } else {
            path = g_strdup(ro->plot);
        }
        g_autofree char *err = NULL;
        if (sim_plot(s, res, done, path, &err) < 0) {
            fprintf(stderr, "dynmem-sim: %s\n", err);
            status = -1;
        }
    }
    for (size_t a = 0; a < done; a++)
        sim_result_clear(&res[a]);
    return status;
}

/* The converted recording's traces, served to the scenario loader by the
 * names its YAML gives them. */
static int read_converted(const char *path, char **ret_text, char **ret_error, void *userdata)
{
    const SimRecordingScenario *r = userdata;
    for (guint i = 0; i < r->files->len; i++)
        if (r->texts->pdata[i] && strcmp(path, r->files->pdata[i]) == 0) {
            *ret_text = g_strdup(r->texts->pdata[i]);
            return 0;
        }
    *ret_error = g_strdup("no such trace in the recording");
    return -ENOENT;
}

/* The scenario's name: the recording's file name without its suffix. */
static char *recording_name(const char *path)
{
    char *base = g_path_get_basename(path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return base;
}

/* Write the scenario and its traces beside it (NAME.N.csv, the names its
 * YAML gives). Returns 0 or -1, said on stderr. */
static int write_converted(const SimRecordingScenario *r, const char *output)
{
    g_autofree char *dir = g_path_get_dirname(output);
    g_autoptr(GError) e = NULL;
    for (guint i = 0; i < r->files->len; i++) {
        if (!r->texts->pdata[i])
            continue;
        g_autofree char *path = g_build_filename(dir, r->files->pdata[i], NULL);
        if (!g_file_set_contents(path, r->texts->pdata[i], -1, &e)) {
            fprintf(stderr, "dynmem-sim: %s\n", e->message);
            return -1;
        }
    }
    if (!g_file_set_contents(output, r->yaml, -1, &e)) {
        fprintf(stderr, "dynmem-sim: %s\n", e->message);
        return -1;
    }
    printf("wrote %s: %u VMs from %" G_GUINT64_FORMAT
           " samples, their demand traces beside it (%s ...)\n",
           output, r->n_vms, r->n_samples, r->files->len ? (char *)r->files->pdata[0] : "");
    return 0;
}

static int from_recording_main(const char *path, const char *output, const SimAlgo *list,
                               size_t n_algos, bool json, const char *plot, bool verbose,
                               FILE *trace_oom)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(path, &text, &len, &e)) {
        fprintf(stderr, "dynmem-sim: %s\n", e->message);
        return 1;
    }
    /* the traces are named after the scenario they go with */
    g_autofree char *name = recording_name(output ? output : path);
    g_autoptr(SimRecordingScenario) r = NULL;
    g_autofree char *err = NULL;
    if (sim_recording_convert_buf(text, len, name, &r, &err) < 0) {
        fprintf(stderr, "%s:%s%s\n", path, g_ascii_isdigit(err[0]) ? "" : " ", err);
        return 1;
    }
    if (r->truncated)
        fprintf(stderr, "%s: the last line is cut short (a write was interrupted); left out\n",
                path);
    if (output)
        return write_converted(r, output) < 0 ? 1 : 0;

    g_autoptr(SimScenario) s = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    if (sim_scenario_parse_buf(r->yaml, strlen(r->yaml), read_converted, r, &s, &errors) < 0) {
        for (guint i = 0; i < errors->len; i++)
            fprintf(stderr, "%s: as a scenario: %s\n", path, (char *)errors->pdata[i]);
        return 1;
    }
    const RunOptions ro = {list, n_algos, json, plot, verbose, trace_oom, false};
    int status = run_scenario(s, path, true, &ro) < 0 ? 1 : 0;
    if (json)
        printf("\n");
    return status;
}

/* The --trace-oom file written out whole, or said not to be: status, or 1. */
static int finish_trace(FILE *trace, const char *path, int status)
{
    if (trace && (fflush(trace) != 0 || ferror(trace))) {
        fprintf(stderr, "dynmem-sim: %s: writing the trace failed: %s\n", path, g_strerror(errno));
        return 1;
    }
    return status;
}

int main(int argc, char **argv)
{
    g_autofree char *algos = NULL, *plot = NULL, *from_recording = NULL, *output = NULL,
                    *trace_path = NULL;
    gboolean json = FALSE, verbose = FALSE, version = FALSE;
    GOptionEntry entries[] = {
        {"algorithms", 'a', 0, G_OPTION_ARG_STRING, &algos,
         "Comma-separated: dynmem,static,hyperv,mom,proxmox,squeezed (default: all)", "LIST"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON, one object per scenario", NULL},
        {"plot", 0, 0, G_OPTION_ARG_FILENAME, &plot,
         "Draw assigned memory against demand (.png or .svg; with several scenarios, the "
         "scenario's name is added before the suffix)",
         "FILE"},
        {"from-recording", 0, 0, G_OPTION_ARG_FILENAME, &from_recording,
         "Replay a dynmemd recording (daemon.record-file) as a scenario", "FILE"},
        {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
         "With --from-recording: write the scenario (and its CSV traces beside it), do not run",
         "SCENARIO.yaml"},
        {"trace-oom", 0, 0, G_OPTION_ARG_FILENAME, &trace_path,
         "Write each VM's ticks around its OOM kills, and the engine's plan, as CSV", "FILE"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "dynmemd's notices on stderr", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("SCENARIO.yaml... | --from-recording FILE [-o SCENARIO.yaml]");
    g_autoptr(GError) e = NULL;
    /* a closed pipe is an error to report, not a death that would leave a
     * run's temporary directory behind */
    signal(SIGPIPE, SIG_IGN);
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "Replays memory demand through dynmem and its peers.");
    if (!g_option_context_parse(ctx, &argc, &argv, &e)) {
        fprintf(stderr, "dynmem-sim: %s\n", e->message);
        return 2;
    }
    if (version) {
        printf("dynmem-sim %s\n", DYNMEM_VERSION);
        return 0;
    }
    SimAlgo list[SIM_ALGO_LAST];
    size_t n_algos = 0;
    if (algos) {
        g_auto(GStrv) parts = g_strsplit(algos, ",", -1);
        for (size_t i = 0; parts[i]; i++) {
            SimAlgo a;
            if (sim_algo_from_string(g_strstrip(parts[i]), &a) < 0 || n_algos == SIM_ALGO_LAST) {
                fprintf(stderr, "dynmem-sim: unknown algorithm '%s'\n", parts[i]);
                return 2;
            }
            list[n_algos++] = a;
        }
    } else {
        for (int a = 0; a < SIM_ALGO_LAST; a++)
            list[n_algos++] = (SimAlgo)a;
    }

    g_autoptr(FILE) trace_oom = NULL;
    if (trace_path) {
        trace_oom = fopen(trace_path, "we");
        if (!trace_oom) {
            fprintf(stderr, "dynmem-sim: %s: %s\n", trace_path, g_strerror(errno));
            return 1;
        }
        fputs(sim_trace_oom_header, trace_oom);
    }
    if (from_recording) {
        if (argc > 1) {
            fprintf(stderr, "dynmem-sim: --from-recording takes no scenario files\n");
            return 2;
        }
        return finish_trace(trace_oom, trace_path,
                            from_recording_main(from_recording, output, list, n_algos, json, plot,
                                                verbose, trace_oom));
    }
    if (output) {
        fprintf(stderr, "dynmem-sim: --output goes with --from-recording\n");
        return 2;
    }
    if (argc < 2) {
        fprintf(stderr, "dynmem-sim: a scenario file is required (see dynmem-sim(1))\n");
        return 2;
    }
    int status = 0;
    if (json && argc > 2)
        printf("[");
    for (int f = 1; f < argc; f++) {
        g_autoptr(SimScenario) s = NULL;
        g_autoptr(GPtrArray) errors = NULL;
        if (sim_scenario_load(argv[f], &s, &errors) < 0) {
            for (guint i = 0; i < errors->len; i++)
                fprintf(stderr, "%s:%s\n", argv[f], (char *)errors->pdata[i]);
            status = 1;
            continue;
        }
        const RunOptions ro = {list, n_algos, json, plot, verbose, trace_oom, argc > 2};
        if (run_scenario(s, argv[f], f == 1, &ro) < 0)
            status = 1;
        /* a reader gone (piped to head): stop here, nothing left behind */
        if (fflush(stdout) != 0) {
            fprintf(stderr, "dynmem-sim: writing the results: %s\n", g_strerror(errno));
            return 1;
        }
    }
    if (json)
        printf(argc > 2 ? "]\n" : "\n");
    return finish_trace(trace_oom, trace_path, status);
}
