/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's insides, shared by its two halves:
 *   engine-prepare.c  pass 1, per domain: classify, track what is in
 *                     flight, estimate demand, resolve bounds, floor,
 *                     need, desired; and the budget's inputs
 *   engine.c          the budget, allocation, damping, growth from what is
 *                     free, mechanisms, status and reasons, the summary
 * Pure like the rest of src/policy; tests may include it. G_GNUC_INTERNAL
 * (hidden): inlinable where they are called in the same file.
 */
#pragma once

#include "admission.h"
#include "allocate.h"
#include "engine.h"
#include "kib-math.h"
#include "meminfo.h"
#include "planner.h"

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
    uint64_t comfy_kib; /* below this a small grow is not skipped: grow_skip_floor_kib() */
    uint64_t floor_kib; /* memory in use now: an over-budget reclaim stops here */
    uint64_t need_kib;  /* growth toward this is served before any headroom */
    uint64_t granted_kib;
} EngineWork;

/* A grow smaller than the minimum step is skipped (churn) only while the
 * guest still has at least half its buffer: measured on a real 160 MiB
 * guest, a 25 MiB grow skipped that way was an OOM kill a second later. */
static inline uint64_t comfy_kib(uint64_t need_kib, uint64_t desired_kib)
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
    PolicyReservation *res; /* borrowed: policy_engine_set_reservations() */
    size_t n_res;
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
    DOM_RECLAIM_SMALL = 1u << 11,  /* a reclaim below the step, for a grow that waits */
    DOM_DECAYING = 1u << 12,       /* its demand peak is above its current demand */
    DOM_SETTLING = 1u << 13,       /* a trim held: ramped or dropped within the trim hold */
    DOM_SHRINK_UNASKED = 1u << 14, /* a shrink under way not asked again, marked pending */
    DOM_WIDE_TRIM = 1u << 15,      /* a trim beyond max-shrink: a hold's, made in one step */
    DOM_RECLAIM_POOL = 1u << 16,  /* a reclaim below the step: the guests hold more than the pool */
    DOM_TREND_FALLING = 1u << 17, /* not rising, its ramp's trend headroom decaying */
};

/* Below this a grow smaller than the minimum step is not skipped: half
 * the buffer (comfy_kib()), and for a guest whose demand ramps, twice its
 * trend over its demand: what the ramp takes before a grow asked next
 * cycle could land. Skipping with less cost the cycle that decides whether
 * the grow lands before the ramp has eaten the guest's headroom (on real
 * guests, a guest trimmed to 128 MiB of burst headroom and ramping at
 * 32 MiB/s had its first rise, 33 MiB, skipped, and 76 MiB left when the
 * next grow landed). A guest with a buffer or a lead more than two
 * trends wide still skips them. */
static inline uint64_t grow_skip_floor_kib(const PolicyPlanEntry *e, const PolicyDomainState *st,
                                           unsigned flags)
{
    uint64_t comfy = comfy_kib(e->need_kib, e->desired_kib);

    if (flags & DOM_RAMPING)
        comfy = kib_max(comfy, kib_add(e->demand_kib, kib_mul(st->trend_peak_kib, 2)));
    return comfy;
}

static inline uint64_t min_step_kib(const PolicyTuning *t, uint64_t assigned)
{
    return kib_max(t->min_step_kib, kib_pct(assigned, t->min_step_pct));
}

/* reason = a + b + c (b, c may be NULL), truncated to fit. Plain copies:
 * this runs for every domain every cycle, and printf costs more than the
 * rest of the engine. */
static inline void set_reason3(PolicyPlanEntry *e, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;

    for (size_t k = 0; k < 3; k++)
        for (const char *p = parts[k]; p && *p && len + 1 < sizeof(e->reason); p++)
            e->reason[len++] = *p;
    e->reason[len] = '\0';
}

static inline void set_reason(PolicyPlanEntry *e, const char *a)
{
    set_reason3(e, a, NULL, NULL);
}

/* The balloon figure alone, derived when the backend only knows the sum. */
static inline uint64_t sample_balloon_kib(const PolicyDomainCaps *caps, const PolicyDomainSample *s)
{
    /* derived when the backend only knows the sum; never above the
     * ceiling, as assigned in classify(): the guest controls this figure */
    uint64_t balloon = s->balloon_kib ? s->balloon_kib
                                      : kib_sub(s->assigned_kib, policy_caps_assigned_kib(caps, 0));

    return caps->balloon_max_kib ? kib_min(balloon, caps->balloon_max_kib) : balloon;
}

/* Pass 1 over every domain: fills entries[0..n), engine->flags[0..n),
 * one item, work slot and item_entry for each managed domain (returned:
 * how many), and *bin (the budget's sums and the deflate reserve, psi_alarm:
 * every take-back reserved). Updates each domain's state. */
G_GNUC_INTERNAL size_t policy_engine_prepare(PolicyEngine *engine, const PolicyConfig *cfg,
                                             uint64_t now_us, PolicyDomainInput *domains, size_t n,
                                             PolicyPlanEntry *entries, bool psi_alarm,
                                             PolicyBudgetInput *bin);

/* Keep the k largest values seen in top[0..*n_top), largest first. */
G_GNUC_INTERNAL void policy_top_k_insert(uint64_t *top, size_t *n_top, size_t k, uint64_t value);

/* The host's state from the allocation's regime: the host stalling on
 * memory (the budget PSI-limited) is pressure, whatever the figures. */
G_GNUC_INTERNAL PolicyHostState policy_host_state_from(PolicyRegime regime, bool psi_limited);

/* Add one managed entry to the summary's counts and sums (inline: once a
 * domain a cycle). */
static inline void policy_plan_summary_add(PolicyPlanSummary *sum, const PolicyPlanEntry *e)
{
    if (e->protection == POLICY_PROTECTION_NONE)
        sum->n_unprotected++;
    sum->n_managed++;
    sum->sum_assigned_kib = kib_add(sum->sum_assigned_kib, e->assigned_kib);
    sum->sum_demand_kib = kib_add(sum->sum_demand_kib, e->demand_kib);
    sum->sum_desired_kib = kib_add(sum->sum_desired_kib, e->desired_kib);
    sum->sum_floor_kib = kib_add(sum->sum_floor_kib, e->floor_kib);
    sum->sum_target_kib = kib_add(sum->sum_target_kib, e->target_kib);
}

/* The summary's state and budget figures, once every entry was added. */
G_GNUC_INTERNAL void policy_plan_summary_finish(PolicyPlanSummary *sum, const PolicyBudget *budget,
                                                PolicyRegime regime);
