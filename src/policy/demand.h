/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Demand estimation (DESIGN.md §3.2-3.3): what a guest needs, from its
 * balloon stats, corrected for pressure, rising at once, decaying slowly.
 */
#pragma once

#include "config.h"
#include "engine.h"

typedef struct {
    uint64_t raw_kib;    /* assigned − usable (or − unused − caches), this sample */
    uint64_t demand_kib; /* after pressure correction and the decaying peak */
    bool coarse;         /* no MemAvailable: estimated from unused + caches */
    bool pressure;       /* swap-in or major-fault rate above the thresholds */
    bool rising;         /* this sample set a new peak */
    uint64_t rise_kib;   /* by how much (0 unless rising) */
    /* how much more the demand will likely be by the time memory arrives,
     * from its rise since the last report: headroom, part of the desired
     * memory (given up first when the host is short), not of the need */
    uint64_t trend_kib;
    /* not rising, and the trend below the last cycle's: a ramp that
     * stopped, its headroom decaying */
    bool trend_falling;
    uint64_t current_kib; /* this sample's demand, pressure included, no peak: what it uses */
} PolicyDemand;

/* What the demand estimate needs to know of the domain and the daemon. */
typedef struct {
    /* <memballoon autodeflate='on'>: the guest's MemAvailable is measured
     * against a MemTotal that keeps the ballooned pages */
    bool autodeflate;
    /* a shrink we asked for that QEMU's figure does not show yet */
    uint64_t in_flight_shrink_kib;
    uint64_t report_period_us; /* the guest's stats period; 0: 1 s */
    /* how long a rise goes on before memory arrives: the stats period,
     * the cycle and the grow mechanism's latency (computed only when a
     * rise is seen); caps NULL: 2 s */
    const PolicyDomainCaps *caps;
    uint64_t interval_us;
    uint64_t balloon_kib;
} PolicyDemandContext;

/* The largest rise of demand in one report lately (burst-headroom:
 * learn), decayed over ten demand half-lives to now_us. */
uint64_t policy_demand_burst_kib(const PolicyTuning *tuning, const PolicyDomainState *st,
                                 uint64_t now_us);

/* Stats too old (older than tuning.stale_periods × the stats period, by
 * the guest's last_update against the sample's wall clock) or absent. */
bool policy_sample_is_stale(const PolicyTuning *tuning, const PolicyDomainCaps *caps,
                            const PolicyDomainSample *sample);

/* No trend across a silence (stale stats, a domain held, a reconnect):
 * the last report's figures are forgotten, so the next report is compared
 * with nothing. */
void policy_demand_forget_reports(PolicyDomainState *st);

/* Estimate this cycle's demand and advance st (counters, decaying peak).
 * now_us is used when the sample carries no timestamp; ctx may be NULL
 * (defaults: no autodeflate, nothing in flight, 1 s reports, 2 s reaction).
 * Returns 0, or -ENODATA when the sample has neither usable nor
 * unused figures (then *ret and st are untouched). */
int policy_demand_update(const PolicyTuning *tuning, const PolicyDemandContext *ctx,
                         const PolicyDomainSample *sample, PolicyDomainState *st, uint64_t now_us,
                         PolicyDemand *ret);
