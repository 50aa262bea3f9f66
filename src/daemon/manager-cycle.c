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
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* Host files are small (/proc/meminfo is about 1.5 KiB): read into buf
 * with open, read and close only, NUL-terminated. Returns 0, -EFBIG when
 * buf is too small, or another negative errno; the caller then reads the
 * file the usual way, which also says why. */
static int read_small_file(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    ssize_t k;
    do {
        k = read(fd, buf + len, size - 1 - len);
        if (k > 0)
            len += (size_t)k;
    } while ((k > 0 && len < size - 1) || (k < 0 && errno == EINTR));
    int r = k < 0 ? -errno : k > 0 ? -EFBIG : 0;
    close(fd);
    if (r == 0)
        buf[len] = '\0';
    return r;
}

static int read_host(Manager *m, PolicyHostSample *ret)
{
    char buf[4096], psi_buf[512];
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    g_autofree char *err = NULL;
    PolicyHostSample h = {0};
    const char *meminfo = buf;
    if (read_small_file(m->meminfo_path, buf, sizeof(buf)) < 0) {
        if (!g_file_get_contents(m->meminfo_path, &text, NULL, &gerr)) {
            log_error("cannot read %s: %s", m->meminfo_path, gerr->message);
            return -EIO;
        }
        meminfo = text;
    }
    if (policy_meminfo_parse_buf(meminfo, &h, &err) < 0) {
        log_error("%s: %s", m->meminfo_path, err);
        return -EINVAL;
    }
    /* PSI is optional (kernels without CONFIG_PSI, or psi=0). */
    g_autofree char *psi_text = NULL;
    g_autofree char *psi_err = NULL;
    const char *psi = NULL;
    int r = read_small_file(m->psi_path, psi_buf, sizeof(psi_buf));
    if (r == 0)
        psi = psi_buf;
    else if (r == -EFBIG && g_file_get_contents(m->psi_path, &psi_text, NULL, NULL))
        psi = psi_text;
    if (psi && policy_psi_parse_buf(psi, &h, &psi_err) < 0)
        log_debug("%s: %s", m->psi_path, psi_err);
    *ret = h;
    return 0;
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

/* Merge this cycle's stats into the domain table. Returns 0, -EAGAIN when
 * the backend does not know yet which domains run, -ENOTCONN when the
 * connection is gone, -EIO when the stats could not be had. */
static int collect(Manager *m, uint64_t now)
{
    g_autoptr(GArray) stats = NULL;
    g_autofree char *err = NULL;
    int r = m->backend->ops->collect(m->backend, now, &stats, &err);
    if (r == -ENOTCONN) {
        manager_handle_disconnect(m);
        return r;
    }
    if (r == -EAGAIN) {
        /* just connected: which domains run is still being listed */
        log_debug("no domain stats yet: %s", err);
        return r;
    }
    if (r < 0) {
        log_warning("cannot collect domain stats: %s", err);
        return -EIO;
    }

    /* each domain is looked for first where it was in the last collection */
    uint64_t generation = m->domains_generation;
    bool hinted = m->collected_generation == generation;
    g_ptr_array_set_size(m->collected, stats->len);
    for (guint i = 0; i < stats->len; i++) {
        BackendDomainStats *s = &g_array_index(stats, BackendDomainStats, i);
        ManagerDomain *d = m->collected->pdata[i];
        /* a domain gone meanwhile may have been freed: no hint then */
        if (!hinted || m->domains_generation != generation || !d || strcmp(d->uuid, s->uuid) != 0)
            d = manager_domain_lookup(m, s->uuid);
        if (!d)
            d = manager_domain_add(m, s->uuid, s->name);
        m->collected->pdata[i] = d;
        if (s->name && strcmp(s->name, d->name) != 0)
            manager_domain_rename(m, d, s->name);
        d->seen = true;
        d->has_sample = s->has_sample;
        d->sample = s->sample;
        ((DomainPriv *)d)->balloon_only = s->balloon_only;
    }

    /* the hints hold only if no domain came, went or was renamed since
     * the first was looked up (one gone may have been freed) */
    m->collected_generation = m->domains_generation == generation ? generation : 0;

    /* every running domain was restored above; the rest are gone */
    g_hash_table_remove_all(m->saved_states);

    /* Every domain was in the stats unless their counts differ: only then
     * is it worth marking which were (not every domain every cycle). */
    if (stats->len != g_hash_table_size(m->domains)) {
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
            ((ManagerDomain *)v)->seen = false;
        for (guint i = 0; i < stats->len; i++) {
            ManagerDomain *d =
                manager_domain_lookup(m, g_array_index(stats, BackendDomainStats, i).uuid);
            if (d)
                d->seen = true;
        }
        g_autoptr(GPtrArray) all = manager_list_domains(m);
        for (guint i = 0; i < all->len; i++) {
            ManagerDomain *d = all->pdata[i];
            if (!d->seen)
                manager_domain_remove(m, d, "no longer running");
        }
    }
    return 0;
}

/* A domain whose devices changed and could not be read again: its
 * figures are judged against the devices it had (a DIMM attached meanwhile
 * is not known to make libvirt's figure suspect, a virtio-mem size not
 * known at all), so the guest's are dropped and the engine holds it: never
 * shrunk nor grown until they can be read. */
static void hold_until_caps_read(ManagerDomain *d)
{
    d->sample.has_balloon_stats = false;
    d->sample.has_usable = false;
    d->sample.has_available = false;
    d->sample.has_unused = false;
}

/* The backend completes the sample now that the caps are current; it may
 * ask the hypervisor for figures it knows to be wrong in the collection
 * (a DIMM guest's balloon), or hold the domain. Said once when that fails
 * and once when it works again. */
static void complete_sample(Manager *m, ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    if (d->caps_dirty && d->caps_valid && d->has_sample) {
        backend_sample_complete(&d->caps, p->balloon_only, &d->sample);
        hold_until_caps_read(d);
        return;
    }
    if (!d->has_sample || !m->backend->ops->complete_sample) {
        backend_sample_complete(&d->caps, p->balloon_only, &d->sample);
        return;
    }
    g_autofree char *raw_err = NULL;
    int r = m->backend->ops->complete_sample(m->backend, d->uuid, &d->caps, now, p->balloon_only,
                                             &p->memo, &d->sample, &raw_err);
    if (r == BACKEND_SAMPLE_LIVE && p->sample_failing) {
        log_info("%s: its balloon is readable again", d->label);
        p->sample_failing = false;
    }
    if (r >= 0)
        return;
    g_autofree char *err = policy_escape(raw_err, 0);
    if (r == -EOPNOTSUPP) {
        log_notice("%s: the hypervisor gives no live balloon figure (%s); using libvirt's",
                   d->label, err);
    } else if (r != -ENOENT && r != -ENOTCONN && !p->sample_failing) {
        /* gone, or the connection with it: the next collection says so */
        log_warning("%s: cannot read its balloon from the hypervisor, holding it: %s", d->label,
                    err);
        p->sample_failing = true;
    }
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
        bool called_out = false; /* into listeners or the backend */
        if (manager_admission_holds(m, d->uuid)) {
            /* listed while it starts: its reservation stands for it until
             * the start event, or until its guest reports; libvirt holds
             * it meanwhile, so it is not asked anything */
            if (!d->has_sample || !d->sample.has_balloon_stats)
                continue;
            manager_admission_started(m, d, true);
            called_out = true;
        }
        if (d->caps_dirty) {
            refresh_caps(m, d);
            called_out = true;
        }
        if (called_out && !manager_domain_lookup(m, d->uuid))
            continue;
        complete_sample(m, d, now);
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
    manager_admission_prepare(m);
    int r = policy_engine_plan(m->engine, m->cfg, &m->host, now,
                               (PolicyDomainInput *)(void *)m->inputs->data, n,
                               (PolicyPlanEntry *)(void *)m->entries->data, ret_summary);
    if (r < 0)
        log_error("the engine refused this cycle's input (%s)", g_strerror(-r));
    return r;
}

/* A change of protection is told once it has lasted this long: one that
 * reverses sooner is no change for the journal. On dynmem-sim's
 * build-bursts-vmem (at 724bf75) a build guest ramping by virtio-mem,
 * using all it had, went "none -> headroom (takes a step of 0 MiB at
 * once)" and back every cycle or two of its ramp. */
#define PROTECTION_SETTLE_US (30 * G_USEC_PER_SEC)

/* The protection the journal speaks of: headroom that takes no step at
 * once (a guest using all it has) protects nothing yet. */
static PolicyProtection told_protection_of(const PolicyPlanEntry *e)
{
    if (e->protection == POLICY_PROTECTION_HEADROOM && e->absorbable_kib < 1024)
        return POLICY_PROTECTION_NONE;
    return e->protection;
}

/* Tell a change of the domain's protection once it has settled, with how
 * many changes reversed too soon to be told since the last line. */
static void tell_protection(ManagerDomain *d, const PolicyPlanEntry *e, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    if (!e->managed) {
        /* what it had before is no news when it is managed again */
        p->has_told_protection = false;
        return;
    }
    PolicyProtection prot = told_protection_of(e);
    if (!p->has_told_protection) {
        p->has_told_protection = true;
        p->told_protection = p->pending_protection = prot;
        p->protection_reversals = 0;
        return;
    }
    if (prot == p->told_protection) {
        if (p->pending_protection != prot)
            p->protection_reversals++;
        p->pending_protection = prot;
        return;
    }
    if (prot != p->pending_protection) {
        p->pending_protection = prot;
        p->pending_protection_us = now;
        return;
    }
    if (now - p->pending_protection_us < PROTECTION_SETTLE_US)
        return;
    g_autofree char *reversals =
        p->protection_reversals
            ? g_strdup_printf("; %u shorter changes not logged", p->protection_reversals)
            : g_strdup("");
    log_info("%s: protection %s -> %s (takes a step of %" G_GUINT64_FORMAT " MiB at once%s)",
             d->label, policy_protection_to_string(p->told_protection),
             policy_protection_to_string(prot), e->absorbable_kib / 1024, reversals);
    p->told_protection = prot;
    p->protection_reversals = 0;
}

/* What an entry says: its fields, its n_actions actions and its reason.
 * Most of an entry is action slots a cycle seldom fills: copied whole,
 * they were over a megabyte of memory traffic a cycle at 1,000 domains. */
static void copy_entry(PolicyPlanEntry *dst, const PolicyPlanEntry *src)
{
    memcpy(dst, src, offsetof(PolicyPlanEntry, actions));
    memcpy(dst->actions, src->actions, src->n_actions * sizeof(PolicyAction));
    memcpy(dst->reason, src->reason, sizeof(dst->reason));
}

/* Each domain keeps its new plan entry; what no loop sees is said once,
 * when it happens (DESIGN.md §3.10). */
static void keep_plan(Manager *m, uint64_t now)
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
        tell_protection(d, e, now);
        copy_entry(&d->entry, e);
        d->has_entry = true;
    }
}

/* Keep the summary, count the cycle, say a change of the host's state. */
static void finish_cycle(Manager *m, const PolicyPlanSummary *summary)
{
    PolicyHostState old = m->has_summary ? m->summary.state : POLICY_HOST_OK;
    m->summary = *summary;
    m->has_summary = true;
    m->planned = true;
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
    /* the cycle's real cost, whatever clock the manager runs on */
    int64_t started = g_get_monotonic_time();
    g_autoptr(GPtrArray) order = NULL;
    PolicyPlanSummary summary;
    PolicyHostSample host;

    r = collect(m, now);
    if (r < 0) {
        if (!m->connected)
            r = -ENOTCONN;
        else if (r != -EAGAIN)
            m->counters.failures[MANAGER_FAILURE_STATS]++;
        goto out;
    }
    if (read_host(m, &host) < 0) {
        m->counters.failures[MANAGER_FAILURE_HOST]++;
        r = -EIO;
        goto out;
    }
    m->host = host;
    m->has_host = true;
    prepare_domains(m, now);
    r = plan_domains(m, now, &summary);
    if (r < 0) {
        m->counters.failures[MANAGER_FAILURE_ENGINE]++;
        goto out;
    }
    keep_plan(m, now);
    /* what was seen and planned, before anything changes it */
    manager_record_cycle(m, now, &summary);
    /* the order array may lose domains that vanish under us: a copy */
    order = g_ptr_array_copy(m->order, NULL, NULL);
    if (manager_apply_plan(m, order, now) == -ENOTCONN) {
        manager_handle_disconnect(m);
        r = -ENOTCONN;
        goto out;
    }
    finish_cycle(m, &summary);
out:
    /* starts decided (or timed out) in this cycle are answered */
    manager_admission_settle(m, now);
    m->counters.cycles_run++;
    m->counters.cycle_us_total += (uint64_t)MAX(g_get_monotonic_time() - started, 0);
    m->in_cycle = false;
    return r;
}
