/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One balancing cycle (DESIGN.md §3): classify each domain, estimate its
 * demand, resolve its bounds, compute the budget, allocate, damp, grant
 * growth only from memory that is free now, and plan the mechanisms.
 */
#include "engine.h"

#include "allocate.h"
#include "demand.h"
#include "kib-math.h"
#include "meminfo.h"
#include "planner.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Fallbacks for tuning knobs where 0 would make no sense. */
#define UNCOOPERATIVE_TIMEOUT_US_DEFAULT (30 * POLICY_USEC_PER_SEC)
#define UNCOOPERATIVE_RETRY_US_DEFAULT   (300 * POLICY_USEC_PER_SEC)

/* A balloon figure that rose by at least this without a grow of ours is
 * the guest deflating on its own. Linux's balloon driver gives back 256
 * pages (1 MiB) each time its OOM notifier runs, so a guest short by a
 * little deflates by little; the figure itself moves only when the guest
 * moves the balloon. */
#define SELF_DEFLATE_MIN_KIB POLICY_KIB_PER_MIB
/* Most autodeflate guests whose take-back the budget keeps apart. */
#define DEFLATE_RESERVE_MAX 64

/* What passes 2 and 3 need of a managed domain, packed: at 100,000 domains
 * walking the entries again would cost more in cache misses than the work. */
typedef struct {
    uint64_t assigned_kib;
    uint64_t minimum_kib;
    uint64_t maximum_kib;
    uint64_t base_kib; /* max(assigned, grow in flight) */
    uint64_t target_kib;
    uint64_t comfy_kib; /* below this a small grow is not skipped */
    uint64_t floor_kib; /* memory in use now: an over-budget reclaim stops here */
    uint64_t need_kib;  /* growth toward this is served before any headroom */
    uint64_t granted_kib;
} EngineWork;

/* A grow smaller than the minimum step is skipped (churn) only while the
 * guest still has at least half its buffer: measured on a real 160 MiB
 * guest, a 25 MiB grow skipped that way was an OOM kill a second later. */
static uint64_t comfy_kib(uint64_t need_kib, uint64_t desired_kib)
{
    return need_kib + (desired_kib > need_kib ? (desired_kib - need_kib) / 2 : 0);
}

struct PolicyEngine {
    PolicyAllocScratch scratch;
    PolicyAllocItem *items;
    size_t *item_entry; /* items[k] belongs to entries[item_entry[k]] */
    EngineWork *work;   /* per item */
    unsigned *flags;    /* per domain: DOM_* facts of this cycle */
    size_t capacity;
    size_t n_reallocs;
};

/* Per-domain facts of this cycle that the entry has no field for. */
enum {
    DOM_STALE = 1u << 0,
    DOM_UNCOOPERATIVE = 1u << 1,
    DOM_GRACE = 1u << 2,
    DOM_PRESSURE = 1u << 3,
    DOM_RISING = 1u << 4,
    DOM_SHORT = 1u << 7, /* the host cannot give every domain what it desires */
    DOM_IN_FLIGHT = 1u << 5,
    DOM_TRIM_HELD = 1u << 6,       /* above desired, not trimmed: it is ramping up */
    DOM_RAMPING = 1u << 8,         /* rising by half a step or more a report: a ramp */
    DOM_DEFLATE_HOLD = 1u << 9,    /* the guest deflated on its own lately: not shrunk */
    DOM_STOP_INFLATION = 1u << 10, /* it deflated on its own during a shrink of ours */
};

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

static uint64_t min_step_kib(const PolicyTuning *t, uint64_t assigned)
{
    return kib_max(t->min_step_kib, kib_pct(assigned, t->min_step_pct));
}

/* reason = a + b + c (b, c may be NULL), truncated to fit. Plain copies:
 * this runs for every domain every cycle, and printf costs more than the
 * rest of the engine. */
static void set_reason3(PolicyPlanEntry *e, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;

    for (size_t k = 0; k < 3; k++)
        for (const char *p = parts[k]; p && *p && len + 1 < sizeof(e->reason); p++)
            e->reason[len++] = *p;
    e->reason[len] = '\0';
}

static void set_reason(PolicyPlanEntry *e, const char *a)
{
    set_reason3(e, a, NULL, NULL);
}

/* The balloon figure alone, derived when the backend only knows the sum. */
static uint64_t sample_balloon_kib(const PolicyDomainCaps *caps, const PolicyDomainSample *s)
{
    /* derived when the backend only knows the sum; never above the
     * ceiling, as assigned in classify(): the guest controls this figure */
    uint64_t balloon = s->balloon_kib ? s->balloon_kib
                                      : kib_sub(s->assigned_kib, policy_caps_assigned_kib(caps, 0));

    return caps->balloon_max_kib ? kib_min(balloon, caps->balloon_max_kib) : balloon;
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
    uint64_t reach, assigned, balloon, in_flight, resent, ceiling_grew;
    bool grow_was_pending;
    PolicyDemand dem;

    /* the action slots past n_actions are not part of the result: clearing
     * them would cost more than the rest of the cycle at 100,000 domains */
    memset(e, 0, offsetof(PolicyPlanEntry, actions));
    e->reason[0] = '\0';
    *flags = 0;

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
    e->assigned_kib = assigned;
    e->target_kib = assigned;

    if (!st->initialized)
        st->first_assigned_kib = assigned;

    reach = policy_caps_reach_kib(caps);
    e->maximum_kib = kib_min(policy_amount_resolve_kib(&p->maximum, reach, reach), reach);
    e->ceiling_kib = e->maximum_kib;
    e->minimum_kib = kib_min(policy_amount_resolve_kib(&p->minimum, reach, 0), e->maximum_kib);
    e->startup_kib =
        kib_clamp(policy_amount_resolve_kib(&p->startup, reach, st->first_assigned_kib),
                  e->minimum_kib, e->maximum_kib);

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
    if (policy_sample_is_stale(t, caps, s) ||
        policy_demand_update(t, &dctx, s, st, now, &dem) < 0) {
        /* no fresh word from the guest: hold what it has, never shrink */
        *flags |= DOM_STALE;
        st->prev_raw_demand_kib = 0; /* no trend across the silence */
        st->prev_report_current_kib = 0;
        e->demand_kib = st->initialized ? st->demand_peak_kib : assigned;
        e->floor_kib = kib_max(assigned, e->minimum_kib);
        e->need_kib = e->floor_kib;
        e->desired_kib = e->floor_kib;
        set_protection(t, p, caps, st, e->demand_kib, now, e);
        /* a guest still booting has not loaded its balloon driver yet */
        if (st->seen_boot && now < kib_add(st->started_us, t->grace_us))
            *flags |= DOM_GRACE;
    } else {
        /* the buffer over the demand a rising workload will have by the
         * time memory arrives; the rise itself is headroom, not need. The
         * buffer is at least buffer-min (20 % of a small guest is a few
         * MiB), and the burst headroom is kept free on top of the demand. */
        uint64_t ramped = kib_add(dem.demand_kib, dem.trend_kib);
        uint64_t buffered = kib_max(kib_pct(ramped, 100 + (uint64_t)p->buffer_pct),
                                    kib_add(ramped, p->buffer_min_kib));

        set_protection(t, p, caps, st, dem.demand_kib, now, e);
        buffered = kib_max(buffered, kib_add(dem.demand_kib, e->headroom_kib));

        e->demand_kib = dem.demand_kib;
        e->coarse_demand = dem.coarse;
        if (dem.pressure)
            *flags |= DOM_PRESSURE;
        if (dem.rising)
            *flags |= DOM_RISING;
        /* rising by half a step or more (the trend is twice the rise of
         * a report; it is not taken on every path): a ramp. A guest
         * creeping up by a few MiB is still trimmed. */
        if (dem.rising &&
            kib_max(dem.trend_kib, kib_mul(dem.rise_kib, 2)) >= min_step_kib(t, assigned))
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
         * deflated by itself keeps what it took. */
        if (*flags & DOM_UNCOOPERATIVE)
            e->floor_kib = kib_max(assigned, e->minimum_kib);
        else
            e->floor_kib = kib_max(e->minimum_kib,
                                   kib_min(kib_min(assigned, dem.current_kib), e->maximum_kib));
        if (*flags & DOM_DEFLATE_HOLD)
            e->floor_kib = kib_max(e->floor_kib, kib_min(assigned, e->maximum_kib));
        e->desired_kib = kib_max(e->desired_kib, e->floor_kib);
        e->need_kib = kib_clamp(dem.demand_kib, e->floor_kib, e->desired_kib);
    }
    st->initialized = true;
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

/* Pass 3, growth: only from memory free now. When short, every guest's
 * need is served before anyone's buffer or headroom, each by weight.
 * work[].target_kib holds what the allocator and damping granted. */
static void grant_growth(PolicyEngine *engine, size_t n_items, uint64_t *free_kib)
{
    EngineWork *work = engine->work;
    uint64_t want = 0;

    for (size_t k = 0; k < n_items; k++)
        if (work[k].target_kib > work[k].base_kib)
            want = kib_add(want, work[k].target_kib - work[k].base_kib);
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
        else if ((flags & DOM_SHORT) && e->desired_kib >= kib_add(e->target_kib, step))
            set_reason3(e, "reclaim for others: demand ", dem, NULL);
        else
            set_reason3(e, "trim idle: demand ", dem, NULL);
    } else if ((flags & DOM_IN_FLIGHT) && !(flags & (DOM_TRIM_HELD | DOM_DEFLATE_HOLD))) {
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
    } else {
        set_reason3(e, "steady: demand ", dem, NULL);
    }
}

/* Pass 2: damping (DESIGN.md §3.7). Small changes are skipped unless a
 * bound is broken, shrinking is rate-limited, growth waits for pass 3. */
static uint64_t damp(const PolicyTuning *t, const EngineWork *w, uint64_t target, bool over_budget)
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
        if (t->max_shrink_kib > 0) {
            /* never a rate so small that every step is below the min step */
            uint64_t limit = kib_max(t->max_shrink_kib, step);

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

/* Pass 4: the mechanisms, and the step checked again after alignment. */
static void plan_entry(const PolicyTuning *t, const PolicyDomainInput *d, PolicyPlanEntry *e,
                       unsigned *flags, uint64_t *free_kib, bool over_budget)
{
    const PolicyDomainState *st = d->state;
    uint64_t a = e->assigned_kib, target = e->target_kib, step = min_step_kib(t, a);
    uint64_t balloon, lo, hi, result;
    size_t n_actions;

    /* a partial grant may have fallen below the step */
    if (target > a && target - a < step && !restores_bound(e, target) &&
        a >= comfy_kib(e->need_kib, e->desired_kib))
        target = a;
    e->target_kib = target;
    balloon = sample_balloon_kib(d->caps, d->sample);
    if (target == a) {
        /* no change wanted: an unplug still under way must stop here */
        e->n_actions = policy_plan_cancel_unplugs(d->caps, NULL, e->actions, 0);
        /* ... and so must an inflation still under way (a trim held, a
         * guest deflating by itself): the balloon asked for its size now */
        if (((st->shrink_pending && st->shrink_to_kib < a) || (*flags & DOM_STOP_INFLATION)) &&
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
    /* the same change already in flight: do not ask again */
    if ((target < a && st->shrink_pending && target == st->shrink_to_kib) ||
        (target > a && st->grow_pending_to_kib == target)) {
        *flags |= DOM_IN_FLIGHT;
        return;
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
        (result < a ? !over_budget : a >= comfy_kib(e->need_kib, e->desired_kib))) {
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

int policy_engine_plan(PolicyEngine *engine, const PolicyConfig *cfg, const PolicyHostSample *host,
                       uint64_t now_us, PolicyDomainInput *domains, size_t n,
                       PolicyPlanEntry *entries, PolicyPlanSummary *ret_summary)
{
    PolicyPlanSummary sum;
    PolicyBudgetInput bin = {0};
    const PolicyTuning *t;
    PolicyBudget budget;
    PolicyRegime regime;
    bool over_budget;
    uint64_t taken = 0, free_kib;
    uint64_t top_reclaim[DEFLATE_RESERVE_MAX], all_reclaim = 0;
    size_t n_items = 0, n_top = 0, k_top;
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
    k_top = kib_min(cfg->deflate_reserve_guests, DEFLATE_RESERVE_MAX);

    /* pass 1: classify, demand, bounds */
    for (size_t i = 0; i < n; i++) {
        const PolicyDomainSample *s = domains[i].sample;
        PolicyPlanEntry *e = &entries[i];
        bool managed = classify(cfg, &domains[i], now_us, e, &engine->flags[i]);

        /* a guest without an RSS figure counts its assigned memory */
        bin.sum_guest_rss_kib =
            kib_add(bin.sum_guest_rss_kib, s && s->has_rss ? s->rss_kib : e->assigned_kib);
        if (!managed) {
            bin.sum_unmanaged_assigned_kib =
                kib_add(bin.sum_unmanaged_assigned_kib, e->assigned_kib);
            continue;
        }
        bin.n_managed++;
        bin.sum_managed_assigned_kib = kib_add(bin.sum_managed_assigned_kib, e->assigned_kib);
        bin.sum_managed_need_kib = kib_add(bin.sum_managed_need_kib, e->need_kib);
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
            .comfy_kib = comfy_kib(e->need_kib, e->desired_kib),
            .floor_kib = e->floor_kib,
            .need_kib = e->need_kib,
        };
        engine->item_entry[n_items++] = i;
        if (domains[i].caps->balloon_autodeflate) {
            /* what it can take back at once: up to its balloon ceiling */
            uint64_t v =
                kib_sub(domains[i].caps->balloon_max_kib, sample_balloon_kib(domains[i].caps, s));
            size_t j;

            all_reclaim = kib_add(all_reclaim, v);
            if (n_top < k_top || (k_top > 0 && v > top_reclaim[k_top - 1])) {
                j = n_top < k_top ? n_top++ : k_top - 1;
                for (; j > 0 && top_reclaim[j - 1] < v; j--)
                    top_reclaim[j] = top_reclaim[j - 1];
                top_reclaim[j] = v;
            }
        }
    }

    /* The budget keeps apart what the k autodeflate guests with the most
     * ballooned memory could take back at once (host.deflate-reserve): a
     * workload step in a few guests at a time is covered, the host never
     * swaps for it. Reserving every guest's take-back would forbid any
     * overcommit, which is the point of ballooning. While the host stalls
     * on memory (PSI), every guest's take-back is reserved. */
    if (psi_alarm)
        bin.deflate_reserve_kib = all_reclaim;
    else
        for (size_t j = 0; j < n_top; j++)
            bin.deflate_reserve_kib = kib_add(bin.deflate_reserve_kib, top_reclaim[j]);

    r = policy_budget_compute(cfg, host, &bin, &budget);
    if (r < 0)
        return r;
    regime = policy_allocate(engine->items, n_items, budget.budget_kib, &engine->scratch);
    /* over the budget by more than a step (a little noise in the host's
     * figures must not make every guest flap): small reclaims count */
    over_budget = bin.sum_managed_assigned_kib > kib_add(budget.budget_kib, t->min_step_kib);

    /* pass 2: damping; what the managed domains hold now */
    for (size_t k = 0; k < n_items; k++) {
        EngineWork *w = &engine->work[k];

        w->target_kib = damp(t, w, engine->items[k].result_kib, over_budget);
        /* A guest whose demand is ramping up is not trimmed while the host
         * has room for every desire: what it gave up now it would ask
         * back within seconds (measured after a DIMM: trimmed 896 -> 523
         * MiB in three cycles, grown back to 691 in four). Memory others
         * need, an over-full host or a bound still shrink it. */
        if (w->target_kib < w->assigned_kib && regime == POLICY_REGIME_DESIRED && !over_budget &&
            w->assigned_kib <= w->maximum_kib &&
            (engine->flags[engine->item_entry[k]] & DOM_RAMPING)) {
            w->target_kib = w->assigned_kib;
            engine->flags[engine->item_entry[k]] |= DOM_TRIM_HELD;
        }
        taken = kib_add(taken, w->base_kib);
    }

    /* pass 3: reclaim before grow. A shrink in flight is not free until the
     * stats show it, a grow in flight is taken already. */
    free_kib = kib_sub(budget.budget_kib, taken);
    sum.free_kib = free_kib;
    grant_growth(engine, n_items, &free_kib);

    /* pass 4: mechanisms, status, reasons, sums (items are in entry order) */
    for (size_t i = 0, k = 0; i < n; i++) {
        PolicyPlanEntry *e = &entries[i];

        if (e->assigned_kib > 0)
            e->pressure_pct = (uint32_t)kib_min(
                (uint64_t)((unsigned __int128)e->demand_kib * 100 / e->assigned_kib), UINT32_MAX);
        if (!e->managed)
            continue;
        e->target_kib = engine->work[k++].target_kib;
        plan_entry(t, &domains[i], e, &engine->flags[i], &free_kib, over_budget);
        if (regime != POLICY_REGIME_DESIRED)
            engine->flags[i] |= DOM_SHORT;
        describe(t, e, engine->flags[i], min_step_kib(t, e->assigned_kib));
        domains[i].state->last_target_kib = e->target_kib;
        /* headroom given up (the host is short) protects nothing */
        if (e->protection == POLICY_PROTECTION_HEADROOM &&
            kib_add(e->target_kib, min_step_kib(t, e->assigned_kib)) <
                kib_add(e->demand_kib, e->headroom_kib))
            e->protection = POLICY_PROTECTION_NONE;
        if (e->protection == POLICY_PROTECTION_NONE)
            sum.n_unprotected++;

        sum.n_managed++;
        sum.sum_assigned_kib = kib_add(sum.sum_assigned_kib, e->assigned_kib);
        sum.sum_demand_kib = kib_add(sum.sum_demand_kib, e->demand_kib);
        sum.sum_desired_kib = kib_add(sum.sum_desired_kib, e->desired_kib);
        sum.sum_floor_kib = kib_add(sum.sum_floor_kib, e->floor_kib);
        sum.sum_target_kib = kib_add(sum.sum_target_kib, e->target_kib);
    }

    switch (regime) {
    case POLICY_REGIME_DESIRED:
        /* the host stalling on memory is pressure, whatever the figures */
        sum.state = budget.psi_limited ? POLICY_HOST_PRESSURE : POLICY_HOST_OK;
        break;
    case POLICY_REGIME_NEEDS:
    case POLICY_REGIME_FLOORS:
        sum.state = POLICY_HOST_PRESSURE;
        break;
    default:
        sum.state = POLICY_HOST_OVERCOMMITTED;
        break;
    }
    sum.budget_kib = budget.budget_kib;
    sum.reserve_kib = budget.reserve_kib;
    sum.other_use_kib = budget.other_use_kib;
    sum.unmanaged_kib = budget.unmanaged_kib;
    sum.overhead_kib = budget.overhead_kib;
    sum.psi_limited = budget.psi_limited;
    sum.pool_limited = budget.pool_limited;
    sum.deflate_reserve_kib = budget.deflate_reserve_kib;
    *ret_summary = sum;
    return 0;
}
