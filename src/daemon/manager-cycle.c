/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One cycle (docs/architecture.md, "src/daemon"): collect the stats, read
 * the host, prepare each domain (capabilities, sample, policy), plan, keep
 * the plan, carry it out, and tell the listeners.
 */
#include "log.h"
#include "manager-private.h"
#include "meminfo.h"
#include "text.h"

#include <errno.h>
#include <string.h>

static int read_host(Manager *m, PolicyHostSample *ret)
{
    g_autofree char *path = g_build_filename(m->proc_root, "meminfo", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    g_autofree char *err = NULL;
    PolicyHostSample h = {0};
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        log_error("cannot read %s: %s", path, gerr->message);
        return -EIO;
    }
    if (policy_meminfo_parse_buf(text, &h, &err) < 0) {
        log_error("%s: %s", path, err);
        return -EINVAL;
    }
    /* PSI is optional (kernels without CONFIG_PSI, or psi=0). */
    g_autofree char *psi_path = g_build_filename(m->proc_root, "pressure", "memory", NULL);
    g_autofree char *psi = NULL;
    g_autofree char *psi_err = NULL;
    if (g_file_get_contents(psi_path, &psi, NULL, NULL) &&
        policy_psi_parse_buf(psi, &h, &psi_err) < 0)
        log_debug("%s: %s", psi_path, psi_err);
    *ret = h;
    return 0;
}

static uint64_t virtio_mem_current_kib(const PolicyDomainCaps *caps)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < caps->n_virtio_mem; i++)
        sum += caps->virtio_mem[i].current_kib;
    return sum;
}

static void refresh_caps(Manager *m, ManagerDomain *d)
{
    g_autofree char *err = NULL;
    PolicyDomainCaps caps;
    int r = m->backend->ops->read_caps(m->backend, d->uuid, &caps, &err);
    if (r < 0) {
        g_autofree char *e = policy_escape(err, 0); /* libvirt may quote the name */
        log_warning("%s: cannot read capabilities: %s", d->label, e);
        if (!d->caps_valid)
            memset(&d->caps, 0, sizeof(d->caps)); /* unmanaged until readable */
        return;
    }
    d->caps = caps;
    d->caps_valid = true;
    d->caps_dirty = false;

    if (caps.has_balloon && caps.stats_period_s == 0 && !d->stats_period_set) {
        /* Without a stats period the guest never reports usable memory. */
        d->stats_period_set = true;
        unsigned period = (unsigned)MAX(1, manager_get_interval_us(m) / G_USEC_PER_SEC);
        g_autofree char *perr = NULL;
        if (m->dry_run) {
            log_notice("%s: balloon stats are off; would set their period to %us", d->label,
                       period);
        } else if (m->backend->ops->set_stats_period(m->backend, d->uuid, period, &perr) < 0) {
            g_autofree char *e = policy_escape(perr, 0);
            log_warning("%s: balloon stats are off and enabling them failed: %s", d->label, e);
        } else {
            log_notice("%s: balloon stats were off; set their period to %us (live)", d->label,
                       period);
            d->caps.stats_period_s = period;
        }
    }
}

/* Merge this cycle's stats into the domain table. Returns false when the
 * connection is gone. */
static bool collect(Manager *m, uint64_t now)
{
    g_autoptr(GArray) stats = NULL;
    g_autofree char *err = NULL;
    int r = m->backend->ops->collect(m->backend, now, &stats, &err);
    if (r == -ENOTCONN) {
        manager_handle_disconnect(m);
        return false;
    }
    if (r < 0) {
        log_warning("cannot collect domain stats: %s", err);
        return false;
    }

    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, m->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        ((ManagerDomain *)v)->seen = false;

    for (guint i = 0; i < stats->len; i++) {
        BackendDomainStats *s = &g_array_index(stats, BackendDomainStats, i);
        ManagerDomain *d = manager_domain_lookup(m, s->uuid);
        if (!d)
            d = manager_domain_add(m, s->uuid, s->name);
        if (s->name && strcmp(s->name, d->name) != 0)
            manager_domain_rename(m, d, s->name);
        d->seen = true;
        d->has_sample = s->has_sample;
        d->sample = s->sample;
        ((DomainPriv *)d)->balloon_only = s->balloon_only;
    }

    /* every running domain was restored above; the rest are gone */
    g_hash_table_remove_all(m->saved_states);

    if (stats->len != g_hash_table_size(m->domains)) {
        g_autoptr(GPtrArray) all = manager_list_domains(m);
        for (guint i = 0; i < all->len; i++) {
            ManagerDomain *d = all->pdata[i];
            if (!d->seen)
                manager_domain_remove(m, d, "no longer running");
        }
    }
    return true;
}

/* QEMU computes a balloon event's figure when the guest moves its balloon,
 * counting the DIMMs plugged at that moment, and may send it up to a
 * second later (it throttles the event). A DIMM plugged in between leaves
 * libvirt's balloon.current short by the DIMM's size until the balloon
 * moves again (seen in CI: the daemon read 640 MiB for a guest it had just
 * grown to 1152 and set it to 512). So a domain with DIMMs has its
 * balloon figure asked of QEMU itself each cycle. When that cannot be
 * done, the domain is held: its guest figures are dropped, so the engine
 * neither shrinks nor grows it (stale), and it is counted at the figure
 * QEMU last gave. */
static void hold_dimm_domain(ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    PolicyDomainSample *s = &d->sample;

    s->has_balloon_stats = false;
    s->has_usable = false;
    s->has_available = false;
    s->has_unused = false;
    if (p->has_live_balloon) {
        s->balloon_kib = p->live_balloon_kib;
        p->balloon_only = true;
    }
}

static void refresh_dimm_sample(Manager *m, ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    if (!d->has_sample || p->balloon_only || d->caps.n_dimms == 0 || p->live_unsupported ||
        !m->backend->ops->read_sample)
        return;
    if (!d->sample.has_balloon_stats) {
        /* busy in a job (NOWAIT) or no balloon driver: asking now would
         * wait for the job; without guest figures the engine holds it */
        hold_dimm_domain(d);
        return;
    }
    g_autofree char *raw_err = NULL;
    PolicyDomainSample live;
    int r = m->backend->ops->read_sample(m->backend, d->uuid, now, &live, &raw_err);
    g_autofree char *err = r < 0 ? policy_escape(raw_err, 0) : NULL;
    if (r == -EOPNOTSUPP) {
        log_notice("%s: the hypervisor gives no live balloon figure (%s); using libvirt's",
                   d->label, err);
        p->live_unsupported = true;
        return;
    }
    if (r < 0) {
        /* gone, or the connection with it: the next collection says so */
        if (r != -ENOENT && r != -ENOTCONN && !p->live_read_failing) {
            log_warning("%s: cannot read its balloon from the hypervisor, holding it: %s", d->label,
                        err);
            p->live_read_failing = true;
        }
        hold_dimm_domain(d);
        return;
    }
    if (p->live_read_failing)
        log_info("%s: its balloon is readable again", d->label);
    p->live_read_failing = false;
    p->has_live_balloon = true;
    p->live_balloon_kib = live.balloon_kib;
    d->sample = live;
    p->balloon_only = true;
}

/* Complete a sample with what only the caps know: bulk stats give
 * balloon + virtio-mem together, virDomainMemoryStats the balloon alone. */
static void complete_sample(ManagerDomain *d)
{
    uint64_t vmem = virtio_mem_current_kib(&d->caps);
    /* with autodeflate the guest counts ballooned pages as used memory in
     * its MemTotal: the engine must not take MemTotal as its view */
    if (d->caps.balloon_autodeflate)
        d->sample.has_available = false;
    if (((DomainPriv *)d)->balloon_only)
        d->sample.assigned_kib = d->sample.balloon_kib + vmem;
    else
        d->sample.balloon_kib = d->sample.assigned_kib > vmem ? d->sample.assigned_kib - vmem : 0;
}

/* Capabilities, sample and policy of every domain, into m->order in name
 * order (the engine's input is deterministic). */
static void prepare_domains(Manager *m, uint64_t now)
{
    g_ptr_array_set_size(m->order, 0);
    /* a copy: listeners may add domains meanwhile */
    g_autoptr(GPtrArray) all = manager_list_domains(m);
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        if (d->caps_dirty)
            refresh_caps(m, d);
        if (!manager_domain_lookup(m, d->uuid))
            continue;
        refresh_dimm_sample(m, d, now);
        complete_sample(d);
        manager_domain_resolve_policy(m, d);
        g_ptr_array_add(m->order, d);
    }
}

/* The engine over m->order: entries in m->entries, the summary in
 * *ret_summary. Returns 0 or the engine's negative errno. */
static int plan_domains(Manager *m, uint64_t now, PolicyPlanSummary *ret_summary)
{
    guint n = m->order->len;
    g_array_set_size(m->inputs, n);
    g_array_set_size(m->entries, n);
    for (guint i = 0; i < n; i++)
        manager_domain_input(m->order->pdata[i], &g_array_index(m->inputs, PolicyDomainInput, i));
    int r = policy_engine_plan(m->engine, m->cfg, &m->host, now,
                               (PolicyDomainInput *)(void *)m->inputs->data, n,
                               (PolicyPlanEntry *)(void *)m->entries->data, ret_summary);
    if (r < 0)
        log_error("the engine refused this cycle's input (%s)", g_strerror(-r));
    return r;
}

/* Each domain keeps its new plan entry; what no loop sees is said once,
 * when it happens (DESIGN.md §3.10). */
static void keep_plan(Manager *m)
{
    for (guint i = 0; i < m->order->len; i++) {
        ManagerDomain *d = m->order->pdata[i];
        DomainPriv *p = (DomainPriv *)d;
        const PolicyPlanEntry *e = &g_array_index(m->entries, PolicyPlanEntry, i);
        if (d->state.self_deflate_us != p->seen_self_deflate_us) {
            p->seen_self_deflate_us = d->state.self_deflate_us;
            log_notice("%s: the guest took memory back from its balloon (deflate-on-oom): "
                       "%" G_GUINT64_FORMAT " MiB assigned; not shrunk for a while",
                       d->label, e->assigned_kib / 1024);
        }
        if (d->has_entry && d->entry.managed && e->managed && d->entry.protection != e->protection)
            log_info("%s: protection %s -> %s (takes a step of %" G_GUINT64_FORMAT " MiB at once)",
                     d->label, policy_protection_to_string(d->entry.protection),
                     policy_protection_to_string(e->protection), e->absorbable_kib / 1024);
        d->entry = *e;
        d->has_entry = true;
    }
}

/* Keep the summary, count the cycle, say a change of the host's state. */
static void finish_cycle(Manager *m, const PolicyPlanSummary *summary)
{
    PolicyHostState old = m->has_summary ? m->summary.state : POLICY_HOST_OK;
    m->summary = *summary;
    m->has_summary = true;
    m->cycles++;
    if (summary->state != old) {
        log_notice("host memory state: %s -> %s (budget %" G_GUINT64_FORMAT " MiB)",
                   policy_host_state_to_string(old), policy_host_state_to_string(summary->state),
                   summary->budget_kib / 1024);
        EMIT(m, state_changed, summary->state);
    }
    EMIT0(m, cycle_done);
}

int manager_run_cycle(Manager *m)
{
    if (m->in_cycle)
        return -EBUSY;
    if (!m->connected)
        return -ENOTCONN;
    m->in_cycle = true;
    int r = 0;
    uint64_t now = manager_now_us(m);
    g_autoptr(GPtrArray) order = NULL;
    PolicyPlanSummary summary;
    PolicyHostSample host;

    if (!collect(m, now)) {
        r = m->connected ? -EIO : -ENOTCONN;
        goto out;
    }
    if (read_host(m, &host) < 0) {
        r = -EIO;
        goto out;
    }
    m->host = host;
    m->has_host = true;
    prepare_domains(m, now);
    r = plan_domains(m, now, &summary);
    if (r < 0)
        goto out;
    keep_plan(m);
    /* the order array may lose domains that vanish under us: a copy */
    order = g_ptr_array_copy(m->order, NULL, NULL);
    if (manager_apply_plan(m, order, now) == -ENOTCONN) {
        manager_handle_disconnect(m);
        r = -ENOTCONN;
        goto out;
    }
    finish_cycle(m, &summary);
out:
    m->in_cycle = false;
    return r;
}
