/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pass 1 of a cycle, one domain at a time (DESIGN.md §3.1-3.4, 3.8, 3.10):
 * what the domain is, what of ours is in flight, its demand, bounds,
 * floor, need and desired memory, its protection; and what the budget
 * needs of it. Also the state a domain keeps between cycles.
 */
#include "demand.h"
#include "engine-private.h"

#include <stddef.h>
#include <string.h>

void policy_domain_state_init_booted(PolicyDomainState *st, uint64_t now_us)
{
    memset(st, 0, sizeof(*st));
    st->started_us = now_us;
    st->seen_boot = true;
}

void policy_domain_state_note_issued(PolicyDomainState *st, const PolicyPlanEntry *entry,
                                     uint64_t now_us)
{
    if (entry->n_actions == 0)
        return;
    if (entry->target_kib == entry->assigned_kib) {
        /* the balloon re-sent at its size: a shrink still under way stops */
        st->shrink_pending = false;
        for (size_t k = 0; k < entry->n_actions; k++)
            if (entry->actions[k].kind == POLICY_ACTION_BALLOON) {
                st->resend_balloon_kib = entry->actions[k].to_kib;
                st->resend_us = now_us;
            }
    } else if (entry->target_kib < entry->assigned_kib) {
        /* a shrink already in flight keeps its start, so re-asking does not
         * reset the uncooperative clock */
        if (!st->shrink_pending) {
            st->shrink_pending = true;
            st->shrink_from_kib = entry->assigned_kib;
            st->shrink_issued_us = now_us;
        }
        st->shrink_to_kib = entry->target_kib;
        st->grow_pending_to_kib = 0;
    } else if (entry->target_kib > entry->assigned_kib) {
        st->grow_pending_to_kib = entry->target_kib;
        st->grow_issued_us = now_us;
        st->shrink_pending = false;
    } else {
        /* unplugs under way were cancelled: nothing is in flight */
        st->shrink_pending = false;
        st->grow_pending_to_kib = 0;
    }
}

void policy_domain_state_note_failed(PolicyDomainState *st)
{
    st->shrink_pending = false;
    st->grow_pending_to_kib = 0;
}

/* Watch shrinks and grows in flight; mark a guest that ignored a shrink
 * (DESIGN.md §3.8). */
static void track_in_flight(PolicyDomainState *st, const PolicyTuning *t, uint64_t assigned,
                            uint64_t now)
{
    uint64_t timeout = t->uncooperative_timeout_us ? t->uncooperative_timeout_us
                                                   : UNCOOPERATIVE_TIMEOUT_US_DEFAULT;
    uint64_t retry =
        t->uncooperative_retry_us ? t->uncooperative_retry_us : UNCOOPERATIVE_RETRY_US_DEFAULT;

    if (st->uncooperative && now >= kib_add(st->uncooperative_since_us, retry))
        st->uncooperative = false; /* give it another chance */

    if (st->shrink_pending) {
        uint64_t asked = kib_sub(st->shrink_from_kib, st->shrink_to_kib);
        uint64_t moved = kib_sub(st->shrink_from_kib, assigned);

        if (assigned <= st->shrink_to_kib || kib_mul(moved, 2) >= asked) {
            st->shrink_pending = false;
            st->uncooperative = false;
        } else if (t->max_shrink_kib > 0 && moved >= t->max_shrink_kib) {
            /* An ask beyond max-shrink (a trim held and made in one
             * step) is judged a max-shrink at a time: a balloon that
             * moved that much is cooperating, and has the timeout again
             * for the rest (half of a 2.4 GiB trim at 128 MiB/s took
             * longer than the timeout, and the guest was marked
             * uncooperative mid-way). Asks within max-shrink are done
             * at half first, as before. */
            st->shrink_from_kib = assigned;
            st->shrink_issued_us = now;
        } else if (now >= kib_add(st->shrink_issued_us, timeout)) {
            st->shrink_pending = false;
            st->uncooperative = true;
            st->uncooperative_since_us = now;
        }
    }
    if (st->uncooperative)
        st->uncooperative_floor_kib = assigned;

    if (st->grow_pending_to_kib &&
        (assigned >= st->grow_pending_to_kib || now >= kib_add(st->grow_issued_us, timeout)))
        st->grow_pending_to_kib = 0;
}

/* Burst headroom (DESIGN.md §3.10): the free memory trimming leaves for
 * an instant step. An autodeflate guest whose demand plus that step fits
 * under its balloon ceiling needs none: it takes the step from the
 * balloon. Sets e->headroom_kib and e->protection. */
static void set_protection(const PolicyTuning *t, const PolicyEffective *p,
                           const PolicyDomainCaps *caps, const PolicyDomainState *st,
                           uint64_t demand, uint64_t now, PolicyPlanEntry *e)
{
    uint64_t headroom = p->burst_headroom.kib;

    if (p->burst_headroom.learn)
        headroom = kib_max(headroom, policy_demand_burst_kib(t, st, now));
    if (caps->balloon_autodeflate && kib_add(demand, headroom) <= caps->balloon_max_kib) {
        e->headroom_kib = 0;
        e->protection = POLICY_PROTECTION_DEFLATE_ON_OOM;
        return;
    }
    e->headroom_kib = headroom;
    e->protection = headroom > 0 ? POLICY_PROTECTION_HEADROOM : POLICY_PROTECTION_NONE;
}

/* What the domain holds: its sample's figure, or without one the most its
 * balloon can hold; never more than its devices can (a guest controls
 * the figure). */
static uint64_t assigned_kib(const PolicyDomainCaps *caps, const PolicyDomainSample *s)
{
    uint64_t assigned;

    /* no stats: the balloon ceiling is the most it can hold by the balloon */
    assigned = s ? s->assigned_kib : policy_caps_assigned_kib(caps, caps->balloon_max_kib);
    /* QEMU's balloon figure is the boot memory minus what the guest says it
     * gave up, so a hostile guest can make it absurd (found by
     * tests/fuzz/fuzz-engine.c). No domain holds more than its balloon
     * ceiling plus its plugged virtio-mem memory: counting more would take every
     * other domain's room to grow, and plan balloon sizes libvirt refuses.
     * A ceiling of 0 is unknown (capabilities not read yet), not a limit:
     * such a domain is counted at what it holds. */
    if (caps->balloon_max_kib > 0)
        assigned = kib_min(assigned, policy_caps_assigned_kib(caps, caps->balloon_max_kib));
    return assigned;
}

/* The resolved bounds: minimum, startup, maximum (as sizes or % of what
 * the domain can physically reach) and the ceiling. */
static void resolve_bounds(const PolicyEffective *p, const PolicyDomainCaps *caps,
                           const PolicyDomainState *st, PolicyPlanEntry *e)
{
    uint64_t reach;

    reach = policy_caps_reach_kib(caps);
    e->maximum_kib = kib_min(policy_amount_resolve_kib(&p->maximum, reach, reach), reach);
    e->ceiling_kib = e->maximum_kib;
    e->minimum_kib = kib_min(policy_amount_resolve_kib(&p->minimum, reach, 0), e->maximum_kib);
    e->startup_kib =
        kib_clamp(policy_amount_resolve_kib(&p->startup, reach, st->first_assigned_kib),
                  e->minimum_kib, e->maximum_kib);
}

/* The balloon's moves since the last cycle: what of our shrink is still in
 * flight (returned; taken before the tracking may call it done), a guest
 * deflating on its own (deflate-on-oom: DOM_DEFLATE_HOLD, and
 * DOM_STOP_INFLATION while a shrink of ours was under way), a re-send of
 * ours landing. Updates the state's in-flight tracking. balloon: the
 * balloon figure alone (sample_balloon_kib()). */
static uint64_t watch_balloon(const PolicyTuning *t, const PolicyDomainCaps *caps,
                              const PolicyDomainSample *s, PolicyDomainState *st, uint64_t assigned,
                              uint64_t balloon, uint64_t now, unsigned *flags)
{
    uint64_t in_flight, resent, ceiling_grew;
    bool grow_was_pending;

    /* what of our shrink QEMU's figure does not show yet, before the
     * tracking below may call it done */
    in_flight = st->shrink_pending ? kib_sub(assigned, st->shrink_to_kib) : 0;
    grow_was_pending = st->grow_pending_to_kib != 0;
    track_in_flight(st, t, assigned, now);
    /* A re-send of ours at QEMU's figure, which lags the guest while its
     * balloon inflates, makes the guest deflate back up to that figure:
     * a rise up to it is ours, until it lands or the grow timeout. */
    resent = st->resend_balloon_kib;
    if (resent > 0 && now >= kib_add(st->resend_us, t->uncooperative_timeout_us
                                                        ? t->uncooperative_timeout_us
                                                        : UNCOOPERATIVE_TIMEOUT_US_DEFAULT))
        resent = 0;
    if (resent == 0 || balloon >= resent)
        st->resend_balloon_kib = 0; /* expired, or landed this cycle */
    /* A DIMM attached (by anyone) raises the figure and its ceiling alike. */
    ceiling_grew =
        st->prev_balloon_max_kib > 0 ? kib_sub(caps->balloon_max_kib, st->prev_balloon_max_kib) : 0;
    /* An autodeflate guest's balloon figure rising without a grow of ours
     * is the guest taking pages back: it was about to OOM. That memory is
     * its demand (assigned - usable reads it), and it is not taken again
     * for a while, nor is a shrink of ours still in flight counted on. */
    if (caps->balloon_autodeflate && s->has_balloon_stats && st->prev_balloon_kib > 0 &&
        !grow_was_pending &&
        balloon >= kib_add(kib_add(kib_max(st->prev_balloon_kib, resent), ceiling_grew),
                           SELF_DEFLATE_MIN_KIB)) {
        /* what it took, across takes within one hold */
        st->self_deflate_kib =
            st->self_deflate_us > 0 && now < kib_add(st->self_deflate_us, t->demand_half_life_us)
                ? kib_max(st->self_deflate_kib, assigned)
                : assigned;
        st->self_deflate_us = now;
        /* its driver goes on inflating toward our target: re-sent below */
        if (st->shrink_pending)
            *flags |= DOM_STOP_INFLATION;
        st->shrink_pending = false;
        in_flight = 0;
    }
    st->prev_balloon_kib = balloon;
    st->prev_balloon_max_kib = caps->balloon_max_kib;
    if (caps->balloon_autodeflate && st->self_deflate_us > 0 &&
        now < kib_add(st->self_deflate_us, t->demand_half_life_us))
        *flags |= DOM_DEFLATE_HOLD;
    return in_flight;
}

/* No fresh word from the guest (stale or no figures): hold what it has,
 * never shrink. */
static void hold_without_demand(const PolicyTuning *t, const PolicyEffective *p,
                                const PolicyDomainCaps *caps, PolicyDomainState *st,
                                uint64_t assigned, uint64_t now, PolicyPlanEntry *e,
                                unsigned *flags)
{
    *flags |= DOM_STALE;
    policy_demand_forget_reports(st);
    e->demand_kib = st->initialized ? st->demand_peak_kib : assigned;
    e->floor_kib = kib_max(assigned, e->minimum_kib);
    e->need_kib = e->floor_kib;
    e->desired_kib = e->floor_kib;
    set_protection(t, p, caps, st, e->demand_kib, now, e);
    /* a guest still booting has not loaded its balloon driver yet */
    if (st->seen_boot && now < kib_add(st->started_us, t->grace_us))
        *flags |= DOM_GRACE;
}

/* demand_kib with the buffer over it: buffer-pct of it, at least
 * buffer-min (20 % of a small guest is a few MiB) */
static uint64_t with_buffer_kib(const PolicyEffective *p, uint64_t demand_kib)
{
    return kib_max(kib_pct(demand_kib, 100 + (uint64_t)p->buffer_pct),
                   kib_add(demand_kib, p->buffer_min_kib));
}

/* Desired memory, floor and need from this cycle's demand (DESIGN.md
 * §3.4, §3.6, §3.10). */
static void size_from_demand(const PolicyTuning *t, const PolicyEffective *p,
                             const PolicyDomainCaps *caps, PolicyDomainState *st,
                             const PolicyDemand *dem, uint64_t assigned, uint64_t now,
                             PolicyPlanEntry *e, unsigned *flags)
{
    /* the buffer over the demand a rising workload will have by the
     * time memory arrives (the rise itself is headroom, not need), and
     * the burst headroom kept free on top of the demand */
    uint64_t ramped = kib_add(dem->demand_kib, dem->trend_kib), buffered;

    set_protection(t, p, caps, st, dem->demand_kib, now, e);
    buffered = kib_max(with_buffer_kib(p, ramped), kib_add(dem->demand_kib, e->headroom_kib));
    /* A deflate-on-oom guest's trend buys no DIMM. Past its balloon's
     * ceiling a DIMM raises what it can take back at once, which the
     * budget keeps apart from then on (DIMMs stay): a trend read from a
     * step it took is memory no one else gets again. On real guests
     * under a 1800 MiB pool, such a guest at its 640 MiB ceiling with
     * 510 MiB of demand was given a 128 MiB DIMM for its trend, and the
     * guest ramping beside it could reach 392 MiB at most for a 436 MiB
     * need: OOM-killed. Its buffer and burst headroom (set only where the
     * ceiling is short of it: set_protection()) still do. */
    if (caps->balloon_autodeflate) {
        uint64_t reach = policy_caps_reach_without_dimms_kib(caps);

        if (buffered > reach)
            buffered = kib_max(reach, kib_max(with_buffer_kib(p, dem->demand_kib),
                                              kib_add(dem->demand_kib, e->headroom_kib)));
    }

    e->demand_kib = dem->demand_kib;
    e->coarse_demand = dem->coarse;
    if (dem->pressure)
        *flags |= DOM_PRESSURE;
    if (dem->rising)
        *flags |= DOM_RISING;
    /* (by more than half a step: a peak a MiB above a wandering demand
     * holds nothing worth a change; strictly, or with no step at all
     * every guest would be decaying every cycle and its hold never end) */
    if (dem->demand_kib > kib_add(dem->current_kib, min_step_kib(t, assigned) / 2))
        *flags |= DOM_DECAYING;
    /* So is a ramp's trend that stopped, by more than half a step: the
     * trims its decay makes step by step on a plateau are held too, and
     * made as one when the hold ends (trim_hold()) */
    if (dem->trend_falling) {
        *flags |= DOM_TREND_FALLING;
        if (dem->trend_kib > min_step_kib(t, assigned) / 2)
            *flags |= DOM_DECAYING;
    }
    /* rising by half a step or more (the trend is twice the rise of
     * a report; it is not taken on every path): a ramp. A guest
     * creeping up by a few MiB is still trimmed (beyond the lead a climb
     * may hold: damp_all()). */
    if (dem->rising &&
        kib_max(dem->trend_kib, kib_mul(dem->rise_kib, 2)) >= min_step_kib(t, assigned))
        *flags |= DOM_RAMPING;
    e->desired_kib = kib_clamp(buffered, e->minimum_kib, e->maximum_kib);
    if (st->seen_boot && now < kib_add(st->started_us, t->grace_us)) {
        *flags |= DOM_GRACE;
        e->desired_kib = kib_max(e->desired_kib, e->startup_kib);
    }
    /* An uncooperative guest's memory is not counted on. And memory a
     * guest is using is never reclaimed, however short the host: our
     * guests have no page file, so taking it means the OOM killer. The
     * floor is what the guest uses now (capped by what it has, and by
     * its maximum), not its decaying peak: when short, buffers and
     * headroom go first, then the peaks (the need), each by weight; a
     * host over its budget by a GiB is not served by the peaks' decay,
     * a MiB a second (measured on real guests). A guest that just
     * deflated by itself is not trimmed for a while, and keeps what it
     * took even when the host is short; what we granted it since is
     * buffer like any other there (measured on real guests: two guests
     * that took their step back and were then grown to their ceiling
     * held all of it as floor while a third starved under a pool). */
    if (*flags & DOM_UNCOOPERATIVE)
        e->floor_kib = kib_max(assigned, e->minimum_kib);
    else
        e->floor_kib =
            kib_max(e->minimum_kib, kib_min(kib_min(assigned, dem->current_kib), e->maximum_kib));
    /* A guest swapping or faulting shows less than it needs, and a
     * report that is not renewed says nothing of what it needs now: it is
     * not trimmed while the signal lasts (found by the soak: a guest whose
     * reports stopped as its workload tripled was trimmed from its decaying
     * peak while it swapped). Memory others need, a host over its budget
     * or a bound still shrink it, down to its floor. */
    if (*flags & DOM_PRESSURE)
        e->desired_kib = kib_max(e->desired_kib, kib_min(assigned, e->maximum_kib));
    if (*flags & DOM_DEFLATE_HOLD) {
        e->floor_kib =
            kib_max(e->floor_kib, kib_min(kib_min(assigned, st->self_deflate_kib), e->maximum_kib));
        e->desired_kib = kib_max(e->desired_kib, kib_min(assigned, e->maximum_kib));
    }
    e->desired_kib = kib_max(e->desired_kib, e->floor_kib);
    e->need_kib = kib_clamp(dem->demand_kib, e->floor_kib, e->desired_kib);
}

/* Pass 1: what this domain is, what it needs, its bounds. Returns whether
 * it takes part in the allocation. */
static bool classify(const PolicyConfig *cfg, const PolicyDomainInput *d, uint64_t now,
                     PolicyPlanEntry *e, unsigned *flags)
{
    const PolicyTuning *t = &cfg->tuning;
    const PolicyEffective *p = d->policy;
    const PolicyDomainCaps *caps = d->caps;
    const PolicyDomainSample *s = d->sample;
    PolicyDomainState *st = d->state;
    uint64_t assigned, balloon, in_flight;
    PolicyDemand dem;

    /* the action slots past n_actions are not part of the result: clearing
     * them would cost more than the rest of the cycle at 100,000 domains */
    memset(e, 0, offsetof(PolicyPlanEntry, actions));
    e->reason[0] = '\0';
    *flags = 0;

    assigned = assigned_kib(caps, s);
    e->assigned_kib = assigned;
    e->target_kib = assigned;
    if (!st->initialized)
        st->first_assigned_kib = assigned;
    resolve_bounds(p, caps, st, e);

    if (p->mode == POLICY_MODE_STATIC) {
        e->status = POLICY_STATUS_STATIC;
        set_reason(e, "static: never touched");
        st->initialized = true;
        return false;
    }
    if (!caps->has_balloon || !s) {
        e->status = POLICY_STATUS_UNMANAGED;
        set_reason(e, !caps->has_balloon ? "no balloon device" : "no stats");
        st->initialized = true;
        return false;
    }
    if (s->has_balloon_stats)
        st->seen_stats = true;
    /* A balloon device whose guest never reported (no driver loaded, or a
     * guest that does not do stats) is not ours to balance; one that
     * reported and went quiet is stale (held, never shrunk). A guest still
     * booting gets its grace period to load the driver. */
    if (!st->seen_stats && !(st->seen_boot && now < kib_add(st->started_us, t->grace_us))) {
        e->status = POLICY_STATUS_UNMANAGED;
        set_reason(e, "no balloon driver in the guest (it never reported stats)");
        st->initialized = true;
        return false;
    }

    e->managed = true;
    balloon = sample_balloon_kib(caps, s);
    in_flight = watch_balloon(t, caps, s, st, assigned, balloon, now, flags);
    {
        /* the largest instant step it takes now */
        uint64_t free_now = s->has_usable   ? s->usable_kib
                            : s->has_unused ? kib_add(s->unused_kib, s->disk_caches_kib)
                                            : 0;

        e->absorbable_kib =
            kib_add(kib_min(free_now, assigned),
                    caps->balloon_autodeflate ? kib_sub(caps->balloon_max_kib, balloon) : 0);
    }
    if (st->uncooperative)
        *flags |= DOM_UNCOOPERATIVE;
    if (st->shrink_pending || (st->grow_pending_to_kib && st->grow_pending_to_kib > assigned))
        *flags |= DOM_IN_FLIGHT;

    PolicyDemandContext dctx = {
        .autodeflate = caps->balloon_autodeflate,
        .in_flight_shrink_kib = in_flight,
        .report_period_us =
            (uint64_t)(caps->stats_period_s ? caps->stats_period_s : 1) * POLICY_USEC_PER_SEC,
        .caps = caps,
        .interval_us = cfg->interval_us,
        .balloon_kib = balloon,
    };
    if (policy_sample_is_stale(t, caps, s) || policy_demand_update(t, &dctx, s, st, now, &dem) < 0)
        hold_without_demand(t, p, caps, st, assigned, now, e, flags);
    else {
        size_from_demand(t, p, caps, st, &dem, assigned, now, e, flags);
        /* A guest that reports less often than once a cycle: the trim a
         * hold's end makes comes the cycle after it, between two reports,
         * where a ramp that resumed is not seen yet. Its trend is not
         * dropped with the peak (trim_hold()): the hold lasts while the
         * trend is worth half a step, and its trim keeps the rest
         * (test_trim_hold_resumed_ramp_between_reports). */
        if (dctx.report_period_us > (cfg->interval_us ? cfg->interval_us : POLICY_USEC_PER_SEC))
            *flags &= ~DOM_TREND_FALLING;
    }
    st->initialized = true;
    return true;
}

void policy_top_k_insert(uint64_t *top, size_t *n_top, size_t k, uint64_t value)
{
    size_t j;

    if (!(*n_top < k || (k > 0 && value > top[k - 1])))
        return;
    j = *n_top < k ? (*n_top)++ : k - 1;
    for (; j > 0 && top[j - 1] < value; j--)
        top[j] = top[j - 1];
    top[j] = value;
}

size_t policy_engine_prepare(PolicyEngine *engine, const PolicyConfig *cfg, uint64_t now_us,
                             PolicyDomainInput *domains, size_t n, PolicyPlanEntry *entries,
                             bool psi_alarm, PolicyBudgetInput *bin)
{
    uint64_t top_reclaim[DEFLATE_RESERVE_MAX], all_reclaim = 0;
    size_t n_items = 0, n_top = 0;
    size_t k_top = kib_min(cfg->deflate_reserve_guests, DEFLATE_RESERVE_MAX);

    for (size_t i = 0; i < n; i++) {
        const PolicyDomainSample *s = domains[i].sample;
        PolicyPlanEntry *e = &entries[i];
        bool managed = classify(cfg, &domains[i], now_us, e, &engine->flags[i]);

        /* a guest without an RSS figure counts its assigned memory */
        bin->sum_guest_rss_kib =
            kib_add(bin->sum_guest_rss_kib, s && s->has_rss ? s->rss_kib : e->assigned_kib);
        if (!managed) {
            policy_trim_hold_forget(domains[i].state);
            bin->sum_unmanaged_assigned_kib =
                kib_add(bin->sum_unmanaged_assigned_kib, e->assigned_kib);
            continue;
        }
        bin->n_managed++;
        bin->sum_managed_assigned_kib = kib_add(bin->sum_managed_assigned_kib, e->assigned_kib);
        bin->sum_managed_need_kib = kib_add(bin->sum_managed_need_kib, e->need_kib);
        engine->items[n_items] = (PolicyAllocItem){
            .floor_kib = e->floor_kib,
            .need_kib = e->need_kib,
            .cap_kib = e->desired_kib,
            .weight = domains[i].policy->weight,
        };
        engine->work[n_items] = (EngineWork){
            .assigned_kib = e->assigned_kib,
            .minimum_kib = e->minimum_kib,
            .maximum_kib = e->maximum_kib,
            .base_kib = kib_max(e->assigned_kib, domains[i].state->grow_pending_to_kib),
            .comfy_kib = grow_skip_floor_kib(e, domains[i].state, engine->flags[i]),
            .floor_kib = e->floor_kib,
            .need_kib = e->need_kib,
        };
        engine->item_entry[n_items++] = i;
        if (domains[i].caps->balloon_autodeflate) {
            /* what it can take back at once: up to its balloon ceiling */
            uint64_t v =
                kib_sub(domains[i].caps->balloon_max_kib, sample_balloon_kib(domains[i].caps, s));

            all_reclaim = kib_add(all_reclaim, v);
            policy_top_k_insert(top_reclaim, &n_top, k_top, v);
        }
    }

    /* The budget keeps apart what the k autodeflate guests with the most
     * ballooned memory could take back at once (host.deflate-reserve): a
     * workload step in a few guests at a time is covered, the host never
     * swaps for it. Reserving every guest's take-back would forbid any
     * overcommit, which is the point of ballooning. While the host stalls
     * on memory (PSI), every guest's take-back is reserved. */
    if (psi_alarm)
        bin->deflate_reserve_kib = all_reclaim;
    else
        for (size_t j = 0; j < n_top; j++)
            bin->deflate_reserve_kib = kib_add(bin->deflate_reserve_kib, top_reclaim[j]);
    return n_items;
}
