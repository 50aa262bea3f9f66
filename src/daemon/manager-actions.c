/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Carrying out a plan: every shrink of every domain, then every grow; a
 * failure is logged once and summarized a minute later; a virtio-mem
 * request the guest has not met is sent again.
 */
#include "kib-math.h"
#include "log.h"
#include "manager-private.h"

#include <errno.h>
#include <string.h>

static void note_action_failure(ManagerDomain *d, const char *mech, const char *err, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    d->action_errors++;
    p->action_fail_total++;
    if (!p->action_failing) {
        p->action_failing = true;
        p->action_failures = 0;
        p->action_logged_us = now;
        dynmem_log_action_error(d->label, mech, err);
        return;
    }
    p->action_failures++;
    if (now - p->action_logged_us < ACTION_ERROR_SUMMARY_US)
        return;
    g_autofree char *msg = g_strdup_printf(
        "%s (failed %" G_GUINT64_FORMAT " more times in the last %" G_GUINT64_FORMAT " s)", err,
        p->action_failures, (now - p->action_logged_us) / G_USEC_PER_SEC);
    dynmem_log_action_error(d->label, mech, msg);
    p->action_failures = 0;
    p->action_logged_us = now;
}

static void note_action_success(ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    if (!p->action_failing)
        return;
    log_notice("%s: changes succeed again after %" G_GUINT64_FORMAT " failures", d->label,
               p->action_fail_total);
    p->action_failing = false;
    p->action_fail_total = 0;
}

static bool is_shrink(const PolicyAction *a)
{
    return a->kind != POLICY_ACTION_DIMM && a->to_kib < a->from_kib;
}

/* Carry out one domain's actions of one direction, tallied in its
 * DomainPriv for note_applied(). Returns -ENOTCONN when the connection
 * dropped (the caller stops), 0 otherwise. */
static int apply_entry(Manager *m, ManagerDomain *d, PolicyPlanEntry *e, bool shrinks, uint64_t now,
                       bool *ret_removed)
{
    if (e->n_actions == 0)
        return 0; /* most domains, most cycles */
    DomainPriv *p = (DomainPriv *)d;
    bool act = !m->dry_run && !m->paused;
    if (shrinks) { /* the first pass: this cycle's tally starts */
        p->apply_issued = p->apply_failed = false;
        p->apply_failed_kib = 0;
    }
    g_autoptr(GString) mechs = g_string_new(NULL);
    g_autoptr(GString) detail = g_string_new(NULL);
    for (size_t k = 0; k < e->n_actions; k++) {
        const PolicyAction *a = &e->actions[k];
        if (is_shrink(a) != shrinks)
            continue;
        const char *mech = policy_action_kind_to_string(a->kind);
        if (act) {
            g_autofree char *err = NULL;
            int r = m->backend->ops->apply(m->backend, d->uuid, a, &err);
            if (r == -ENOTCONN)
                return r;
            if (r == -ENOENT) {
                /* destroyed between the stats and the action */
                manager_domain_remove(m, d, "gone before its change could be made");
                *ret_removed = true;
                return 0;
            }
            if (r < 0) {
                p->apply_failed = true;
                p->apply_failed_kib = kib_add(p->apply_failed_kib,
                                              a->kind == POLICY_ACTION_DIMM ? a->to_kib
                                              : a->to_kib > a->from_kib ? a->to_kib - a->from_kib
                                                                        : a->from_kib - a->to_kib);
                m->counters.changes[a->kind][MANAGER_CHANGE_FAILED]++;
                note_action_failure(d, mech, err, now);
                continue;
            }
            m->counters.changes[a->kind][MANAGER_CHANGE_APPLIED]++;
            note_action_success(d);
            if (a->kind != POLICY_ACTION_BALLOON)
                d->caps_dirty = true; /* re-read the device, re-plan next cycle */
            p->apply_issued = true;
        }
        if (!strstr(mechs->str, mech))
            g_string_append_printf(mechs, "%s%s", mechs->len ? "+" : "", mech);
        g_string_append_printf(detail, "%s%s %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " MiB",
                               detail->len ? ", " : "", mech, a->from_kib / 1024, a->to_kib / 1024);
        if (!act)
            m->counters.changes[a->kind][MANAGER_CHANGE_NOT_APPLIED]++;
        EMIT(m, adjusted, d, a, e->reason, act);
    }
    /* one line per domain and change, whatever the devices involved */
    if (detail->len)
        dynmem_log_change(d->label, e->assigned_kib, e->target_kib, mechs->str, detail->str,
                          e->reason, !act);
    return 0;
}

/* What of a domain's change is in flight, once both passes are done. A
 * change with a failed part is in flight only as far as what was issued:
 * a grow whose balloon part went through beside a DIMM attach that
 * failed, noted at its whole target, was not asked again until the grow
 * timeout while the guest needed the rest. A change with parts in both
 * directions (an unplug and the cancel of another) is not sized that
 * way: one with a failed part is re-planned from the figures next cycle,
 * as one that failed whole. */
static void note_applied(ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    const PolicyPlanEntry *e = &d->entry;
    bool shrinks = false, grows = false;

    if (!p->apply_failed) {
        if (p->apply_issued)
            policy_domain_state_note_issued(&d->state, e, now);
        return;
    }
    for (size_t k = 0; k < e->n_actions; k++) {
        shrinks |= is_shrink(&e->actions[k]);
        grows |= !is_shrink(&e->actions[k]);
    }
    if (!p->apply_issued || (shrinks && grows)) {
        policy_domain_state_note_failed(&d->state);
        return;
    }
    PolicyPlanEntry done = *e;
    done.target_kib = e->target_kib > e->assigned_kib
                          ? kib_max(kib_sub(e->target_kib, p->apply_failed_kib), e->assigned_kib)
                          : kib_min(kib_add(e->target_kib, p->apply_failed_kib), e->assigned_kib);
    policy_domain_state_note_issued(&d->state, &done, now);
}

/* Re-send a virtio-mem request the guest has not met for a while, unless
 * this cycle's plan already changes that device. */
static int resend_stuck_virtio_mem(Manager *m, ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    for (size_t i = 0; i < d->caps.n_virtio_mem; i++) {
        const PolicyVirtioMem *vm = &d->caps.virtio_mem[i];
        if (vm->current_kib == vm->requested_kib) {
            p->vmem_pending_since_us[i] = 0;
            /* met: the next time it sticks is news again */
            p->vmem_told_current_kib[i] = p->vmem_told_requested_kib[i] = 0;
            continue;
        }
        if (p->vmem_pending_since_us[i] == 0) {
            p->vmem_pending_since_us[i] = now;
            continue;
        }
        if (now - p->vmem_pending_since_us[i] < VIRTIO_MEM_RESEND_US)
            continue;
        bool planned = false;
        for (size_t k = 0; k < d->entry.n_actions; k++)
            planned |= d->entry.actions[k].kind == POLICY_ACTION_VIRTIO_MEM &&
                       strcmp(d->entry.actions[k].alias, vm->alias) == 0;
        if (planned || m->dry_run || m->paused)
            continue;
        PolicyAction a = {.kind = POLICY_ACTION_VIRTIO_MEM,
                          .from_kib = vm->current_kib,
                          .to_kib = vm->requested_kib,
                          .node = vm->node};
        g_strlcpy(a.alias, vm->alias, sizeof(a.alias));
        g_autofree char *err = NULL;
        /* a guest that cannot unplug (blocks in use) is asked every
         * VIRTIO_MEM_RESEND_US for as long as it stays so: said once */
        bool told = p->vmem_told_current_kib[i] == vm->current_kib &&
                    p->vmem_told_requested_kib[i] == vm->requested_kib;
        dynmem_log(told ? LOG_DEBUG : LOG_INFO,
                   "%s: virtio-mem %s still at %" G_GUINT64_FORMAT " MiB of %" G_GUINT64_FORMAT
                   " MiB requested; asking again",
                   d->label, vm->alias, vm->current_kib / 1024, vm->requested_kib / 1024);
        p->vmem_told_current_kib[i] = vm->current_kib;
        p->vmem_told_requested_kib[i] = vm->requested_kib;
        int r = m->backend->ops->apply(m->backend, d->uuid, &a, &err);
        if (r == -ENOTCONN)
            return r;
        if (r < 0)
            note_action_failure(d, "virtio-mem", err, now);
        else
            note_action_success(d);
        p->vmem_pending_since_us[i] = now;
        d->caps_dirty = true;
    }
    return 0;
}

int manager_apply_plan(Manager *m, GPtrArray *order, uint64_t now)
{
    /* Reclaim first, across all domains, then grow (DESIGN.md §3.7). */
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < order->len; i++) {
            ManagerDomain *d = order->pdata[i];
            if (!d)
                continue;
            bool removed = false;
            if (apply_entry(m, d, &d->entry, pass == 0, now, &removed) == -ENOTCONN)
                return -ENOTCONN;
            if (removed)
                order->pdata[i] = NULL;
        }
    }
    for (guint i = 0; i < order->len; i++) {
        ManagerDomain *d = order->pdata[i];
        if (!d)
            continue;
        if (d->entry.n_actions > 0) /* those apply_entry() tallied */
            note_applied(d, now);
        if (resend_stuck_virtio_mem(m, d, now) == -ENOTCONN)
            return -ENOTCONN;
    }
    return 0;
}
