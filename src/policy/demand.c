/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "demand-private.h"

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
 * under a second later; a DIMM is online about a second after its attach.
 * (A plug that needs a new memory block in a guest short of memory took
 * two seconds and more on TCG, bench/e2e-ramp.sh; counting 2 s, or 1 s,
 * here cost dynmem-sim's virtio-mem builds without deflate-on-oom more
 * ticks out of memory, 43 -> 65 and 48: the larger ramp headroom is
 * taken from the other guests of a short host.) */
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

void policy_demand_timing(const PolicyDemandContext *ctx, const PolicyDomainSample *sample,
                          const PolicyDomainState *st, uint64_t now_us, PolicyDemandTiming *ret)
{
    uint64_t ts = sample->timestamp_us ? sample->timestamp_us : now_us;
    bool have_prev = st->initialized && st->prev_timestamp_us > 0 && ts > st->prev_timestamp_us;

    *ret = (PolicyDemandTiming){
        .ts_us = ts,
        .have_prev = have_prev,
        .dt_us = have_prev ? ts - st->prev_timestamp_us : 0,
        /* A new report from the guest (with no last_update, every sample
         * is taken as one): the guest reports once a stats period, we may
         * look more often, and a report seen twice says nothing new. */
        .new_report = sample->last_update_s <= 0 || !st->initialized ||
                      sample->last_update_s != st->prev_last_update_s,
        .period_us = ctx->report_period_us ? ctx->report_period_us : REPORT_PERIOD_US_DEFAULT,
    };
}

int policy_demand_raw(const PolicyDomainSample *sample, PolicyDomainState *st, bool new_report,
                      PolicyDemandRaw *ret)
{
    uint64_t assigned = sample->assigned_kib;
    PolicyDemandRaw raw = {0};

    if (sample->has_usable && sample->has_available &&
        sample->available_kib >= sample->usable_kib &&
        (st->reserve_known || sample->available_kib <= assigned)) {
        raw.consistent = true;
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
            raw.relearnt = st->reserve_known && st->reserve_kib != assigned - sample->available_kib;
            st->reserve_kib = assigned - sample->available_kib;
            st->reserve_known = true;
        }
        if (st->reserve_known)
            raw.raw_kib = kib_add(sample->available_kib - sample->usable_kib, st->reserve_kib);
        else
            raw.raw_kib = kib_sub(assigned, sample->usable_kib);
    } else if (sample->has_usable) {
        /* includes the guest kernel's own reserve, which MemAvailable hides */
        raw.raw_kib = kib_sub(assigned, sample->usable_kib);
    } else if (sample->has_unused) {
        raw.raw_kib = kib_sub(assigned, kib_add(sample->unused_kib, sample->disk_caches_kib));
        raw.coarse = true;
    } else {
        return -ENODATA;
    }
    *ret = raw;
    return 0;
}

/* What the guest's report has free on the assigned - free path. */
static inline uint64_t report_free_kib(const PolicyDomainSample *sample)
{
    return sample->has_usable ? sample->usable_kib
                              : kib_add(sample->unused_kib, sample->disk_caches_kib);
}

uint64_t policy_demand_unskew(const PolicyDomainState *st, const PolicyDomainSample *sample,
                              const PolicyDemandTiming *tm, const PolicyDemandRaw *raw)
{
    uint64_t free_kib = report_free_kib(sample);

    /* assigned - usable puts QEMU's figure of now beside the guest's
     * figure of its last report. A report the guest has not renewed says
     * nothing new: the demand read from it stands (read against a grant
     * landed since, it would be the grant: measured on real guests, a
     * deflate-on-oom guest grown to about 512 MiB read 579 MiB of demand,
     * and the decaying peak held it). */
    if (raw->consistent || !st->initialized || st->prev_raw_demand_kib == 0)
        return raw->raw_kib;
    if (!tm->new_report)
        return st->prev_raw_demand_kib;
    /* A new report is read as it is, even one stamped in the second of a
     * grant that it may predate: reading those against the figure before
     * the grant read every report of a ramp we grow each cycle one grant
     * short, and dynmem-sim's builds ran out at their balloon ceiling
     * (scale-1000: 1,506 ticks out of memory against none). Except a
     * report with (next to) nothing free, which shows only a lower bound
     * of the demand: read against a grant it predates it is the whole
     * grant (on real guests, a deflate-on-oom guest that had just taken
     * its step back read 640 MiB of demand at its 640 MiB ceiling for
     * about 512, was given a DIMM, and a guest ramping beside it under a
     * pool was OOM-killed). Such a report, stamped no later than the
     * second of the last cycle's sample after a grow, is read against the
     * figure before the grow, never below the last report's demand; a
     * guest still short says so again in its next report. */
    if (sample->assigned_kib > st->prev_assigned_kib && st->prev_assigned_kib > 0 &&
        free_kib < sample->assigned_kib / 100 && sample->last_update_s > 0 &&
        st->prev_wallclock_s > 0 && sample->last_update_s <= st->prev_wallclock_s)
        return kib_max(st->prev_raw_demand_kib, kib_sub(st->prev_assigned_kib, free_kib));
    return raw->raw_kib;
}

uint64_t policy_demand_unmask_inflation(const PolicyDemandContext *ctx, const PolicyDomainState *st,
                                        const PolicyDemandRaw *raw)
{
    /* An autodeflate guest is measured by assigned - usable (its MemTotal
     * keeps the ballooned pages). While a shrink of ours is in flight the
     * guest's report may show the balloon inflated while QEMU's figure
     * (libvirt's last, throttled balloon event) does not yet: the inflation
     * reads as demand. A rise since the last report is taken as the
     * balloon, up to what is still in flight, so neither this cycle nor
     * the decaying peak keeps the misreading. A real rise hidden this way
     * costs the guest nothing it cannot take back: it deflates on OOM. */
    if (!raw->consistent && ctx->autodeflate && ctx->in_flight_shrink_kib > 0 && st->initialized &&
        st->prev_raw_demand_kib > 0 && raw->raw_kib > st->prev_raw_demand_kib)
        return raw->raw_kib -
               kib_min(raw->raw_kib - st->prev_raw_demand_kib, ctx->in_flight_shrink_kib);
    return raw->raw_kib;
}

bool policy_demand_pressure(const PolicyTuning *tuning, const PolicyDomainSample *sample,
                            const PolicyDomainState *st, const PolicyDemandTiming *tm,
                            uint64_t *ret_swapped_in_kib)
{
    bool pressure = false;

    *ret_swapped_in_kib = 0;
    /* Swap-in or major faults since the last sample: the guest needs more
     * than it has, by at least what it had to read back. A counter that went
     * backwards (guest reboot) only rebases. */
    if (tm->have_prev && sample->has_swap_in && st->prev_has_swap_in &&
        sample->swap_in_kib >= st->prev_swap_in_kib) {
        *ret_swapped_in_kib = sample->swap_in_kib - st->prev_swap_in_kib;
        if (rate_above(*ret_swapped_in_kib, tm->dt_us, tuning->pressure_swap_in_kib_s))
            pressure = true;
    }
    if (tm->have_prev && sample->has_major_faults && st->prev_has_major_faults &&
        sample->major_faults >= st->prev_major_faults &&
        rate_above(sample->major_faults - st->prev_major_faults, tm->dt_us,
                   tuning->pressure_major_faults_s))
        pressure = true;
    return pressure;
}

void policy_demand_forget_reports(PolicyDomainState *st)
{
    st->prev_raw_demand_kib = 0;
    st->prev_report_assigned_kib = 0;
    st->prev_report_free_kib = 0;
    st->prev_report_current_kib = 0;
    policy_trim_hold_forget(st);
}

bool policy_demand_comparable(const PolicyDomainState *st, const PolicyDemandTiming *tm,
                              const PolicyDemandRaw *raw, uint64_t assigned_kib)
{
    /* Only from report to report; on the consistent path our own grants
     * do not move the figure (MemTotal and MemAvailable rise together),
     * unless the reserve was just relearnt; on the assigned - usable path
     * they do, so there only while assigned stood still. */
    return tm->have_prev && tm->new_report &&
           (raw->consistent ? !raw->relearnt : assigned_kib == st->prev_assigned_kib);
}

bool policy_demand_trend_base(const PolicyDemandContext *ctx, const PolicyDomainState *st,
                              const PolicyDomainSample *sample, const PolicyDemandTiming *tm,
                              const PolicyDemandRaw *raw, bool comparable, uint64_t *ret_base_kib)
{
    uint64_t free_kib;

    *ret_base_kib = raw->raw_kib;
    /* A guest grown every cycle (a ramp we follow; an autodeflate guest is
     * always read this way) never has assigned standing still, so it never
     * showed a trend (found by dynmem-sim: a 256 MiB/s build kept about
     * 30 MiB of headroom and ran out at its boot size). Read the rise as
     * the fall of its free memory instead: the workload grew by at least
     * that, whatever of ours landed between the reports (a grant raises
     * the free figure), whichever report the grant predates (the plain
     * rise of raw demand would read a grant the last report predated as
     * a rise). */
    if (raw->consistent || !tm->have_prev || !tm->new_report || st->prev_report_assigned_kib == 0)
        return comparable;
    free_kib = report_free_kib(sample);
    if (sample->assigned_kib < st->prev_report_assigned_kib || ctx->in_flight_shrink_kib > 0) {
        /* A shrink of ours landed since the last report or is under way.
         * The balloon inflating takes free memory too: the free figure's
         * fall beyond what landed and what is still in flight is the
         * workload's. (Measured on a real guest, a 64 MiB/s ramp that
         * began as a 34 MiB trim was in flight: its free figure fell 90
         * MiB in one report; read as no trend, it was not grown that
         * cycle and was OOM-killed at its boot size before the next
         * cycle's grow was plugged.) When the last report already showed
         * part of the inflation, that fall counts it twice; an autodeflate
         * guest's raw figure, its inflation in flight unmasked
         * (policy_demand_unmask_inflation()) and with no grant of ours
         * since that report (a grant its report has not seen yet would
         * read as a rise), reads it right: a ramp that began as a trim
         * landed read 0 for 32 MiB by the fall, and was OOM-killed the
         * same way. The larger of the two: a ramp read short is a guest
         * out of memory. (Another guest's raw figure is the fall's own
         * reading: assigned - free.) */
        uint64_t inflating = kib_add(kib_sub(st->prev_report_assigned_kib, sample->assigned_kib),
                                     ctx->in_flight_shrink_kib);
        uint64_t fall = kib_sub(st->prev_report_free_kib, free_kib);

        *ret_base_kib = kib_add(st->prev_raw_demand_kib, kib_sub(fall, inflating));
        if (ctx->autodeflate && sample->assigned_kib <= st->prev_report_assigned_kib)
            *ret_base_kib = kib_max(*ret_base_kib, raw->raw_kib);
        return true;
    }
    *ret_base_kib = kib_add(st->prev_raw_demand_kib, kib_sub(st->prev_report_free_kib, free_kib));
    return true;
}

uint64_t policy_demand_trend(const PolicyTuning *tuning, const PolicyDemandContext *ctx,
                             const PolicyDomainState *st, const PolicyDemandTiming *tm,
                             uint64_t raw_kib, bool comparable)
{
    uint64_t trend = 0;

    /* A workload that grew since the last report will most likely grow as
     * much again before more memory can arrive: the stats period, the
     * cycle and the guest taking the memory each cost about a second
     * (measured on real guests: a 24 MiB/s ramp with a 25 % buffer of a
     * small guest was OOM-killed every time without this). So expect two
     * more such rises (at most the demand again) as headroom. */
    /* A guest with (next to) nothing available, or swapping, shows only a
     * lower bound of its demand; a rise from such a report is the
     * unhidden demand, not a trend. */
    /* The headroom is the rise of one report carried over the reaction
     * time: reports every period, the rise consumes reaction / period
     * reports' worth before memory arrives. */
    if (comparable && st->prev_raw_demand_kib > 0 && raw_kib > st->prev_raw_demand_kib &&
        !st->prev_saturated) {
        /* up to 3602 rises (an hour's cycle): saturated at the demand */
        unsigned __int128 t = (unsigned __int128)(raw_kib - st->prev_raw_demand_kib) *
                              reaction_us(ctx, tm->period_us) / tm->period_us;

        trend = t < raw_kib ? (uint64_t)t : raw_kib;
    }
    /* held like the demand peak: a ramp seen once a report (the guest
     * reports once a second, we may look more often) keeps its headroom */
    uint64_t held =
        tm->have_prev ? decay(st->trend_peak_kib, tm->dt_us, tuning->demand_half_life_us) : 0;
    return kib_max(trend, held);
}

uint64_t policy_demand_current(const PolicyTuning *tuning, const PolicyDemandTiming *tm,
                               uint64_t raw_kib, uint64_t assigned_kib, bool pressure,
                               uint64_t swapped_in_kib)
{
    /* Read back after a gap (stale stats, a domain held) the counter holds
     * the whole gap's swap-in: spread it over the gap, one report's share
     * is this cycle's pressure (seen on the fake backend: a guest grown to
     * 6.6 GiB for a 1.2 GiB need after eight held cycles). */
    if (tm->dt_us > kib_mul(tm->period_us, STALE_PERIODS_DEFAULT))
        swapped_in_kib = (uint64_t)((unsigned __int128)swapped_in_kib * tm->period_us / tm->dt_us);
    if (!pressure)
        return raw_kib;
    return kib_add(raw_kib,
                   kib_max(kib_pct(assigned_kib, tuning->pressure_boost_pct), swapped_in_kib));
}

void policy_demand_note_burst(const PolicyTuning *tuning, PolicyDomainState *st,
                              const PolicyDemandTiming *tm, bool comparable, uint64_t current_kib)
{
    /* The burst is measured with the pressure correction: a step the guest
     * could not hold shows in MemAvailable only up to what it had, the
     * rest in what it swapped. */
    if (!comparable || st->prev_report_current_kib == 0 ||
        current_kib <= st->prev_report_current_kib)
        return;
    uint64_t rise = current_kib - st->prev_report_current_kib;

    /* kept undecayed with its time: decayed only when compared or read */
    if (rise >= st->burst_peak_kib || rise > policy_demand_burst_kib(tuning, st, tm->ts_us)) {
        st->burst_peak_kib = rise;
        st->burst_peak_us = tm->ts_us;
    }
}

uint64_t policy_demand_peak(const PolicyTuning *tuning, const PolicyDomainState *st, uint64_t ts_us,
                            uint64_t current_kib, uint64_t *ret_rise_kib)
{
    *ret_rise_kib = 0;
    /* Fast rise, slow decay: the peak falls toward the current demand by
     * half its excess every half-life, so a pausing workload keeps its
     * memory for a while. */
    if (st->initialized && st->demand_peak_kib > current_kib) {
        uint64_t excess = st->demand_peak_kib - current_kib;
        uint64_t since = ts_us > st->demand_peak_us ? ts_us - st->demand_peak_us : 0;

        return current_kib + decay(excess, since, tuning->demand_half_life_us);
    }
    if (st->initialized && current_kib > st->demand_peak_kib)
        *ret_rise_kib = current_kib - st->demand_peak_kib;
    return current_kib;
}

void policy_demand_remember(PolicyDomainState *st, const PolicyDomainSample *sample,
                            const PolicyDemandTiming *tm, const PolicyDemand *d, bool saturated)
{
    st->demand_peak_kib = d->demand_kib;
    st->demand_peak_us = tm->ts_us;
    st->prev_timestamp_us = tm->ts_us;
    st->prev_assigned_kib = sample->assigned_kib;
    if (tm->new_report) {
        st->prev_report_current_kib = d->current_kib;
        st->prev_raw_demand_kib = d->raw_kib;
        st->prev_report_assigned_kib = sample->assigned_kib;
        st->prev_report_free_kib = report_free_kib(sample);
        st->prev_saturated = saturated;
    }
    st->prev_last_update_s = sample->last_update_s;
    st->prev_wallclock_s = sample->wallclock_s;
    st->trend_peak_kib = d->trend_kib;
    st->prev_available_kib = sample->has_available ? sample->available_kib : 0;
    st->prev_has_swap_in = sample->has_swap_in;
    st->prev_swap_in_kib = sample->swap_in_kib;
    st->prev_has_major_faults = sample->has_major_faults;
    st->prev_major_faults = sample->major_faults;
    st->under_pressure = d->pressure;
}

/* The steps are functions of their own for their tests; flattened here,
 * the cycle pays nothing for that (measured with bench-policy under
 * callgrind: as calls, they cost 4 % more instructions a cycle). */
__attribute__((flatten)) int policy_demand_update(const PolicyTuning *tuning,
                                                  const PolicyDemandContext *ctx,
                                                  const PolicyDomainSample *sample,
                                                  PolicyDomainState *st, uint64_t now_us,
                                                  PolicyDemand *ret)
{
    static const PolicyDemandContext no_ctx = {0};
    uint64_t assigned = sample->assigned_kib, swapped_in;
    PolicyDemandTiming tm;
    PolicyDemandRaw raw;
    PolicyDemand d = {0};
    bool comparable, saturated;

    if (!ctx)
        ctx = &no_ctx;
    policy_demand_timing(ctx, sample, st, now_us, &tm);
    if (policy_demand_raw(sample, st, tm.new_report, &raw) < 0)
        return -ENODATA;
    raw.raw_kib = policy_demand_unskew(st, sample, &tm, &raw);
    raw.raw_kib = policy_demand_unmask_inflation(ctx, st, &raw);
    d.raw_kib = raw.raw_kib;
    d.coarse = raw.coarse;
    d.pressure = policy_demand_pressure(tuning, sample, st, &tm, &swapped_in);
    saturated = d.pressure || (sample->has_usable && sample->usable_kib < assigned / 100);
    comparable = policy_demand_comparable(st, &tm, &raw, assigned);
    {
        uint64_t base;
        bool readable = policy_demand_trend_base(ctx, st, sample, &tm, &raw, comparable, &base);

        d.trend_kib = policy_demand_trend(tuning, ctx, st, &tm, base, readable);
    }
    d.current_kib = policy_demand_current(tuning, &tm, d.raw_kib, assigned, d.pressure, swapped_in);
    policy_demand_note_burst(tuning, st, &tm, comparable, d.current_kib);
    d.demand_kib = policy_demand_peak(tuning, st, tm.ts_us, d.current_kib, &d.rise_kib);
    d.rising = d.rise_kib > 0;
    d.trend_falling = !d.rising && d.trend_kib < st->trend_peak_kib;
    policy_demand_remember(st, sample, &tm, &d, saturated);
    *ret = d;
    return 0;
}
