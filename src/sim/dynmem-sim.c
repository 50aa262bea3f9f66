/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmem-sim: replay a scenario through dynmemd's own manager and engine
 * on a simulated hypervisor, and through the peers' rules, and compare
 * (dynmem-sim(1)).
 */
#include "sim-output.h"
#include "sim-run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    g_autofree char *algos = NULL, *plot = NULL;
    gboolean json = FALSE, verbose = FALSE, version = FALSE;
    GOptionEntry entries[] = {
        {"algorithms", 'a', 0, G_OPTION_ARG_STRING, &algos,
         "Comma-separated: dynmem,static,hyperv,mom,proxmox,squeezed (default: all)", "LIST"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON, one object per scenario", NULL},
        {"plot", 0, 0, G_OPTION_ARG_FILENAME, &plot,
         "Draw assigned memory against demand (.png or .svg; with several scenarios, the "
         "scenario's name is added before the suffix)",
         "FILE"},
        {"verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "dynmemd's notices on stderr", NULL},
        {"version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("SCENARIO.yaml...");
    g_autoptr(GError) e = NULL;
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
    if (argc < 2) {
        fprintf(stderr, "dynmem-sim: a scenario file is required (see dynmem-sim(1))\n");
        return 2;
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
        SimRunOptions o = {.plot = plot != NULL, .plot_max_vm = 6, .verbose = verbose};
        SimResult res[SIM_ALGO_LAST] = {0};
        size_t done = 0;
        for (size_t a = 0; a < n_algos; a++) {
            g_autofree char *err = NULL;
            if (sim_run(s, list[a], &o, &res[done], &err) < 0) {
                fprintf(stderr, "%s: %s: %s\n", argv[f], sim_algo_to_string(list[a]), err);
                status = 1;
                continue;
            }
            done++;
        }
        sim_results_finish(res, done);
        if (json) {
            g_autofree char *j = sim_format_json(s, res, done);
            printf("%s%s", f > 1 ? ", " : "", j);
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
        if (plot) {
            g_autofree char *path = NULL;
            if (argc > 2) {
                const char *dot = strrchr(plot, '.');
                g_autofree char *base = g_path_get_basename(argv[f]);
                char *bdot = strrchr(base, '.');
                if (bdot)
                    *bdot = '\0';
                path = g_strdup_printf("%.*s-%s%s", (int)(dot - plot), plot, base, dot);
            } else {
                path = g_strdup(plot);
            }
            g_autofree char *err = NULL;
            if (sim_plot(s, res, done, path, &err) < 0) {
                fprintf(stderr, "dynmem-sim: %s\n", err);
                status = 1;
            }
        }
        for (size_t a = 0; a < done; a++)
            sim_result_clear(&res[a]);
    }
    if (json)
        printf(argc > 2 ? "]\n" : "\n");
    return status;
}
