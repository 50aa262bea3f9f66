/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-output.h"

#include "text.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void fmt_or_dash(char *buf, size_t len, double v, int decimals)
{
    if (v < 0 || isnan(v))
        g_strlcpy(buf, "-", len);
    else
        snprintf(buf, len, "%.*f", decimals, v);
}

char *sim_format_table(const SimScenario *s, const SimResult *res, size_t n)
{
    GString *out = g_string_new(NULL);
    g_autofree char *ram = policy_format_size_kib(s->host_ram_kib);
    g_autofree char *name = policy_escape(s->name, 64);
    g_string_append_printf(out, "scenario %s: %u VMs, %.1f h, host %s\n", name, s->vms->len,
                           (double)s->duration_us / 3.6e9, ram);
    g_string_append(out, "algorithm  avg GiB  saved %  OOM kills  pressure-s  steps  react p50 s"
                         "  p95 s  changes/VM-h  over budget s  heavy short % (of VMs)\n");
    for (size_t i = 0; i < n; i++) {
        const SimResult *r = &res[i];
        char saved[16], p50[16], p95[16], heavy[32];
        fmt_or_dash(saved, sizeof(saved), r->saved_pct, 1);
        fmt_or_dash(p50, sizeof(p50), r->n_steps ? r->react_p50_s : -1, 2);
        fmt_or_dash(p95, sizeof(p95), r->n_steps ? r->react_p95_s : -1, 2);
        if (r->short_heavy_pct >= 0)
            snprintf(heavy, sizeof(heavy), "%.0f (%.0f)", r->short_heavy_pct, r->heavy_vm_pct);
        else
            g_strlcpy(heavy, "-", sizeof(heavy));
        g_string_append_printf(out,
                               "%-9s  %7.1f  %7s  %9" G_GUINT64_FORMAT
                               "  %10.0f  %5zu  %11s  %5s  %12.1f  %13.0f  %s\n",
                               sim_algo_to_string(r->algo), r->avg_assigned_kib / 1048576.0, saved,
                               r->oom_kills, r->pressure_s, r->n_steps, p50, p95,
                               r->changes_per_vm_hour, r->over_budget_s, heavy);
    }
    return g_string_free(out, FALSE);
}

static void json_num(GString *out, const char *key, double v, bool last)
{
    if (isnan(v) || v < 0)
        g_string_append_printf(out, "\"%s\": null%s", key, last ? "" : ", ");
    else
        g_string_append_printf(out, "\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

char *sim_format_json(const SimScenario *s, const SimResult *res, size_t n)
{
    GString *out = g_string_new(NULL);
    g_autofree char *name = policy_escape(s->name, 0);
    g_string_append_printf(out,
                           "{\"scenario\": \"%s\", \"vms\": %u, \"duration_s\": %.0f, "
                           "\"host_ram_kib\": %" G_GUINT64_FORMAT ", \"results\": [",
                           name, s->vms->len, (double)s->duration_us / 1e6, s->host_ram_kib);
    for (size_t i = 0; i < n; i++) {
        const SimResult *r = &res[i];
        g_string_append_printf(out, "%s{\"algorithm\": \"%s\", ", i ? ", " : "",
                               sim_algo_to_string(r->algo));
        json_num(out, "avg_assigned_kib", r->avg_assigned_kib, false);
        json_num(out, "avg_demand_kib", r->avg_demand_kib, false);
        json_num(out, "saved_pct", r->saved_pct, false);
        json_num(out, "oom_kills", (double)r->oom_kills, false);
        json_num(out, "pressure_s", r->pressure_s, false);
        json_num(out, "steps", (double)r->n_steps, false);
        json_num(out, "react_p50_s", r->n_steps ? r->react_p50_s : -1, false);
        json_num(out, "react_p95_s", r->n_steps ? r->react_p95_s : -1, false);
        json_num(out, "changes_per_vm_hour", r->changes_per_vm_hour, false);
        json_num(out, "over_budget_s", r->over_budget_s, false);
        json_num(out, "shortfall_heavy_pct", r->short_heavy_pct, false);
        json_num(out, "heavy_vm_pct", r->heavy_vm_pct, false);
        json_num(out, "vm_hours", r->vm_hours, false);
        json_num(out, "domain_cycles", (double)r->domain_cycles, false);
        json_num(out, "wall_s", r->wall_s, true);
        g_string_append_c(out, '}');
    }
    g_string_append(out, "]}");
    return g_string_free(out, FALSE);
}

/* gnuplot's own quoting: a single-quoted string doubles its quotes. */
static char *gp_quote(const char *s)
{
    g_autofree char *e = policy_escape(s, 64);
    GString *q = g_string_new("'");
    for (const char *p = e; *p; p++) {
        if (*p == '\'')
            g_string_append_c(q, '\'');
        g_string_append_c(q, *p);
    }
    g_string_append_c(q, '\'');
    return g_string_free(q, FALSE);
}

int sim_plot(const SimScenario *s, const SimResult *res, size_t n, const char *out,
             char **ret_error)
{
    g_autoptr(GError) e = NULL;
    bool svg = g_str_has_suffix(out, ".svg");
    if (!svg && !g_str_has_suffix(out, ".png"))
        return policy_set_error(ret_error, -EINVAL, "--plot: a .png or .svg file");
    g_autofree char *gnuplot = g_find_program_in_path("gnuplot");
    if (!gnuplot)
        return policy_set_error(ret_error, -ENOENT, "gnuplot is not installed (gnuplot-nox)");
    g_autofree char *dir = g_dir_make_tmp("dynmem-sim-plot-XXXXXX", &e);
    if (!dir)
        return policy_set_error(ret_error, -EIO, "%s", e->message);

    g_autoptr(GString) gp = g_string_new(NULL);
    g_autofree char *outq = gp_quote(out);
    g_autofree char *title = gp_quote(s->name);
    guint rows_fig = (guint)n;
    /* a budget far above the guests would flatten them: off the scale */
    double ymax = 0, budget = 0;
    for (size_t a = 0; a < n; a++)
        for (guint i = 0; res[a].plot && i < res[a].plot->len; i++) {
            double v = g_array_index(res[a].plot, double, i);
            guint c = i % res[a].plot_cols;
            if (c == 1)
                budget = v;
            else if (c >= 2 && !isnan(v))
                ymax = MAX(ymax, v);
        }
    bool show_budget = budget <= 1.5 * ymax;
    double hours = (double)s->duration_us / 3.6e9;
    bool minutes = hours <= 2;
    g_string_append_printf(gp,
                           "set terminal %s size 1200,%u%s\nset output %s\n"
                           "set multiplot layout %u,1 title %s\n"
                           "set key outside right\nset ylabel 'GiB'\nset grid\n"
                           "set yrange [0:%.3f]\nset xrange [0:%.3f]\n",
                           svg ? "svg" : "pngcairo", 260 * rows_fig + 40, svg ? " dynamic" : "",
                           outq, rows_fig, title, 1.1 * (show_budget ? MAX(ymax, budget) : ymax),
                           minutes ? hours * 60 : hours);
    for (size_t a = 0; a < n; a++) {
        const SimResult *r = &res[a];
        if (!r->plot || r->plot_cols == 0)
            continue;
        g_autofree char *data = g_strdup_printf("%s/%zu.dat", dir, a);
        g_autoptr(GString) d = g_string_new(NULL);
        guint cols = r->plot_cols;
        for (guint i = 0; i + cols <= r->plot->len; i += cols) {
            for (guint c = 0; c < cols; c++) {
                double v = g_array_index(r->plot, double, i + c);
                if (isnan(v))
                    g_string_append(d, " NaN");
                else
                    g_string_append_printf(d, " %.4f", v);
            }
            g_string_append_c(d, '\n');
        }
        if (!g_file_set_contents(data, d->str, (gssize)d->len, &e))
            return policy_set_error(ret_error, -EIO, "%s", e->message);
        g_autofree char *dq = gp_quote(data);
        g_string_append_printf(gp,
                               "set title '%s: %.0f OOM kills, %.1f %% saved%s "
                               "(solid: assigned, dotted: demand)'\n",
                               sim_algo_to_string(r->algo), (double)r->oom_kills,
                               isnan(r->saved_pct) ? 0.0 : r->saved_pct,
                               show_budget ? "" : ", the budget off the scale");
        if (a + 1 == n)
            g_string_append_printf(gp, "set xlabel '%s'\n", minutes ? "minutes" : "hours");
        const char *x = minutes ? "($1*60)" : "1";
        if (show_budget)
            g_string_append_printf(gp,
                                   "plot %s using %s:2 with lines dt 2 lc 'black' "
                                   "title 'budget', ",
                                   dq, x);
        else
            g_string_append(gp, "plot ");
        for (guint k = 0; k < r->plot_names->len; k++) {
            g_autofree char *nq = gp_quote(r->plot_names->pdata[k]);
            g_string_append_printf(gp,
                                   "%s%s using %s:%u with lines lc %u lw 1.5 title %s"
                                   ", %s using %s:%u with lines lc %u dt 3 notitle",
                                   k ? ", " : "", dq, x, 3 + 2 * k, k + 1, nq, dq, x, 4 + 2 * k,
                                   k + 1);
        }
        g_string_append_c(gp, '\n');
    }
    g_string_append(gp, "unset multiplot\n");
    g_autofree char *script = g_build_filename(dir, "plot.gp", NULL);
    if (!g_file_set_contents(script, gp->str, (gssize)gp->len, &e))
        return policy_set_error(ret_error, -EIO, "%s", e->message);
    const char *argv[] = {gnuplot, script, NULL};
    int status = 0;
    g_autofree char *err_out = NULL;
    bool ok = g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                           &err_out, &status, &e);
    /* the temporary files go, whatever happened */
    g_autoptr(GDir) gd = g_dir_open(dir, 0, NULL);
    const char *f;
    while (gd && (f = g_dir_read_name(gd))) {
        g_autofree char *p = g_build_filename(dir, f, NULL);
        g_unlink(p);
    }
    g_rmdir(dir);
    if (!ok)
        return policy_set_error(ret_error, -EIO, "gnuplot: %s", e->message);
    if (!g_spawn_check_wait_status(status, NULL))
        return policy_set_error(ret_error, -EIO, "gnuplot failed: %s", err_out ? err_out : "");
    return 0;
}
