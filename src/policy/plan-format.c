/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "engine.h"
#include "text.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Decimal digits of v at p; returns how many. */

static void append_actions(GString *out, const PolicyPlanEntry *e)
{
    char size[32];

    if (e->n_actions == 0) {
        g_string_append(out, "-");
        return;
    }
    for (size_t k = 0; k < e->n_actions; k++) {
        const PolicyAction *a = &e->actions[k];

        if (k > 0)
            g_string_append_c(out, ',');
        policy_size_to_buf(a->to_kib, size, sizeof(size));
        switch (a->kind) {
        case POLICY_ACTION_BALLOON:
            g_string_append_printf(out, "balloon=%s", size);
            break;
        case POLICY_ACTION_VIRTIO_MEM:
            g_string_append_printf(out, "%s=%s", a->alias[0] ? a->alias : "virtio-mem", size);
            break;
        default:
            g_string_append_printf(out, "dimm+%s@%d", size, a->node);
            break;
        }
    }
}

char *policy_plan_format_table(const PolicyDomainInput *domains, const PolicyPlanEntry *entries,
                               size_t n, const PolicyPlanSummary *summary)
{
    GString *out = g_string_new(NULL);
    char c[6][32];

    g_string_append_printf(out, "%-20s %-13s %10s %10s %10s %10s %10s %5s  %-14s %-28s %s\n",
                           "NAME", "STATUS", "ASSIGNED", "DEMAND", "TARGET", "MIN", "MAX", "PRESS",
                           "PROTECTION", "ACTIONS", "REASON");
    for (size_t i = 0; i < n; i++) {
        const PolicyPlanEntry *e = &entries[i];
        g_autofree char *name =
            policy_escape(domains && domains[i].name ? domains[i].name : "?", 0);
        g_autoptr(GString) acts = g_string_new(NULL);
        char press[16];

        append_actions(acts, e);
        if (e->managed)
            snprintf(press, sizeof(press), "%" PRIu32 "%%", e->pressure_pct);
        else
            snprintf(press, sizeof(press), "-");
        g_string_append_printf(
            out, "%-20s %-13s %10s %10s %10s %10s %10s %5s  %-14s %-28s %s\n", name,
            policy_status_to_string(e->status), policy_size_to_buf(e->assigned_kib, c[0], 32),
            e->managed ? policy_size_to_buf(e->demand_kib, c[1], 32) : "-",
            policy_size_to_buf(e->target_kib, c[2], 32),
            e->managed ? policy_size_to_buf(e->minimum_kib, c[3], 32) : "-",
            e->managed ? policy_size_to_buf(e->maximum_kib, c[4], 32) : "-", press,
            e->managed ? policy_protection_to_string(e->protection) : "-", acts->str, e->reason);
    }
    if (summary) {
        g_string_append_printf(out,
                               "host: %s, budget %s, free %s, managed %zu: assigned %s, target %s",
                               policy_host_state_to_string(summary->state),
                               policy_size_to_buf(summary->budget_kib, c[0], 32),
                               policy_size_to_buf(summary->free_kib, c[1], 32), summary->n_managed,
                               policy_size_to_buf(summary->sum_assigned_kib, c[2], 32),
                               policy_size_to_buf(summary->sum_target_kib, c[3], 32));
        g_string_append_printf(out, ", unmanaged %s, reserve %s",
                               policy_size_to_buf(summary->unmanaged_kib, c[4], 32),
                               policy_size_to_buf(summary->reserve_kib, c[5], 32));
        if (summary->deflate_reserve_kib > 0)
            g_string_append_printf(out, ", kept for deflate-on-oom %s",
                                   policy_size_to_buf(summary->deflate_reserve_kib, c[0], 32));
        g_string_append_printf(out, "%s\n",
                               summary->psi_limited ? ", host PSI: no net growth" : "");
    }
    return g_string_free(out, FALSE);
}
