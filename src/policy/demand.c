/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "demand.h"

#include "kib-math.h"
#include "planner.h"

#include <errno.h>
#include <math.h>

/* DESIGN.md §3.3: "older than 3 stats periods" when tuning leaves it 0 */
#define STALE_PERIODS_DEFAULT 3
/* Without a context: reports once a second (the stats period we set), and
 * memory arrives two reports after a rise (the report, the cycle). */
#define REPORT_PERIOD_US_DEFAULT 1000000
#define REACTION_US_DEFAULT      2000000
/* The learnt burst (the largest step in one report) is kept this many
 * demand half-lives: a workload that stepped once will likely step again,
 * later than a ramp resumes. */
#define BURST_HALF_LIFE_FACTOR 10

bool policy_sample_is_stale(const PolicyTuning *tuning, const PolicyDomainCaps *caps,
                            const PolicyDomainSample *sample)
{
    uint32_t periods = tuning->stale_periods ? tuning->stale_periods : STALE_PERIODS_DEFAULT;
    int64_t age;

    if (!sample || !sample->has_balloon_stats)
        return true;
    /* an unknown last_update (test driver, some drivers) cannot be judged */
    if (sample->last_update_s <= 0 || sample->wallclock_s <= 0 || caps->stats_period_s == 0)
        return false;
    age = sample->wallclock_s - sample->last_update_s;
    return age > (int64_t)periods * (int64_t)caps->stats_period_s;
}

/* value halved every half_life_us over elapsed_us (half-life 0: gone). */
static uint64_t decay(uint64_t value, uint64_t elapsed_us, uint64_t half_life_us)
{
    if (half_life_us == 0)
        return 0;
    if (elapsed_us == 0 || value == 0)
        return value;
    return (uint64_t)((double)value * exp2(-(double)elapsed_us / (double)half_life_us));
}

/* How long memory takes to reach the guest after the cycle that grants
 * it, by the mechanism the next grow would use (measured on this kind of
 * machine, docs/benchmarks.md and docs/e2e-guest.md): the balloon deflates
 * within the cycle it is asked in; a virtio-mem plug is in the guest well
 * under a second later; a DIMM is online about a second after its attach. */
#define LATENCY_BALLOON_US    0
#define LATENCY_VIRTIO_MEM_US 500000
#define LATENCY_DIMM_US       1000000

/* Stats period + cycle + the latency of the mechanism the next grow
 * would use: how long a rising demand goes on before memory arrives. */
static uint64_t reaction_us(const PolicyDemandContext *ctx, uint64_t period)
{
    const PolicyDomainCaps *caps = ctx->caps;
    uint64_t r = kib_add(period, ctx->interval_us ? ctx->interval_us : REPORT_PERIOD_US_DEFAULT);
    size_t n_vm;

    if (!caps)
        return REACTION_US_DEFAULT;
    if (ctx->balloon_kib < caps->balloon_max_kib)
        return r + LATENCY_BALLOON_US;
    n_vm = kib_min(caps->n_virtio_mem, POLICY_MAX_VIRTIO_MEM);
    for (size_t i = 0; i < n_vm; i++)
        if (caps->virtio_mem[i].current_kib < caps->virtio_mem[i].size_kib)
            return r + LATENCY_VIRTIO_MEM_US;
    if (policy_caps_dimm_room_kib(caps) > 0)
        return r + LATENCY_DIMM_US;
    return r;
}

uint64_t policy_demand_burst_kib(const PolicyTuning *tuning, const PolicyDomainState *st,
                                 uint64_t now_us)
{
    return decay(st->burst_peak_kib, kib_sub(now_us, st->burst_peak_us),
                 kib_mul(tuning->demand_half_life_us, BURST_HALF_LIFE_FACTOR));
}

/* delta / dt_us above threshold_per_s? (threshold 0: the signal is off) */
static bool rate_above(uint64_t delta, uint64_t dt_us, uint64_t threshold_per_s)
{
    if (threshold_per_s == 0 || dt_us == 0)
        return false;
    return (unsigned __int128)delta * 1000000u > (unsigned __int128)threshold_per_s * dt_us;
}

int policy_demand_update(const PolicyTuning *tuning, const PolicyDemandContext *ctx,
                         const PolicyDomainSample *sample, PolicyDomainState *st, uint64_t now_us,
                         PolicyDemand *ret)
{
    static const PolicyDemandContext no_ctx = {0};
    PolicyDemand d = {0};
    uint64_t ts = sample->timestamp_us ? sample->timestamp_us : now_us;
    uint64_t assigned = sample->assigned_kib, swapped_in = 0;
    bool have_prev = st->initialized && st->prev_timestamp_us > 0 && ts > st->prev_timestamp_us;
    uint64_t dt = have_prev ? ts - st->prev_timestamp_us : 0;

    /* A new report from the guest (with no last_update, every sample is
     * taken as one): the guest reports once a stats period, we may look
     * more often, and a report seen twice says nothing new. */
    bool new_report = sample->last_update_s <= 0 || !st->initialized ||
                      sample->last_update_s != st->prev_last_update_s;
    bool consistent = false, relearnt = false;
    uint64_t period = REPORT_PERIOD_US_DEFAULT;

    if (!ctx)
        ctx = &no_ctx;
    if (ctx->report_period_us)
        period = ctx->report_period_us;

    if (sample->has_usable && sample->has_available &&
        sample->available_kib >= sample->usable_kib &&
        (st->reserve_known || sample->available_kib <= assigned)) {
        consistent = true;
        /* assigned comes from QEMU, usable and available from the guest's
         * last report: while the balloon moves they disagree by what is in
         * flight (measured: a 128 MiB inflation read as 128 MiB more
         * demand for a cycle). MemTotal - MemAvailable is one consistent
         * guest view; add the kernel's reserve, learnt when nothing moved. */
        /* At first sight nothing of ours is in flight, so the first
         * report is taken as settled too (an error there overstates
         * demand, the safe way, until the next settled report). */
        /* (Hot-plugged memory shows in the guest's MemTotal before
         * libvirt's figure catches up: only a report with MemTotal within
         * assigned teaches anything.) */
        /* Settled: a new report whose MemTotal equals the last one's, and
         * QEMU's figure unchanged since the last cycle. (An old report
         * read again after a grow would teach a reserve too big by it.) */
        if (sample->available_kib <= assigned &&
            (!st->reserve_known || (new_report && st->prev_assigned_kib == assigned &&
                                    st->prev_available_kib == sample->available_kib))) {
            relearnt = st->reserve_known && st->reserve_kib != assigned - sample->available_kib;
            st->reserve_kib = assigned - sample->available_kib;
            st->reserve_known = true;
        }
        if (st->reserve_known)
            d.raw_kib = kib_add(sample->available_kib - sample->usable_kib, st->reserve_kib);
        else
            d.raw_kib = kib_sub(assigned, sample->usable_kib);
    } else if (sample->has_usable) {
        /* includes the guest kernel's own reserve, which MemAvailable hides */
        d.raw_kib = kib_sub(assigned, sample->usable_kib);
    } else if (sample->has_unused) {
        d.raw_kib = kib_sub(assigned, kib_add(sample->unused_kib, sample->disk_caches_kib));
        d.coarse = true;
    } else {
        return -ENODATA;
    }

    /* An autodeflate guest is measured by assigned - usable (its MemTotal
     * keeps the ballooned pages). While a shrink of ours is in flight the
     * guest's report may show the balloon inflated while QEMU's figure
     * (libvirt's last, throttled balloon event) does not yet: the inflation
     * reads as demand. A rise since the last report is taken as the
     * balloon, up to what is still in flight, so neither this cycle nor
     * the decaying peak keeps the misreading. A real rise hidden this way
     * costs the guest nothing it cannot take back: it deflates on OOM. */
    if (!consistent && ctx->autodeflate && ctx->in_flight_shrink_kib > 0 && st->initialized &&
        st->prev_raw_demand_kib > 0 && d.raw_kib > st->prev_raw_demand_kib)
        d.raw_kib -= kib_min(d.raw_kib - st->prev_raw_demand_kib, ctx->in_flight_shrink_kib);

    /* Swap-in or major faults since the last sample: the guest needs more
     * than it has, by at least what it had to read back. A counter that went
     * backwards (guest reboot) only rebases. */
    if (have_prev && sample->has_swap_in && st->prev_has_swap_in &&
        sample->swap_in_kib >= st->prev_swap_in_kib) {
        swapped_in = sample->swap_in_kib - st->prev_swap_in_kib;
        if (rate_above(swapped_in, dt, tuning->pressure_swap_in_kib_s))
            d.pressure = true;
    }
    if (have_prev && sample->has_major_faults && st->prev_has_major_faults &&
        sample->major_faults >= st->prev_major_faults &&
        rate_above(sample->major_faults - st->prev_major_faults, dt,
                   tuning->pressure_major_faults_s))
        d.pressure = true;

    /* A workload that grew since the last report will most likely grow as
     * much again before more memory can arrive: the stats period, the
     * cycle and the guest taking the memory each cost about a second
     * (measured on real guests: a 24 MiB/s ramp with a 25 % buffer of a
     * small guest was OOM-killed every time without this). So expect two
     * more such rises (at most the demand again) as headroom. */
    /* A guest with (next to) nothing available, or swapping, shows only a
     * lower bound of its demand; a rise from such a report is the
     * unhidden demand, not a trend. */
    /* Only from report to report; on the consistent path our own grants
     * do not move the figure (MemTotal and MemAvailable rise together),
     * unless the reserve was just relearnt; on the assigned - usable path
     * they do, so there only while assigned stood still. */
    /* The headroom is the rise of one report carried over the reaction
     * time: reports every period, the rise consumes reaction / period
     * reports' worth before memory arrives. */
    bool saturated = d.pressure || (sample->has_usable && sample->usable_kib < assigned / 100);
    uint64_t now_demand = d.raw_kib;
    bool comparable = have_prev && new_report && st->prev_raw_demand_kib > 0 &&
                      d.raw_kib > st->prev_raw_demand_kib &&
                      (consistent ? !relearnt : assigned == st->prev_assigned_kib);
    if (comparable && !st->prev_saturated) {
        /* up to 3602 rises (an hour's cycle): saturated at the demand */
        unsigned __int128 t = (unsigned __int128)(d.raw_kib - st->prev_raw_demand_kib) *
                              reaction_us(ctx, period) / period;

        d.trend_kib = t < d.raw_kib ? (uint64_t)t : d.raw_kib;
    }
    /* held like the demand peak: a ramp seen once a report (the guest
     * reports once a second, we may look more often) keeps its headroom */
    uint64_t held = have_prev ? decay(st->trend_peak_kib, dt, tuning->demand_half_life_us) : 0;
    d.trend_kib = kib_max(d.trend_kib, held);
    /* Read back after a gap (stale stats, a domain held) the counter holds
     * the whole gap's swap-in: spread it over the gap, one report's share
     * is this cycle's pressure (seen on the fake backend: a guest grown to
     * 6.6 GiB for a 1.2 GiB need after eight held cycles). */
    if (dt > kib_mul(period, STALE_PERIODS_DEFAULT))
        swapped_in = (uint64_t)((unsigned __int128)swapped_in * period / dt);
    if (d.pressure)
        now_demand =
            kib_add(now_demand, kib_max(kib_pct(assigned, tuning->pressure_boost_pct), swapped_in));
    d.current_kib = now_demand;
    /* ... measured with the pressure correction: a step the guest could
     * not hold shows in MemAvailable only up to what it had, the rest in
     * what it swapped */
    if (have_prev && new_report && st->prev_report_current_kib > 0 &&
        now_demand > st->prev_report_current_kib &&
        (consistent ? !relearnt : assigned == st->prev_assigned_kib)) {
        uint64_t rise = now_demand - st->prev_report_current_kib;

        /* kept undecayed with its time: decayed only when compared or read */
        if (rise >= st->burst_peak_kib || rise > policy_demand_burst_kib(tuning, st, ts)) {
            st->burst_peak_kib = rise;
            st->burst_peak_us = ts;
        }
    }

    /* Fast rise, slow decay: the peak falls toward the current demand by
     * half its excess every half-life, so a pausing workload keeps its
     * memory for a while. */
    uint64_t eff = now_demand;
    if (st->initialized && st->demand_peak_kib > now_demand) {
        uint64_t excess = st->demand_peak_kib - now_demand;
        uint64_t since = ts > st->demand_peak_us ? ts - st->demand_peak_us : 0;

        excess = decay(excess, since, tuning->demand_half_life_us);
        eff = now_demand + excess;
    } else {
        d.rising = st->initialized && now_demand > st->demand_peak_kib;
        if (d.rising)
            d.rise_kib = now_demand - st->demand_peak_kib;
    }
    d.demand_kib = eff;

    st->demand_peak_kib = eff;
    st->demand_peak_us = ts;
    st->prev_timestamp_us = ts;
    st->prev_assigned_kib = assigned;
    if (new_report) {
        st->prev_report_current_kib = now_demand;
        st->prev_raw_demand_kib = d.raw_kib;
        st->prev_saturated = saturated;
    }
    st->prev_last_update_s = sample->last_update_s;
    st->trend_peak_kib = d.trend_kib;
    st->prev_available_kib = sample->has_available ? sample->available_kib : 0;
    st->prev_has_swap_in = sample->has_swap_in;
    st->prev_swap_in_kib = sample->swap_in_kib;
    st->prev_has_major_faults = sample->has_major_faults;
    st->prev_major_faults = sample->major_faults;
    st->under_pressure = d.pressure;
    *ret = d;
    return 0;
}
