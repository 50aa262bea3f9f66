/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The balancing engine (DESIGN.md §3): samples + policy in, plan out.
 *
 * Pure: no I/O, no clocks (the caller passes `now`), no globals. The only
 * state that lives from cycle to cycle is PolicyDomainState, which the caller
 * stores with each domain and passes back in, and a PolicyEngine holding
 * scratch memory so that a steady cycle allocates nothing.
 */
#pragma once

#include "config.h"
#include "units.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_MAX_VIRTIO_MEM         8
#define POLICY_MAX_ACTIONS            (POLICY_MAX_VIRTIO_MEM + 2)
#define POLICY_ALIAS_MAX              64
#define POLICY_REASON_MAX             96
#define POLICY_DIMM_BLOCK_KIB_DEFAULT (128 * POLICY_KIB_PER_MIB)

/* ---- inputs ------------------------------------------------------------ */

/* The host, from /proc/meminfo and /proc/pressure/memory. */
typedef struct {
    uint64_t mem_total_kib;
    uint64_t mem_available_kib;
    bool has_psi;
    double psi_some_avg10; /* percent of time, 0..100 */
} PolicyHostSample;

/* One domain's memory figures this cycle (DESIGN.md §3.1-3.3,
 * ENVIRONMENT.md for what libvirt's numbers mean). */
typedef struct {
    uint64_t timestamp_us;  /* monotonic time the sample was taken */
    int64_t wallclock_s;    /* wall clock at sampling, to judge last_update_s */
    bool has_balloon_stats; /* the guest driver answered at all */
    uint64_t assigned_kib;  /* balloon figure + sum of virtio-mem current */
    uint64_t balloon_kib;   /* balloon figure alone (boot + DIMMs - ballooned) */
    bool has_usable;        /* guest MemAvailable */
    uint64_t usable_kib;
    bool has_available; /* guest MemTotal, from the same guest report as usable */
    uint64_t available_kib;
    bool has_unused; /* guest MemFree and page cache (coarse fallback) */
    uint64_t unused_kib;
    uint64_t disk_caches_kib;
    bool has_swap_in; /* cumulative, KiB */
    uint64_t swap_in_kib;
    bool has_major_faults; /* cumulative count */
    uint64_t major_faults;
    int64_t last_update_s; /* guest's last stats update, epoch s; 0 unknown */
    bool has_rss;          /* QEMU process RSS on the host */
    uint64_t rss_kib;
} PolicyDomainSample;

typedef struct {
    char alias[POLICY_ALIAS_MAX];
    int node;
    uint64_t block_kib;
    uint64_t size_kib;
    uint64_t requested_kib;
    uint64_t current_kib;
} PolicyVirtioMem;

/* What a domain can physically do, from its live XML. */
typedef struct {
    bool has_balloon;
    /* <memballoon autodeflate='on'>: the guest keeps ballooned pages in
     * its MemTotal (they show as used), so MemTotal says nothing of them */
    bool balloon_autodeflate;
    uint32_t stats_period_s;  /* 0: balloon stats not enabled */
    uint64_t balloon_max_kib; /* boot memory + attached DIMMs: the balloon's ceiling */
    size_t n_virtio_mem;
    PolicyVirtioMem virtio_mem[POLICY_MAX_VIRTIO_MEM];
    uint64_t max_memory_kib;   /* <maxMemory>, 0 when there is none */
    uint64_t total_memory_kib; /* <memory>: boot + DIMMs + virtio-mem sizes */
    uint32_t free_dimm_slots;
    /* DIMMs plugged: libvirt's balloon figure for such a domain can be
     * stale (docs/architecture.md, "Reading a DIMM guest's memory") */
    uint32_t n_dimms;
    int dimm_node;           /* NUMA cell for DIMMs, -1: DIMMs impossible */
    uint64_t dimm_block_kib; /* guest memory block size (128 MiB on x86-64) */
} PolicyDomainCaps;

/* ---- state kept by the caller between cycles ---------------------------- */

typedef struct {
    bool initialized;
    uint64_t started_us; /* when the domain was seen starting (grace period) */
    bool seen_boot;      /* started_us is a real boot, not "found running" */
    bool seen_stats;     /* the guest's balloon driver has reported at least once */
    uint64_t demand_peak_kib;
    uint64_t demand_peak_us;
    uint64_t prev_timestamp_us;
    /* The guest kernel's own reserve (assigned - MemTotal), learnt from a
     * report in which neither figure moved; 0 until then. */
    uint64_t reserve_kib;
    bool reserve_known;
    uint64_t prev_assigned_kib;
    uint64_t prev_available_kib;
    uint64_t prev_raw_demand_kib;      /* last report's demand, for the trend */
    uint64_t prev_report_assigned_kib; /* ... QEMU's figure then (0: none) */
    uint64_t prev_report_free_kib;     /* ... and what the report had free */
    bool prev_saturated;               /* ... and it was only a lower bound */
    uint64_t trend_peak_kib;           /* headroom for a rising demand, decaying */
    int64_t prev_last_update_s;        /* the guest report seen last cycle */
    int64_t prev_wallclock_s;          /* the wall clock at last cycle's sample */
    uint64_t prev_swap_in_kib;
    uint64_t prev_major_faults;
    bool under_pressure;
    uint64_t last_target_kib;
    /* a shrink in flight */
    bool shrink_pending;
    uint64_t shrink_from_kib;
    uint64_t shrink_to_kib;
    uint64_t shrink_issued_us;
    /* growth asked for and not yet visible in the stats */
    uint64_t grow_pending_to_kib;
    uint64_t grow_issued_us;
    bool uncooperative;
    uint64_t uncooperative_since_us;
    uint64_t uncooperative_floor_kib;
    /* added by the engine work: */
    uint64_t first_assigned_kib; /* assigned at first sight: startup when unset */
    bool prev_has_swap_in;       /* the previous sample had the counter */
    bool prev_has_major_faults;
    /* the safety work (DESIGN.md §3.10): */
    uint64_t prev_balloon_kib;        /* the balloon figure last cycle, 0: none yet */
    uint64_t prev_balloon_max_kib;    /* its ceiling then (a DIMM raises both) */
    uint64_t self_deflate_us;         /* when an autodeflate guest last took balloon pages back */
    uint64_t self_deflate_kib;        /* ... and what it held then (grants since are ours) */
    uint64_t burst_peak_kib;          /* largest rise of demand in one report, at burst_peak_us */
    uint64_t burst_peak_us;           /* (decayed when read: policy_demand_burst_kib()) */
    uint64_t prev_report_current_kib; /* the last report's demand, pressure included */
    /* the balloon re-sent at QEMU's (lagging) figure to stop an inflation:
     * the guest deflating back up to it is ours, not deflate-on-oom */
    uint64_t resend_balloon_kib;
    uint64_t resend_us;
    /* trim hold (tuning.trim-hold): the last cycle the demand was at its
     * peak (within half a step), the last it was ramping up, and the last
     * it rose at all */
    uint64_t peak_high_us;
    uint64_t ramp_us;
    uint64_t rise_us;
    uint32_t held_cycles; /* cycles its trim has been held in a row */
} PolicyDomainState;

/* A trim hold and a ramp are not carried across a gap in the guest's
 * reports (a reconnect, a stale guest) or a time out of management. */
static inline void policy_trim_hold_forget(PolicyDomainState *st)
{
    st->peak_high_us = 0;
    st->ramp_us = 0;
    st->rise_us = 0;
    st->held_cycles = 0;
}

/* Mark a domain as just booted at now_us (starts its grace period). Call
 * on the libvirt "started" event; a domain found already running gets its
 * state initialized by the first cycle instead, without a grace period. */
void policy_domain_state_init_booted(PolicyDomainState *st, uint64_t now_us);

typedef struct {
    const char *name;
    const char *uuid;
    const PolicyEffective *policy;
    const PolicyDomainCaps *caps;
    const PolicyDomainSample *sample; /* NULL: no stats this cycle */
    PolicyDomainState *state;         /* in/out */
} PolicyDomainInput;

/* ---- outputs ----------------------------------------------------------- */

typedef enum {
    POLICY_STATUS_OK = 0,        /* buffer met */
    POLICY_STATUS_LOW,           /* demand met, buffer not */
    POLICY_STATUS_WARNING,       /* assigned < demand, or the guest is swapping */
    POLICY_STATUS_STARTING,      /* grace period after boot */
    POLICY_STATUS_STATIC,        /* mode: static, never touched */
    POLICY_STATUS_UNMANAGED,     /* no balloon, or no stats at all */
    POLICY_STATUS_STALE,         /* stats too old: never shrunk */
    POLICY_STATUS_UNCOOPERATIVE, /* ignored a shrink */
    POLICY_STATUS_LAST,
} PolicyStatus;

const char *policy_status_to_string(PolicyStatus status);

/* What saves a guest from a step no loop sees (DESIGN.md §3.10). */
typedef enum {
    POLICY_PROTECTION_NONE = 0,       /* neither: a step beyond its free memory OOM-kills */
    POLICY_PROTECTION_DEFLATE_ON_OOM, /* autodeflate: it takes balloon pages back itself */
    POLICY_PROTECTION_HEADROOM,       /* burst headroom kept as free memory in it */
    POLICY_PROTECTION_LAST,
} PolicyProtection;

const char *policy_protection_to_string(PolicyProtection protection);

typedef enum {
    POLICY_ACTION_BALLOON = 0, /* set the balloon figure to to_kib */
    POLICY_ACTION_VIRTIO_MEM,  /* set <requested> of device `alias` to to_kib */
    POLICY_ACTION_DIMM,        /* attach a DIMM of to_kib on NUMA `node` */
    POLICY_ACTION_LAST,
} PolicyActionKind;

const char *policy_action_kind_to_string(PolicyActionKind kind);

typedef struct {
    PolicyActionKind kind;
    uint64_t from_kib;
    uint64_t to_kib;
    char alias[POLICY_ALIAS_MAX];
    int node;
} PolicyAction;

typedef enum {
    POLICY_HOST_OK = 0,        /* every domain gets what it desires */
    POLICY_HOST_PRESSURE,      /* buffers (or more) given up, floors met */
    POLICY_HOST_OVERCOMMITTED, /* even the floors do not fit */
    POLICY_HOST_LAST,
} PolicyHostState;

const char *policy_host_state_to_string(PolicyHostState state);

typedef struct {
    PolicyStatus status;
    bool managed;       /* takes part in the allocation */
    bool coarse_demand; /* estimated without MemAvailable */
    uint64_t assigned_kib;
    uint64_t demand_kib; /* after pressure correction and decay */
    uint64_t floor_kib;
    uint64_t need_kib;
    uint64_t desired_kib;
    uint64_t ceiling_kib;
    uint64_t minimum_kib; /* resolved policy bounds */
    uint64_t startup_kib;
    uint64_t maximum_kib;
    uint64_t target_kib;   /* what the domain should have after this cycle */
    uint32_t pressure_pct; /* demand / assigned * 100 */
    PolicyProtection protection;
    uint64_t headroom_kib;   /* burst headroom wanted over demand (0: the net covers it) */
    uint64_t absorbable_kib; /* the largest instant step it takes now: free memory, plus
                              * for autodeflate the balloon up to its ceiling */
    size_t n_actions;
    PolicyAction actions[POLICY_MAX_ACTIONS];
    char reason[POLICY_REASON_MAX];
} PolicyPlanEntry;

typedef struct {
    PolicyHostState state;
    uint64_t budget_kib;
    uint64_t reserve_kib;
    uint64_t other_use_kib;
    uint64_t unmanaged_kib;
    uint64_t sum_assigned_kib; /* managed domains */
    uint64_t sum_demand_kib;
    uint64_t sum_desired_kib;
    uint64_t sum_floor_kib;
    uint64_t sum_target_kib;
    bool psi_limited;
    /* added by the engine work: */
    bool pool_limited;
    uint64_t overhead_kib; /* n_managed × host overhead */
    uint64_t free_kib;     /* B − Σ max(assigned, grow in flight): what growth may take */
    size_t n_managed;
    uint64_t deflate_reserve_kib; /* kept for autodeflate guests taking memory back */
    size_t n_unprotected;         /* managed domains with protection none */
    /* for cluster schedulers (docs/cluster.md): */
    uint64_t sum_need_kib;   /* Σ of the managed domains' needs */
    uint64_t admittable_kib; /* what one more domain could get: the budget above every
                              * need (buffers and headroom are given up first, whatever
                              * the weights), less its own overhead */
    uint64_t unmet_kib;      /* what the domains desire beyond the budget */
    /* admission (admission.h): what starting domains hold, granted or
     * waiting for room, with their overheads; the allocation gets the
     * budget less this */
    uint64_t reserved_kib;
    size_t n_waiting;
} PolicyPlanSummary;

/* ---- the cycle ---------------------------------------------------------- */

typedef struct PolicyEngine PolicyEngine;

PolicyEngine *policy_engine_new(void);
void policy_engine_free(PolicyEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PolicyEngine, policy_engine_free)

/* Run one cycle over n domains (every running domain, managed or not).
 * Fills entries[0..n) and *ret_summary; updates each domain's state.
 * Returns 0, or -EINVAL for inconsistent input (then nothing is changed). */
int policy_engine_plan(PolicyEngine *engine, const PolicyConfig *cfg, const PolicyHostSample *host,
                       uint64_t now_us, PolicyDomainInput *domains, size_t n,
                       PolicyPlanEntry *entries, PolicyPlanSummary *ret_summary);

/* Domains about to start (admission.h), in priority order: borrowed until
 * set again; every plan takes them into the budget and updates their
 * states and figures. NULL, 0: none. */
typedef struct PolicyReservation PolicyReservation;
void policy_engine_set_reservations(PolicyEngine *engine, PolicyReservation *res, size_t n);

/* Tell the engine an entry's actions were issued: in-flight accounting.
 * Call after the entry's actions were sent: a shrink is then watched for
 * the uncooperative timeout (a shrink already in flight keeps its start),
 * a grow is counted as taken until the stats show it. */
void policy_domain_state_note_issued(PolicyDomainState *st, const PolicyPlanEntry *entry,
                                     uint64_t now_us);

/* The entry's actions failed (libvirt said no): forget what was in flight,
 * so the memory is counted by what the stats say again. */
void policy_domain_state_note_failed(PolicyDomainState *st);

/* How often the engine's scratch memory grew since it was created: stays
 * constant once the domain count stops rising (benchmarks, tests). */
size_t policy_engine_scratch_reallocs(const PolicyEngine *engine);

/* The plan as a table (--once, Dump). Newly allocated. */
char *policy_plan_format_table(const PolicyDomainInput *domains, const PolicyPlanEntry *entries,
                               size_t n, const PolicyPlanSummary *summary);
