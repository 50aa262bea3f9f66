/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The steps of policy_demand_update(), in the order it takes them. Each
 * reads the state as the last report left it; only policy_demand_raw()
 * (the kernel's reserve), policy_demand_note_burst() and
 * policy_demand_remember() change it. For demand.c and its tests.
 *
 * G_GNUC_INTERNAL: a function another object could interpose (the static
 * library is built -fPIC) is never inlined, and policy_demand_update()
 * inlines them all.
 */
#pragma once

#include "demand.h"

/* How this sample stands to the last one seen. */
typedef struct {
    uint64_t ts_us;     /* the sample's time; now when it carries none */
    bool have_prev;     /* an earlier sample, older than this one */
    uint64_t dt_us;     /* since that one; 0 without */
    bool new_report;    /* a guest report not seen before */
    uint64_t period_us; /* the guest's stats period */
} PolicyDemandTiming;

typedef struct {
    uint64_t raw_kib; /* this report's demand, nothing added */
    bool coarse;      /* from unused + caches: no MemAvailable */
    bool consistent;  /* MemTotal − MemAvailable + reserve, one guest view */
    bool relearnt;    /* ... and the reserve changed with this report */
} PolicyDemandRaw;

G_GNUC_INTERNAL void policy_demand_timing(const PolicyDemandContext *ctx,
                                          const PolicyDomainSample *sample,
                                          const PolicyDomainState *st, uint64_t now_us,
                                          PolicyDemandTiming *ret);

/* The raw demand; learns the guest kernel's reserve from a settled report.
 * Returns 0, or -ENODATA when the sample has neither usable nor unused
 * figures (then st and *ret are untouched). */
G_GNUC_INTERNAL int policy_demand_raw(const PolicyDomainSample *sample, PolicyDomainState *st,
                                      bool new_report, PolicyDemandRaw *ret);

/* The raw demand of a guest measured by assigned - what its report has
 * free (usable, or unused + caches): the last report's demand when the
 * report is not new (QEMU's figure may have moved since); a report with
 * next to nothing free that may predate a grow, against the figure before
 * it; else as read. */
G_GNUC_INTERNAL uint64_t policy_demand_unskew(const PolicyDomainState *st,
                                              const PolicyDomainSample *sample,
                                              const PolicyDemandTiming *tm,
                                              const PolicyDemandRaw *raw);

/* The raw demand of an autodeflate guest without what of our shrink in
 * flight its report shows and QEMU's figure does not yet. */
G_GNUC_INTERNAL uint64_t policy_demand_unmask_inflation(const PolicyDemandContext *ctx,
                                                        const PolicyDomainState *st,
                                                        const PolicyDemandRaw *raw);

/* Whether swap-in or major faults since the last sample run above the
 * tuning's rates; *ret_swapped_in_kib: the swap-in since then. */
G_GNUC_INTERNAL bool policy_demand_pressure(const PolicyTuning *tuning,
                                            const PolicyDomainSample *sample,
                                            const PolicyDomainState *st,
                                            const PolicyDemandTiming *tm,
                                            uint64_t *ret_swapped_in_kib);

/* Whether a rise since the last report can be read as the workload's
 * (not as our own grant, nor as a reserve learnt again). */
G_GNUC_INTERNAL bool policy_demand_comparable(const PolicyDomainState *st,
                                              const PolicyDemandTiming *tm,
                                              const PolicyDemandRaw *raw, uint64_t assigned_kib);

/* The figure a rise since the last report is read from, for the trend.
 * On the consistent path the raw demand, when comparable. On the
 * assigned - usable path, while nothing of ours shrinks (assigned not
 * below the last report's figure, no shrink in flight), the last report's
 * demand plus what the guest's free memory fell since that report: a
 * grant or a self-deflation landing between the reports raises the free
 * figure, so neither reads as a trend, whichever report it predates, and
 * no demand unskewed or unmasked at either report changes the rise.
 * Otherwise the raw demand, when comparable. Returns false when no rise
 * can be read. */
G_GNUC_INTERNAL bool
policy_demand_trend_base(const PolicyDemandContext *ctx, const PolicyDomainState *st,
                         const PolicyDomainSample *sample, const PolicyDemandTiming *tm,
                         const PolicyDemandRaw *raw, bool comparable, uint64_t *ret_base_kib);

/* The headroom a rising demand needs until memory can arrive, held and
 * decaying like the peak. */
G_GNUC_INTERNAL uint64_t policy_demand_trend(const PolicyTuning *tuning,
                                             const PolicyDemandContext *ctx,
                                             const PolicyDomainState *st,
                                             const PolicyDemandTiming *tm, uint64_t raw_kib,
                                             bool comparable);

/* This report's demand with the pressure correction (a gap's swap-in
 * spread over the gap): what the guest uses now. */
G_GNUC_INTERNAL uint64_t policy_demand_current(const PolicyTuning *tuning,
                                               const PolicyDemandTiming *tm, uint64_t raw_kib,
                                               uint64_t assigned_kib, bool pressure,
                                               uint64_t swapped_in_kib);

/* Keep the largest one-report rise of the current demand (burst-headroom:
 * learn) in st. */
G_GNUC_INTERNAL void policy_demand_note_burst(const PolicyTuning *tuning, PolicyDomainState *st,
                                              const PolicyDemandTiming *tm, bool comparable,
                                              uint64_t current_kib);

/* The demand: current_kib, or the last peak decayed toward it when that is
 * higher. *ret_rise_kib: by how much current_kib set a new peak (0: not). */
G_GNUC_INTERNAL uint64_t policy_demand_peak(const PolicyTuning *tuning, const PolicyDomainState *st,
                                            uint64_t ts_us, uint64_t current_kib,
                                            uint64_t *ret_rise_kib);

/* What the next sample is compared with. */
G_GNUC_INTERNAL void policy_demand_remember(PolicyDomainState *st, const PolicyDomainSample *sample,
                                            const PolicyDemandTiming *tm, const PolicyDemand *d,
                                            bool saturated);
