/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The manager's state as text: Dump (D-Bus, tests' oracle) and the status
 * line (sd_notify STATUS=, logs). */
#include "manager-private.h"

char *manager_status_line(Manager *m)
{
    if (!m->connected)
        return g_strdup_printf("waiting for %s", manager_get_uri(m));
    if (!m->has_summary)
        return g_strdup("connected; no cycle yet");
    const PolicyPlanSummary *s = &m->summary;
    return g_strdup_printf("%u domains, %" G_GUINT64_FORMAT " MiB assigned of %" G_GUINT64_FORMAT
                           " MiB budget, host %s%s%s",
                           g_hash_table_size(m->domains), s->sum_assigned_kib / 1024,
                           s->budget_kib / 1024, policy_host_state_to_string(s->state),
                           m->paused ? ", paused" : "", m->dry_run ? ", dry-run" : "");
}

char *manager_dump(Manager *m)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *status = manager_status_line(m);
    g_string_append_printf(out, "dynmemd %s: %s\n", DYNMEM_VERSION, status);
    g_string_append_printf(out, "connect: %s (%s)\ninterval: %" G_GUINT64_FORMAT " ms\n",
                           manager_get_uri(m), m->connected ? "connected" : "disconnected",
                           manager_get_interval_us(m) / 1000);
    g_string_append_printf(out, "paused: %s\ndry-run: %s\ncycles: %" G_GUINT64_FORMAT "\n",
                           m->paused ? "yes" : "no", m->dry_run ? "yes" : "no", m->cycles);
    if (m->has_host)
        g_string_append_printf(out,
                               "host: MemTotal %" G_GUINT64_FORMAT " KiB, MemAvailable "
                               "%" G_GUINT64_FORMAT " KiB%s\n",
                               m->host.mem_total_kib, m->host.mem_available_kib,
                               m->host.has_psi ? "" : ", no PSI");
    if (m->overrides_problem)
        g_string_append_printf(out, "overrides: %s\n", m->overrides_problem);

    g_autoptr(GPtrArray) all = manager_list_domains(m);
    g_autoptr(GArray) inputs = g_array_new(FALSE, TRUE, sizeof(PolicyDomainInput));
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(PolicyPlanEntry));
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        if (!d->has_entry)
            continue;
        PolicyDomainInput in;
        manager_domain_input(d, &in);
        g_array_append_val(inputs, in);
        g_array_append_val(entries, d->entry);
    }
    if (m->has_summary) {
        g_autofree char *table = policy_plan_format_table((PolicyDomainInput *)(void *)inputs->data,
                                                          (PolicyPlanEntry *)(void *)entries->data,
                                                          inputs->len, &m->summary);
        g_string_append(out, table);
    }
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        g_string_append_printf(
            out,
            "domain %s uuid=%s status=%s assigned=%" G_GUINT64_FORMAT " target=%" G_GUINT64_FORMAT
            " errors=%" G_GUINT64_FORMAT " override=%s\n",
            d->label, d->uuid, d->has_entry ? policy_status_to_string(d->entry.status) : "new",
            d->has_entry ? d->entry.assigned_kib : 0, d->has_entry ? d->entry.target_kib : 0,
            d->action_errors, g_hash_table_contains(m->overrides, d->uuid) ? "yes" : "no");
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}
