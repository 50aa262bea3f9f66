/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One balancing cycle (DESIGN.md §3): pass 1 (engine-prepare.c) classifies
 * each domain and estimates its demand; here the budget, the allocation,
 * damping (pass 2), growth only from memory that is free now (pass 3), the
 * mechanisms, status and reasons (pass 4), and the summary.
 */
#include "demand.h"
#include "engine-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *policy_status_to_string(PolicyStatus status)
{
    static const char *const names[POLICY_STATUS_LAST] = {
        [POLICY_STATUS_OK] = "ok",           [POLICY_STATUS_LOW] = "low",
        [POLICY_STATUS_WARNING] = "warning", [POLICY_STATUS_STARTING] = "starting",
        [POLICY_STATUS_STATIC] = "static",   [POLICY_STATUS_UNMANAGED] = "unmanaged",
        [POLICY_STATUS_STALE] = "stale",     [POLICY_STATUS_UNCOOPERATIVE] = "uncooperative",
    };

    if ((unsigned)status >= POLICY_STATUS_LAST)
        return "invalid";
    return names[status];
}

const char *policy_protection_to_string(PolicyProtection protection)
{
    static const char *const names[POLICY_PROTECTION_LAST] = {
        [POLICY_PROTECTION_NONE] = "none",
        [POLICY_PROTECTION_DEFLATE_ON_OOM] = "deflate-on-oom",
        [POLICY_PROTECTION_HEADROOM] = "headroom",
    };

    if ((unsigned)protection >= POLICY_PROTECTION_LAST)
        return "invalid";
    return names[protection];
}

const char *policy_action_kind_to_string(PolicyActionKind kind)
{
    static const char *const names[POLICY_ACTION_LAST] = {
        [POLICY_ACTION_BALLOON] = "balloon",
        [POLICY_ACTION_VIRTIO_MEM] = "virtio-mem",
        [POLICY_ACTION_DIMM] = "dimm",
    };

    if ((unsigned)kind >= POLICY_ACTION_LAST)
        return "invalid";
    return names[kind];
}

const char *policy_host_state_to_string(PolicyHostState state)
{
    static const char *const names[POLICY_HOST_LAST] = {
        [POLICY_HOST_OK] = "ok",
        [POLICY_HOST_PRESSURE] = "pressure",
        [POLICY_HOST_OVERCOMMITTED] = "overcommitted",
    };

    if ((unsigned)state >= POLICY_HOST_LAST)
        return "invalid";
    return names[state];
}

PolicyEngine *policy_engine_new(void)
{
    return g_new0(PolicyEngine, 1);
}

void policy_engine_free(PolicyEngine *engine)
{
    if (!engine)
        return;
    policy_alloc_scratch_clear(&engine->scratch);
    g_free(engine->items);
    g_free(engine->item_entry);
    g_free(engine->flags);
    g_free(engine->work);
    g_free(engine);
}

void policy_engine_set_reservations(PolicyEngine *engine, PolicyReservation *res, size_t n)
{
    engine->res = n ? res : NULL;
    engine->n_res = res ? n : 0;
}

size_t policy_engine_scratch_reallocs(const PolicyEngine *engine)
{
    return engine->n_reallocs + engine->scratch.n_reallocs;
}

static void engine_reserve(PolicyEngine *engine, size_t n)
{
    size_t cap;

    if (n <= engine->capacity)
        return;
    cap = engine->capacity ? engine->capacity : 16;
    while (cap < n)
        cap *= 2;
    engine->items = g_renew(PolicyAllocItem, engine->items, cap);
    engine->item_entry = g_renew(size_t, engine->item_entry, cap);
    engine->flags = g_renew(unsigned, engine->flags, cap);
    engine->work = g_renew(EngineWork, engine->work, cap);
    engine->capacity = cap;
    engine->n_reallocs++;
    policy_alloc_scratch_reserve(&engine->scratch, cap);
}

static bool input_valid(const PolicyDomainInput *d)
{
    if (!d->policy || !d->caps || !d->state)
        return false;
    if (d->caps->n_virtio_mem > POLICY_MAX_VIRTIO_MEM)
        return false;
    if ((unsigned)d->policy->mode >= POLICY_MODE_LAST)
        return false;
    return true;
}

/* Grow granted_kib toward each item's top (its target, or with needs_only
 * the lower of target and need) from what is free, by weight when short;
 * whatever weight 0 left unclaimed goes out evenly in a second round.
 * Returns whether every top was reached. */
static bool fill_growth(PolicyEngine *engine, size_t n_items, bool needs_only, uint64_t *free_kib)
{
    PolicyFillSlot *slots = engine->scratch.slots;
    EngineWork *work = engine->work;
    uint64_t want = 0, given;
    size_t n_slots = 0;

    for (size_t k = 0; k < n_items; k++) {
        EngineWork *w = &work[k];
        uint64_t top =
            needs_only ? kib_min(w->target_kib, kib_max(w->need_kib, w->base_kib)) : w->target_kib;

        if (w->target_kib <= w->base_kib || top <= w->granted_kib)
            continue;
        slots[n_slots++] = (PolicyFillSlot){
            .room_kib = top - w->granted_kib,
            .weight = engine->items[k].weight,
            .index = k,
        };
        want = kib_add(want, top - w->granted_kib);
    }
    if (want <= *free_kib) {
        for (size_t k = 0; k < n_slots; k++)
            work[slots[k].index].granted_kib += slots[k].room_kib;
        *free_kib -= want;
        return true;
    }
    given = policy_waterfill(slots, n_slots, *free_kib);
    *free_kib -= given;
    for (size_t k = 0; k < n_slots; k++) {
        work[slots[k].index].granted_kib += slots[k].give_kib;
        slots[k].room_kib -= slots[k].give_kib;
        slots[k].weight = 1;
    }
    if (*free_kib > 0) {
        given = policy_waterfill(slots, n_slots, *free_kib);
        *free_kib -= given;
        for (size_t k = 0; k < n_slots; k++)
            work[slots[k].index].granted_kib += slots[k].give_kib;
    }
    return false;
}

/* The growth the damped targets ask for, over what the domains hold
 * (grows in flight included). */
static uint64_t growth_kib(const PolicyEngine *engine, size_t n_items)
{
    uint64_t want = 0;

    for (size_t k = 0; k < n_items; k++)
        if (engine->work[k].target_kib > engine->work[k].base_kib)
            want = kib_add(want, engine->work[k].target_kib - engine->work[k].base_kib);
    return want;
}

/* Pass 3, growth: only from memory free now. When short, every guest's
 * need is served before anyone's buffer or headroom, each by weight.
 * work[].target_kib holds what the allocator and damping granted. */
static void grant_growth(PolicyEngine *engine, size_t n_items, uint64_t *free_kib)
{
    EngineWork *work = engine->work;
    uint64_t want = growth_kib(engine, n_items);

    if (want <= *free_kib) {
        *free_kib -= want;
        return;
    }
    for (size_t k = 0; k < n_items; k++)
        work[k].granted_kib = work[k].base_kib;
    /* needs that did not all fit took what was free (but rounding dust) */
    if (fill_growth(engine, n_items, true, free_kib))
        fill_growth(engine, n_items, false, free_kib);
    for (size_t k = 0; k < n_items; k++)
        if (work[k].target_kib > work[k].base_kib)
            work[k].target_kib = work[k].granted_kib;
}

static void describe(const PolicyTuning *t, PolicyPlanEntry *e, unsigned flags, uint64_t step)
{
    char dem[32], tgt[32];
    uint64_t a = e->assigned_kib;

    policy_size_to_buf(e->demand_kib, dem, sizeof(dem));
    policy_size_to_buf(e->target_kib, tgt, sizeof(tgt));

    if (flags & DOM_UNCOOPERATIVE) {
        uint64_t timeout = t->uncooperative_timeout_us ? t->uncooperative_timeout_us
                                                       : UNCOOPERATIVE_TIMEOUT_US_DEFAULT;
        e->status = POLICY_STATUS_UNCOOPERATIVE;
        char secs[24];

        snprintf(secs, sizeof(secs), "%" PRIu64 "s", timeout / POLICY_USEC_PER_SEC);
        set_reason3(e, "uncooperative: balloon did not move in ", secs, NULL);
        return;
    }
    if ((flags & DOM_STALE) && (flags & DOM_GRACE)) {
        e->status = POLICY_STATUS_STARTING;
        set_reason3(e, "starting: no stats from the guest yet, holding ", tgt, NULL);
        return;
    }
    if (flags & DOM_STALE) {
        e->status = POLICY_STATUS_STALE;
        set_reason3(e, "stale stats: holding ", tgt, ", never shrunk");
        return;
    }
    if (flags & DOM_GRACE)
        e->status = POLICY_STATUS_STARTING;
    else if ((flags & DOM_PRESSURE) || a < e->demand_kib || e->target_kib < e->demand_kib)
        e->status = POLICY_STATUS_WARNING;
    else if (e->target_kib < e->desired_kib && e->desired_kib - e->target_kib >= step)
        e->status = POLICY_STATUS_LOW;
    else
        e->status = POLICY_STATUS_OK;

    if (e->target_kib > a) {
        if (a < e->minimum_kib)
            set_reason3(e, "below minimum: grow to ", tgt, NULL);
        else if (flags & DOM_PRESSURE)
            set_reason3(e, "grow: guest swapping, demand ", dem, NULL);
        else if (flags & DOM_GRACE)
            set_reason3(e, "starting: grow to ", tgt, NULL);
        else
            set_reason3(e, "grow: demand ", dem, (flags & DOM_RISING) ? " rising" : NULL);
    } else if (e->target_kib < a) {
        if (a > e->maximum_kib)
            set_reason3(e, "above maximum: shrink to ", tgt, NULL);
        else if (e->target_kib > e->desired_kib)
            set_reason3(e, "trim idle: demand ", dem, ", step by step");
        else if (flags & DOM_RECLAIM_POOL)
            set_reason3(e, "reclaim to fit the pool: demand ", dem, NULL);
        else if (flags & DOM_RECLAIM_SMALL)
            set_reason3(e, "reclaim for a waiting grow: demand ", dem, NULL);
        else if ((flags & DOM_SHORT) && e->desired_kib >= kib_add(e->target_kib, step))
            set_reason3(e, "reclaim for others: demand ", dem, NULL);
        else
            set_reason3(e, "trim idle: demand ", dem, NULL);
    } else if ((flags & DOM_IN_FLIGHT) &&
               !(flags & (DOM_TRIM_HELD | DOM_SETTLING | DOM_DEFLATE_HOLD))) {
        set_reason(e, "waiting: change in flight");
    } else if (e->status == POLICY_STATUS_WARNING) {
        if (flags & DOM_PRESSURE)
            set_reason(e, "guest swapping, host short");
        else
            set_reason3(e, "demand ", dem, " above what the host can give");
    } else if (e->status == POLICY_STATUS_LOW) {
        set_reason(e, "buffer not met: host short");
    } else if (e->status == POLICY_STATUS_STARTING) {
        set_reason(e, "starting: grace period");
    } else if (flags & DOM_DEFLATE_HOLD) {
        set_reason3(e, "deflated on its own: not shrunk for a while, demand ", dem, NULL);
    } else if (flags & DOM_TRIM_HELD) {
        set_reason3(e, "not trimmed while rising: demand ", dem, NULL);
    } else if (flags & DOM_SETTLING) {
        set_reason3(e, "trim held while settling: demand ", dem, NULL);
    } else {
        set_reason3(e, "steady: demand ", dem, NULL);
    }
}

/* Pass 2: damping (DESIGN.md §3.7). Small changes are skipped unless a
 * bound is broken, shrinking is rate-limited, growth waits for pass 3. */
static uint64_t damp(const PolicyTuning *t, const EngineWork *w, uint64_t target, bool over_budget,
                     uint64_t max_shrink_kib)
{
    uint64_t a = w->assigned_kib, step = min_step_kib(t, a);

    if (target < a) {
        bool above_max = a > w->maximum_kib;

        /* over the budget (a pool, the host), even a small reclaim counts,
         * made a step at once where the guest has it free: never a MiB a
         * cycle */
        if (a - target < step && !above_max && !over_budget)
            return a;
        if (a - target < step && over_budget)
            target = kib_min(target, kib_max(kib_sub(a, step), kib_min(w->floor_kib, a)));
        if (max_shrink_kib > 0) {
            /* never a rate so small that every step is below the min step */
            uint64_t limit = kib_max(max_shrink_kib, step);

            target = kib_max(target, kib_min(kib_sub(a, limit), kib_max(w->maximum_kib, target)));
        }
        return target;
    }
    if (target > a && target - a < step && a >= w->minimum_kib && a >= w->comfy_kib)
        return a;
    return target;
}

static bool restores_bound(const PolicyPlanEntry *e, uint64_t to)
{
    uint64_t a = e->assigned_kib;

    return (a < e->minimum_kib && to > a) || (a > e->maximum_kib && to < a);
}

/* A trim of ours is under way: asked for last cycle and not reached yet
 * (track_in_flight() takes one half done as done). */
static bool trim_under_way(const PolicyDomainState *st, uint64_t assigned_kib)
{
    return st->shrink_pending || (st->last_target_kib > 0 && st->last_target_kib < assigned_kib &&
                                  st->shrink_to_kib == st->last_target_kib);
}

/* A trim of ours whose half showed this cycle is no longer pending
 * (track_in_flight()), but the balloon still inflates toward its target:
 * when this cycle wants no change and that target is now below what the
 * guest desires (its demand came back) or its trim is held while rising,
 * the balloon is stopped where it stands, as a pending one is (without
 * it, a guest whose demand came back the cycle its trim passed half way
 * was inflated below its new desire and grown back the next cycle). Only
 * while the host has room for every desire (when short, the trim is
 * memory others need: stopping it cost overcommit-weights without
 * deflate-on-oom a pressure-second), not an uncooperative guest's
 * balloon, and only below where the trim began
 * (a guest lying its balloon up to its ceiling is not "stopped" there: a
 * grow). */
static bool stops_trim_just_done(const PolicyDomainInput *d, const PolicyPlanEntry *e,
                                 unsigned flags)
{
    const PolicyDomainState *st = d->state;
    uint64_t a = e->assigned_kib;

    return !(flags & DOM_SHORT) && !st->shrink_pending && !st->uncooperative &&
           st->last_target_kib > 0 && st->last_target_kib < a &&
           st->shrink_to_kib == st->last_target_kib && a < st->shrink_from_kib &&
           ((flags & DOM_TRIM_HELD) || st->shrink_to_kib < e->desired_kib);
}

/* A trim in flight to to_kib stands for this cycle's target: the same, or
 * on a host with room for every desire and grow (roomy) one less than a
 * step below it (what is left is trimmed later, if still a step) or less
 * than a step above it while it still leaves the guest half a step above
 * its desire (the demand eased up by a little: on real guests a drop's
 * trim 371 -> 331 MiB was asked again as 370 -> 331.9 a cycle on, for
 * 56 KiB; a roomy host's trims land a step above the desire, and half of
 * that margin is kept). A short host asks for what it needs. */
static bool trim_in_flight_stands(const PolicyPlanEntry *e, uint64_t to_kib, uint64_t target,
                                  bool roomy, uint64_t step)
{
    if (target == to_kib)
        return true;
    if (!roomy)
        return false;
    if (target < to_kib)
        return to_kib - target < step;
    return target - to_kib < step && to_kib >= kib_add(e->desired_kib, step / 2);
}

/* Pass 4: the mechanisms, and the step checked again after alignment. */
static void plan_entry(const PolicyTuning *t, const PolicyDomainInput *d, PolicyPlanEntry *e,
                       unsigned *flags, uint64_t *free_kib, bool over_budget, bool roomy,
                       uint64_t now_us)
{
    const PolicyDomainState *st = d->state;
    uint64_t a = e->assigned_kib, target = e->target_kib, step = min_step_kib(t, a);
    uint64_t balloon, lo, hi, result;
    size_t n_actions;

    /* a partial grant may have fallen below the step */
    if (target > a && target - a < step && !restores_bound(e, target) &&
        a >= grow_skip_floor_kib(e, st, *flags))
        target = a;
    e->target_kib = target;
    balloon = sample_balloon_kib(d->caps, d->sample);
    if (target == a) {
        /* no change wanted: an unplug still under way must stop here */
        e->n_actions = policy_plan_cancel_unplugs(d->caps, NULL, e->actions, 0);
        /* ... and so must an inflation still under way (a trim held, a
         * guest deflating by itself): the balloon asked for its size now */
        if (((st->shrink_pending && st->shrink_to_kib < a) || (*flags & DOM_STOP_INFLATION) ||
             stops_trim_just_done(d, e, *flags)) &&
            balloon > 0 && e->n_actions < POLICY_MAX_ACTIONS) {
            PolicyAction *act = &e->actions[e->n_actions++];

            memset(act, 0, sizeof(*act));
            act->kind = POLICY_ACTION_BALLOON;
            act->from_kib = balloon;
            act->to_kib = balloon;
            act->node = -1;
        }
        return;
    }
    /* The same change already in flight: do not ask again. Nor a change
     * that differs from it by little: QEMU's figure shows a change a cycle
     * or so after it was asked, and the next cycle's target is rarely the
     * same to the KiB. On real guests (bench/e2e-measure.sh, the demo's
     * guests) a third of the changes were such asks: a trim 670 -> 637 MiB
     * asked again as 669 -> 633, a grow 529 -> 707 asked again as
     * 530 -> 670. A trim in flight within a step of the new target is
     * let be (trim_in_flight_stands()); a grow in flight that reaches the
     * new target is let land. Both only on a host with room for every
     * desire and grow: a short one asks for what it needs. The target is
     * then the change in flight, which is what the next cycles compare
     * with. */
    if (target < a && st->shrink_pending &&
        trim_in_flight_stands(e, st->shrink_to_kib, target, roomy, step)) {
        e->target_kib = st->shrink_to_kib;
        *flags |= DOM_IN_FLIGHT;
        return;
    }
    if (target > a &&
        (st->grow_pending_to_kib == target || (roomy && st->grow_pending_to_kib > target &&
                                               st->grow_pending_to_kib <= e->maximum_kib))) {
        e->target_kib = st->grow_pending_to_kib;
        *flags |= DOM_IN_FLIGHT;
        return;
    }
    /* A grow in flight that stops less than a step short of the new
     * target, with at least half the guest's buffer, lands first: the
     * rest is a grow damping would skip from there, asked with the next
     * change if still wanted (a real guest's ramp was asked 515 then
     * 531 MiB a cycle apart). So does one that covers all the guest
     * desires now: what the target adds is a ramp's lead, which the
     * next grow brings (at 24 MiB/s a real guest's ramp was asked 554
     * then 592 MiB, 630 then 747, a cycle apart each). The need is
     * never what waits. */
    if (target > a && roomy && st->grow_pending_to_kib > a && st->grow_pending_to_kib < target &&
        !restores_bound(e, target) &&
        (st->grow_pending_to_kib >= e->desired_kib ||
         (target - st->grow_pending_to_kib < step &&
          st->grow_pending_to_kib >= comfy_kib(e->need_kib, e->desired_kib)))) {
        e->target_kib = st->grow_pending_to_kib;
        *flags |= DOM_IN_FLIGHT;
        return;
    }
    /* A shrink counts as done once half of it shows (track_in_flight()),
     * but the guest is still inflating toward the target asked last cycle:
     * asking again was one more change for each large trim. It is not
     * asked, but marked under way again as if it were (finish_entries()),
     * so that all that follows an ask still does: a cycle that wants no
     * change stops the balloon where it stands (without the mark it went
     * on inflating below the guest's new desire), and a balloon that
     * stops moving is found uncooperative. Not for an autodeflate guest:
     * asking again marks the shrink in flight for QEMU too, which its
     * demand needs (an inflation its report shows before QEMU's figure
     * would read as demand: policy_demand_unmask_inflation()). Nor
     * when the target moved below it by less than a step on a roomy
     * host, as for a pending one above: the demo's real guests had their
     * drop's trim asked again two cycles on for a MiB less (643 -> 370,
     * then 446 -> 369), one more change in four of five drops. */
    if (target < a && !d->caps->balloon_autodeflate && !st->shrink_pending &&
        st->shrink_to_kib < a && st->last_target_kib == st->shrink_to_kib &&
        trim_in_flight_stands(e, st->shrink_to_kib, target, roomy, step) &&
        a < st->shrink_from_kib &&
        now_us < kib_add(st->shrink_issued_us, t->uncooperative_timeout_us
                                                   ? t->uncooperative_timeout_us
                                                   : UNCOOPERATIVE_TIMEOUT_US_DEFAULT)) {
        e->target_kib = st->shrink_to_kib;
        *flags |= DOM_IN_FLIGHT | DOM_SHRINK_UNASKED;
        return;
    }

    /* Virtio-mem first, then the balloon (DESIGN.md §3.9): a trim held
     * and made in one step past what virtio-mem has plugged unplugs it
     * this cycle and inflates the balloon once the unplug is done, not
     * while the guest still unplugs (786 -> 223 MiB inflated the balloon
     * at once beside a 530 MiB unplug on a real guest, e2e-spike). Only
     * on a host with room for every grow: a short one takes both at once,
     * and so does a shrink whose unplug alone would be less than a step
     * (it would never be made). A trim paced at max-shrink reaches the
     * balloon as before (doing this for every trim cost dynmem-sim's
     * builds-vmem a pressure-second). */
    if (target < a && roomy && step > 0 && (*flags & DOM_WIDE_TRIM)) {
        uint64_t plugged = 0;
        size_t n_vm = kib_min(d->caps->n_virtio_mem, POLICY_MAX_VIRTIO_MEM);

        for (size_t j = 0; j < n_vm; j++)
            plugged = kib_add(plugged, d->caps->virtio_mem[j].current_kib);
        if (plugged >= step && a - target > plugged) {
            target = a - plugged;
            e->target_kib = target;
        }
    }
    /* How far below the target alignment may round a shrink: never into
     * the floor (memory in use) or below half the buffer, and by less
     * than half a step, so it cannot be grown back next cycle (a 128 MiB
     * virtio-mem block would flap otherwise). */
    lo = kib_min(target, kib_max(kib_max(e->minimum_kib, e->floor_kib),
                                 kib_max(comfy_kib(e->need_kib, e->desired_kib),
                                         kib_sub(target, step / 2))));
    /* alignment may round a grow up into memory that is still free */
    hi = kib_max(kib_min(e->maximum_kib, kib_add(target, *free_kib)), target);
    if (policy_plan_mechanisms(d->caps, balloon, target, lo, hi, e->actions, &n_actions, &result) <
        0) {
        e->target_kib = a;
        return;
    }
    if (result != a && (result > a ? result - a : a - result) < step &&
        !restores_bound(e, result) &&
        (result < a ? !over_budget && !(*flags & DOM_RECLAIM_SMALL)
                    : a >= grow_skip_floor_kib(e, st, *flags))) {
        /* alignment left only a change too small to be worth making */
        e->target_kib = a;
        e->n_actions = policy_plan_cancel_unplugs(d->caps, NULL, e->actions, 0);
        return;
    }
    if (result > target)
        *free_kib = kib_sub(*free_kib, result - target);
    e->target_kib = result;
    e->n_actions = n_actions;
}

/* A grow of a guest ramping up goes this many trends ahead of its
 * desired memory: the trend covers the next two seconds or so of the
 * ramp, so a 16 MiB/s ramp is grown every 6-8 s, not every 1-2 s (each
 * of those grows was a change: 517-1,290 changes per guest-hour on the
 * demo's guests), and the guest has more room if the ramp speeds up.
 * Two steps for a trend past two steps (climb_lead_kib()). */
#define RAMP_LEAD_TRENDS 3

/* What one guest may ask of the free memory at once, in learnt bursts:
 * a step of B in one report raises its demand by B and its trend by
 * about 2B (the rise over the reaction time: a report and a cycle), so
 * its desire by 3B, with its buffer; the next report, B more. A reclaim
 * made for it shows in the balloons a cycle after the grow is seen
 * waiting, so two reports are what free memory must cover: 4B with the
 * buffer (up to 25 %), 5B. */
#define HOLD_BURST_ASK 5

/* The room a hold leaves for a guest's burst: its learnt burst (the
 * largest one-report rise, as its burst headroom) or its ramp's trend,
 * HOLD_BURST_ASK times. */
static uint64_t burst_cover_kib(const PolicyTuning *t, const PolicyDomainState *st, uint64_t now_us)
{
    return kib_mul(kib_max(policy_demand_burst_kib(t, st, now_us), st->trend_peak_kib),
                   HOLD_BURST_ASK);
}

/* Holds and leads are for guests without deflate-on-oom only: while an
 * autodeflate balloon inflates, a rise of the guest's demand is read as
 * the inflation (policy_demand_unmask_inflation()), so a large or late
 * trim hides its next burst, and one trimmed exactly to its desire (not
 * a decayed step above it) deflated by itself at the start of its next
 * 256 MiB/s ramp and lost the ramp's trend (docs/benchmarks.md, "Trim
 * hold", has the figures with them). */

/* The trim hold (tuning.trim-hold). A trim the domain would make for
 * itself alone because its demand fell below its peak is held, instead
 * of following the peak's exponential decay a step a cycle. Once the
 * demand stayed below the peak for the hold (1/ln 2 half-lives by
 * default), the peak is dropped to the current demand and the trim made
 * the next cycle, in one step: as many memory-seconds as the decay kept,
 * in one change. Only while the host has room for every desire: when
 * short, the decaying peak is the guest's need, given back a little each
 * cycle to whoever needs it (dropping it sooner put more pressure on the
 * others' steps in overcommit-weights). Returns whether it is held. */
static bool trim_hold(PolicyDomainState *st, unsigned flags, uint64_t assigned_kib, uint64_t now_us,
                      uint64_t hold_us, uint64_t step_kib)
{
    /* a trim of ours under way goes on: holding it would stop the
     * balloon where it is */
    if (hold_us == 0 || !(flags & DOM_DECAYING) || trim_under_way(st, assigned_kib))
        return false;
    /* a hold with no start yet (its state forgotten) starts now */
    if (st->peak_high_us == 0)
        st->peak_high_us = now_us;
    if (now_us >= kib_add(st->peak_high_us, hold_us) && st->prev_report_current_kib > 0) {
        /* A demand climbing back (rising, or with a fresh trend worth
         * half a step) is not dropped to where it stands: its desire
         * would fall mid-ramp. The hold starts again instead. A stopped
         * ramp's decaying trend is dropped with the peak. */
        if ((flags & DOM_RISING) ||
            (!(flags & DOM_TREND_FALLING) && kib_mul(st->trend_peak_kib, 2) > step_kib)) {
            st->peak_high_us = now_us;
        } else {
            st->demand_peak_kib = kib_min(st->demand_peak_kib, st->prev_report_current_kib);
            st->trend_peak_kib = 0;
        }
    }
    st->held_cycles = st->held_cycles < UINT32_MAX ? st->held_cycles + 1 : UINT32_MAX;
    return true;
}

/* How far a climb's grow goes ahead of its desire: RAMP_LEAD_TRENDS
 * trends. A trend past two steps, a fast ramp's or a slow one's after a
 * jerk (a real guest's reports at 16 MiB/s moved by 8 MiB, then 40-50 MiB
 * at once), is led by two steps: with no lead the jerky one was grown
 * 23-39 MiB two cycles apart, 4-5 grows a climb. Not three trends capped
 * at two steps (up to six steps): in dynmem-sim's build-bursts without
 * deflate-on-oom that left 110 ticks out of memory against 101. It also
 * bounds what a climb's hold keeps (damp_all()). */
static uint64_t climb_lead_kib(const PolicyTuning *t, const PolicyDomainState *st,
                               uint64_t assigned_kib)
{
    uint64_t two_steps = kib_mul(min_step_kib(t, assigned_kib), 2);

    if (st->trend_peak_kib > two_steps)
        return two_steps;
    return kib_mul(st->trend_peak_kib, RAMP_LEAD_TRENDS);
}

/* A ramp's grow goes ahead of it (climb_lead_kib()), from memory nobody
 * desires, leaving as much free as it takes beyond the room a hold needs
 * (room_kib, below *spare_kib); never more than a cycle's max-shrink
 * gives back. Returns the new target; *spare_kib loses twice the lead. */
static uint64_t ramp_lead(const PolicyTuning *t, const EngineWork *w, const PolicyDomainState *st,
                          const PolicyDomainCaps *caps, uint64_t *spare_kib, uint64_t room_kib)
{
    uint64_t top = kib_max(w->target_kib, w->base_kib);
    /* A lead buys no DIMM: a DIMM is never detached, and with the last
     * slot free the planner takes all the slot allows (on real guests a
     * lead past a 768 MiB balloon ceiling attached 512 MiB for good at
     * a demand of 479 MiB). Only desire and need hot-add. */
    uint64_t reach = kib_max(policy_caps_reach_without_dimms_kib(caps), top);
    uint64_t lead =
        kib_min(climb_lead_kib(t, st, w->assigned_kib), kib_sub(*spare_kib, room_kib) / 2);
    uint64_t ahead;

    if (t->max_shrink_kib > 0)
        lead = kib_min(lead, t->max_shrink_kib);
    ahead = kib_min(kib_add(top, lead), kib_min(kib_max(w->maximum_kib, top), reach));
    *spare_kib -= kib_mul(ahead - top, 2);
    return kib_max(w->target_kib, ahead);
}

/* Pass 2 over every managed domain: its allocation damped into
 * work[].target_kib. Returns what they hold now (grows in flight
 * included). */
static uint64_t damp_all(PolicyEngine *engine, const PolicyConfig *cfg, PolicyDomainInput *domains,
                         size_t n_items, PolicyRegime regime, bool over_budget, uint64_t budget_kib,
                         uint64_t now_us)
{
    const PolicyTuning *t = &cfg->tuning;
    uint64_t taken = 0, wanted = 0, spare = 0, hold_us = policy_trim_hold_us(t);
    uint64_t room = 0;
    bool starved = false;

    for (size_t k = 0; k < n_items; k++) {
        size_t i = engine->item_entry[k];

        wanted = kib_add(wanted, kib_max(engine->work[k].base_kib, engine->items[k].result_kib));
        room = kib_max(room, burst_cover_kib(t, domains[i].state, now_us));
        /* A guest with (next to) nothing available or under pressure
         * shows only a lower bound of its demand: it may need more than
         * it desires, and what is held elsewhere would be what it waits
         * for. */
        if (domains[i].state->prev_saturated || (engine->flags[i] & DOM_PRESSURE))
            starved = true;
    }
    /* Free memory beyond every desire and what is held now: holds and
     * leads come out of it, and after all of them at least `room` stays
     * free: the largest burst any guest could make before a reclaim for
     * it shows, and a step. A grow beyond that is one the host could not
     * have served at once without any hold either: every hold gives up
     * its surplus in that same cycle (the else branch below). */
    room = kib_add(room, t->min_step_kib);
    if (regime == POLICY_REGIME_DESIRED && !over_budget && !starved && hold_us > 0 &&
        wanted <= budget_kib)
        spare = budget_kib - wanted;

    for (size_t k = 0; k < n_items; k++) {
        EngineWork *w = &engine->work[k];
        size_t i = engine->item_entry[k];
        PolicyDomainState *st = domains[i].state;
        uint64_t result = engine->items[k].result_kib;
        bool in_bounds = w->assigned_kib <= w->maximum_kib;
        /* rising this cycle and the one before (or two: the guest
         * reports once a period): a climb, not one step up. Any climb,
         * not only a ramp (DOM_RAMPING): a ramp a little slower than half
         * a step a report was grown a bare step every few seconds, five
         * or six grows a ramp where a faster one took two (an office
         * workload at 15.9 MiB/s against 32 MiB steps) */
        bool climbing = (engine->flags[i] & DOM_RISING) && st->rise_us > 0 &&
                        now_us <= kib_add(st->rise_us, kib_mul(cfg->interval_us, 2));

        if (engine->flags[i] & DOM_RAMPING)
            st->ramp_us = now_us;
        if (engine->flags[i] & DOM_RISING)
            st->rise_us = now_us;
        if (!(engine->flags[i] & DOM_DECAYING))
            st->peak_high_us = now_us;
        /* A climb's lead (ramp_lead()) is not trimmed while the guest
         * climbs either (below): it was given for what comes next, and
         * without this each led grow was given back the next cycle. Only
         * where a lead could be given: not for deflate-on-oom guests,
         * and only while the room a hold needs stays free beside it (a
         * guest short of memory or swapping elsewhere takes it at once). */
        bool lead_held = result < w->assigned_kib && in_bounds && climbing &&
                         !domains[i].caps->balloon_autodeflate &&
                         w->assigned_kib - result <= kib_add(climb_lead_kib(t, st, w->assigned_kib),
                                                             min_step_kib(t, w->assigned_kib)) &&
                         spare >= kib_add(room, w->assigned_kib - result);

        if (result < w->assigned_kib && regime == POLICY_REGIME_DESIRED && !over_budget &&
            in_bounds && ((engine->flags[i] & DOM_RAMPING) || lead_held)) {
            /* A guest whose demand is ramping up is not trimmed while the
             * host has room for every desire: what it gave up now it
             * would ask back within seconds (measured after a DIMM:
             * trimmed 896 -> 523 MiB in three cycles, grown back to 691
             * in four). Memory others need, an over-full host or a bound
             * still shrink it. */
            if (lead_held && !(engine->flags[i] & DOM_RAMPING))
                spare -= w->assigned_kib - result;
            w->target_kib = w->assigned_kib;
            engine->flags[i] |= DOM_TRIM_HELD;
            /* not a settling hold: a later trim is paced at max-shrink */
            st->held_cycles = 0;
        } else if (result < w->assigned_kib && in_bounds && !domains[i].caps->balloon_autodeflate &&
                   spare >= kib_add(room, w->assigned_kib - result) &&
                   trim_hold(st, engine->flags[i], w->assigned_kib, now_us, hold_us,
                             min_step_kib(t, w->assigned_kib))) {
            spare -= w->assigned_kib - result;
            w->target_kib = w->assigned_kib;
            engine->flags[i] |= DOM_SETTLING;
        } else {
            /* On a roomy host a guest's own trim lands a step (less a
             * KiB) above its desire. The decay a hold replaces never
             * trims by less than a step, so it left a guest anywhere up
             * to that much above its desire, and a guest trimmed to its
             * desire exactly met its next step with less: in dynmem-sim
             * without deflate-on-oom, build-bursts had one more tick out
             * of memory in nine of its 256 MiB/s ramps, office-day 4 to 8
             * more on each of six seeds (with the margin only on the
             * trim that ends a hold, build-bursts had 165 against 149:
             * the trims of a guest whose hold could not start, its trim
             * under way, need it too). A hold given up for others, a
             * bound or a host over its budget are not roomy. */
            uint64_t step = min_step_kib(t, w->assigned_kib);

            if (step > 0 && result < w->assigned_kib && in_bounds &&
                !domains[i].caps->balloon_autodeflate &&
                spare >= kib_add(room, w->assigned_kib - result))
                result = kib_min(w->assigned_kib, kib_add(result, kib_sub(step, 1)));
            /* max-shrink is a rate: a trim held for n cycles may take
             * what those cycles would have, in one step; and a trim of
             * ours still under way is not cut short by it (asking for
             * less of it would be one more change). Not for an
             * autodeflate guest (as the hold). A hold given up
             * because the host is no longer roomy (a grow that waits,
             * memory others need) gives all it held above the guest's
             * need (its decayed peak) at once: paced at max-shrink, the
             * grow waited behind what the hold kept (2 GiB for 8 cycles
             * after a hold of 8: test_trim_hold_surplus_to_a_waiting_grow). */
            uint64_t limit = t->max_shrink_kib;

            if (limit > 0 && !domains[i].caps->balloon_autodeflate) {
                limit = kib_mul(limit, kib_max(st->held_cycles, 1));
                if (st->held_cycles > 0)
                    limit = kib_max(limit, kib_sub(w->assigned_kib, w->need_kib));
                if (spare > 0 && trim_under_way(st, w->assigned_kib))
                    limit = kib_max(limit, kib_sub(w->assigned_kib, st->shrink_to_kib));
            }
            w->target_kib = damp(t, w, result, over_budget, limit);
            if (limit > t->max_shrink_kib && t->max_shrink_kib > 0)
                engine->flags[i] |= DOM_WIDE_TRIM;
            st->held_cycles = 0;
        }
        /* a lead only on a roomy host, as a hold, and leaving the room
         * free: under a pool (e2e-scarcity) leads with less room cost 3
         * pressure-seconds */
        if (w->target_kib > w->assigned_kib && climbing && spare > room &&
            !domains[i].caps->balloon_autodeflate)
            w->target_kib = ramp_lead(t, w, st, domains[i].caps, &spare, room);
        taken = kib_add(taken, w->base_kib);
    }
    return taken;
}

static int by_room_desc(const void *a, const void *b)
{
    const PolicyFillSlot *x = a, *y = b;

    if (x->room_kib != y->room_kib)
        return x->room_kib < y->room_kib ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index ? 1 : 0; /* the same on every libc */
}

/* Whose reclaim below the step may pay for another's grow. Not a guest
 * that may want the memory back at once: one whose demand rose this
 * cycle or is ramping, one we are growing, one that deflated on its own
 * (a step it took from its balloon) or whose trim is held, one swapping,
 * stale or in its grace period. (A guest that merely holds a trend, its
 * rise of a while ago, still gives: excluding it too left dynmem-sim's
 * build servers 2-3 times the ticks out of memory. So does one whose trim
 * the trim hold keeps, DOM_SETTLING: that hold is for a roomy host, and
 * a grow never waits behind it.) */
static bool may_reclaim_small(const EngineWork *w, unsigned flags)
{
    return !(flags & (DOM_RISING | DOM_RAMPING | DOM_TRIM_HELD | DOM_DEFLATE_HOLD | DOM_PRESSURE |
                      DOM_STALE | DOM_GRACE | DOM_UNCOOPERATIVE)) &&
           w->base_kib == w->assigned_kib; /* no grow of ours in flight: it did not just step */
}

/* A grow the memory free now cannot cover waits on reclaims, and damping
 * skips those below the step: spread over many guests, the skipped ones
 * can hold more than the grow needs (found by dynmem-sim: 19 builders,
 * each a few MiB over its share, kept a 20th, ramping, out of memory at
 * its boot size). The largest of them are made after all, until they
 * cover the shortfall: few changes, and none where nobody waits. A guest
 * is never taken below its need (its decaying peak) this way, nor while
 * its own demand moves (may_reclaim_small()): a grow of one guest is not
 * paid with memory another is about to ask back (on real guests, two
 * deflate-on-oom guests that had just stepped up beside a ramping one). */
static void reclaim_for_growth(PolicyEngine *engine, const PolicyTuning *t, size_t n_items,
                               uint64_t shortfall_kib, bool take_dust, bool to_pool)
{
    PolicyFillSlot *slots = engine->scratch.slots;
    size_t n_slots = 0;

    /* reclaims this cycle makes anyway free memory as soon */
    for (size_t k = 0; k < n_items && shortfall_kib > 0; k++)
        if (engine->work[k].target_kib < engine->work[k].assigned_kib)
            shortfall_kib =
                kib_sub(shortfall_kib, engine->work[k].assigned_kib - engine->work[k].target_kib);
    if (shortfall_kib == 0)
        return;
    for (size_t k = 0; k < n_items; k++) {
        const EngineWork *w = &engine->work[k];
        size_t i = engine->item_entry[k];
        uint64_t to = kib_max(engine->items[k].result_kib, w->need_kib);

        /* (dust, a few MiB, is not worth a balloon change, unless it
         * adds up over a pool) */
        if (w->target_kib == w->assigned_kib &&
            kib_add(to, take_dust ? 1 : min_step_kib(t, w->assigned_kib) / 4) <= w->assigned_kib &&
            may_reclaim_small(w, engine->flags[i]))
            slots[n_slots++] = (PolicyFillSlot){.room_kib = w->assigned_kib - to, .index = k};
    }
    qsort(slots, n_slots, sizeof(*slots), by_room_desc);
    for (size_t j = 0; j < n_slots && shortfall_kib > 0; j++) {
        size_t k = slots[j].index;

        engine->work[k].target_kib = engine->work[k].assigned_kib - slots[j].room_kib;
        engine->flags[engine->item_entry[k]] |=
            DOM_RECLAIM_SMALL | (to_pool ? DOM_RECLAIM_POOL : 0);
        shortfall_kib = kib_sub(shortfall_kib, slots[j].room_kib);
    }
}

/* Pass 4 over every domain: mechanisms, status, reason, protection, and
 * the summary's sums (items are in entry order). */
static void finish_entries(PolicyEngine *engine, const PolicyTuning *t, PolicyDomainInput *domains,
                           size_t n, PolicyPlanEntry *entries, PolicyRegime regime,
                           bool over_budget, bool roomy, uint64_t *free_kib, uint64_t now_us,
                           PolicyPlanSummary *sum)
{
    for (size_t i = 0, k = 0; i < n; i++) {
        PolicyPlanEntry *e = &entries[i];

        if (e->assigned_kib > 0)
            e->pressure_pct = (uint32_t)kib_min(
                (uint64_t)((unsigned __int128)e->demand_kib * 100 / e->assigned_kib), UINT32_MAX);
        if (!e->managed)
            continue;
        e->target_kib = engine->work[k++].target_kib;
        if (regime != POLICY_REGIME_DESIRED)
            engine->flags[i] |= DOM_SHORT;
        plan_entry(t, &domains[i], e, &engine->flags[i], free_kib, over_budget, roomy, now_us);
        if (engine->flags[i] & DOM_SHRINK_UNASKED) {
            /* what asking it again would have noted (plan_entry()) */
            domains[i].state->shrink_pending = true;
            domains[i].state->shrink_from_kib = e->assigned_kib;
            domains[i].state->shrink_issued_us = now_us;
        }
        describe(t, e, engine->flags[i], min_step_kib(t, e->assigned_kib));
        domains[i].state->last_target_kib = e->target_kib;
        /* headroom given up (the host is short) protects nothing */
        if (e->protection == POLICY_PROTECTION_HEADROOM &&
            kib_add(e->target_kib, min_step_kib(t, e->assigned_kib)) <
                kib_add(e->demand_kib, e->headroom_kib))
            e->protection = POLICY_PROTECTION_NONE;
        policy_plan_summary_add(sum, e);
    }
}

PolicyHostState policy_host_state_from(PolicyRegime regime, bool psi_limited)
{
    switch (regime) {
    case POLICY_REGIME_DESIRED:
        /* the host stalling on memory is pressure, whatever the figures */
        return psi_limited ? POLICY_HOST_PRESSURE : POLICY_HOST_OK;
    case POLICY_REGIME_NEEDS:
    case POLICY_REGIME_FLOORS:
        return POLICY_HOST_PRESSURE;
    default:
        return POLICY_HOST_OVERCOMMITTED;
    }
}

void policy_plan_summary_finish(PolicyPlanSummary *sum, const PolicyBudget *budget,
                                PolicyRegime regime)
{
    sum->state = policy_host_state_from(regime, budget->psi_limited);
    sum->budget_kib = budget->budget_kib;
    sum->reserve_kib = budget->reserve_kib;
    sum->other_use_kib = budget->other_use_kib;
    sum->unmanaged_kib = budget->unmanaged_kib;
    sum->overhead_kib = budget->overhead_kib;
    sum->psi_limited = budget->psi_limited;
    sum->pool_limited = budget->pool_limited;
    sum->deflate_reserve_kib = budget->deflate_reserve_kib;
}

/* What a cluster scheduler asks of the host: how much a new or migrating
 * domain could get here now, and how much the guests want but cannot get.
 * A newcomer takes what is above the others' needs, as a growing guest
 * would: buffers and burst headroom go first, needs never (in-use memory
 * least of all). */
static void summary_headroom(PolicyPlanSummary *sum, uint64_t sum_need_kib, uint64_t overhead_kib)
{
    sum->sum_need_kib = sum_need_kib;
    sum->admittable_kib =
        kib_sub(kib_sub(kib_sub(sum->budget_kib, sum->reserved_kib), sum_need_kib), overhead_kib);
    sum->unmet_kib = kib_sub(sum->sum_desired_kib, sum->budget_kib);
}

int policy_engine_plan(PolicyEngine *engine, const PolicyConfig *cfg, const PolicyHostSample *host,
                       uint64_t now_us, PolicyDomainInput *domains, size_t n,
                       PolicyPlanEntry *entries, PolicyPlanSummary *ret_summary)
{
    PolicyPlanSummary sum;
    PolicyBudgetInput bin = {0};
    const PolicyTuning *t;
    PolicyBudget budget;
    PolicyRegime regime;
    bool over_budget, roomy;
    uint64_t taken, free_kib, reserved, alloc_budget;
    size_t n_items;
    bool psi_alarm;
    int r;

    if (!engine || !cfg || !host || !ret_summary || (n > 0 && (!domains || !entries)))
        return -EINVAL;
    /* memset, not = {0}: the padding too, so summaries compare bytewise */
    memset(&sum, 0, sizeof(sum));
    if (host->mem_total_kib == 0 || host->mem_available_kib > host->mem_total_kib)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!input_valid(&domains[i]))
            return -EINVAL;
    t = &cfg->tuning;
    engine_reserve(engine, n);
    psi_alarm = host->has_psi && cfg->psi_threshold_pct > 0 &&
                host->psi_some_avg10 >= (double)cfg->psi_threshold_pct;

    /* pass 1: classify, demand, bounds, the budget's inputs */
    n_items = policy_engine_prepare(engine, cfg, now_us, domains, n, entries, psi_alarm, &bin);

    r = policy_budget_compute(cfg, host, &bin, &budget);
    if (r < 0)
        return r;
    /* starting domains first: what they hold is not the guests' */
    reserved = policy_admission_check(engine->res, engine->n_res, engine->items, n_items,
                                      budget.budget_kib, cfg->overhead_kib);
    alloc_budget = kib_sub(budget.budget_kib, reserved);
    regime = policy_allocate(engine->items, n_items, alloc_budget, &engine->scratch);
    /* over the budget by more than a step (a little noise in the host's
     * figures must not make every guest flap): small reclaims count */
    over_budget = bin.sum_managed_assigned_kib > kib_add(alloc_budget, t->min_step_kib);

    /* pass 2: damping; what the managed domains hold now */
    taken = damp_all(engine, cfg, domains, n_items, regime, over_budget, alloc_budget, now_us);
    if (!over_budget) {
        uint64_t shortfall = kib_sub(growth_kib(engine, n_items), kib_sub(alloc_budget, taken));
        /* A pool is a figure the operator wrote, not a noisy reading:
         * guests that hold more than it, each less than a step over its
         * share, give that back too, dust included once it adds up to a
         * quarter step (on real guests, two stayed 18 MiB over a 1100 MiB
         * pool for good: e2e-scarcity-loaded). Over it by more than a
         * step, damping makes every reclaim anyway. Measured against the
         * pool itself, not the budget the deflate reserve was kept out
         * of: an autodeflate guest's reclaim adds as much to its
         * take-back, so the budget fell with every reclaim and the
         * guests were taken a few MiB a cycle down to their needs
         * (test_small_reclaims_pool_not_the_deflate_reserve). */
        uint64_t excess =
            budget.pool_limited ? kib_sub(taken, kib_sub(cfg->pool_kib, reserved)) : 0;

        if (excess < t->min_step_kib / 4)
            excess = 0;
        reclaim_for_growth(engine, t, n_items, kib_add(shortfall, excess), excess > 0,
                           shortfall == 0);
    }

    /* pass 3: reclaim before grow. A shrink in flight is not free until the
     * stats show it, a grow in flight is taken already. */
    free_kib = kib_sub(alloc_budget, taken);
    sum.free_kib = free_kib;
    policy_admission_grant(engine->res, engine->n_res, budget.budget_kib, taken, cfg->overhead_kib);
    /* every grow fits: a grow in flight beyond its target may land */
    roomy =
        regime == POLICY_REGIME_DESIRED && !over_budget && growth_kib(engine, n_items) <= free_kib;
    grant_growth(engine, n_items, &free_kib);

    /* pass 4: mechanisms, status, reasons, sums */
    finish_entries(engine, t, domains, n, entries, regime, over_budget, roomy, &free_kib, now_us,
                   &sum);
    policy_plan_summary_finish(&sum, &budget, regime);
    sum.reserved_kib = reserved;
    for (size_t j = 0; j < engine->n_res; j++)
        if (engine->res[j].state == POLICY_RESERVATION_WAITING)
            sum.n_waiting++;
    summary_headroom(&sum, bin.sum_managed_need_kib, cfg->overhead_kib);
    *ret_summary = sum;
    return 0;
}
