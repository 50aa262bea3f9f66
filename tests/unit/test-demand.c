/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The steps of the demand estimate (demand-private.h), each alone. The
 * stories they make together are test-engine.c's.
 */
#include "demand-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#define M   UINT64_C(1024)
#define G   (UINT64_C(1024) * 1024)
#define SEC UINT64_C(1000000)

static const PolicyTuning tuning = {
    .demand_half_life_us = 10 * SEC,
    .pressure_swap_in_kib_s = 1024,
    .pressure_major_faults_s = 100,
    .pressure_boost_pct = 10,
};

static void test_timing(void **state)
{
    PolicyDomainState st = {0};
    PolicyDomainSample s = {.last_update_s = 50};
    PolicyDemandContext ctx = {0};
    PolicyDemandTiming tm;

    /* first sight: the sample has no time, so now; every report is new */
    policy_demand_timing(&ctx, &s, &st, 7 * SEC, &tm);
    assert_int_equal(tm.ts_us, 7 * SEC);
    assert_false(tm.have_prev);
    assert_int_equal(tm.dt_us, 0);
    assert_true(tm.new_report);
    assert_int_equal(tm.period_us, 1 * SEC);

    /* the same guest report again, 2 s later, with a 5 s stats period */
    st.initialized = true;
    st.prev_timestamp_us = 5 * SEC;
    st.prev_last_update_s = 50;
    ctx.report_period_us = 5 * SEC;
    s.timestamp_us = 7 * SEC;
    policy_demand_timing(&ctx, &s, &st, 99 * SEC, &tm);
    assert_int_equal(tm.ts_us, 7 * SEC);
    assert_true(tm.have_prev);
    assert_int_equal(tm.dt_us, 2 * SEC);
    assert_false(tm.new_report);
    assert_int_equal(tm.period_us, 5 * SEC);

    /* a clock that went back is no earlier sample; no last_update: new */
    s.timestamp_us = 4 * SEC;
    s.last_update_s = 0;
    policy_demand_timing(&ctx, &s, &st, 99 * SEC, &tm);
    assert_false(tm.have_prev);
    assert_true(tm.new_report);
}

static void test_raw(void **state)
{
    PolicyDomainState st = {0}, before;
    PolicyDemandRaw raw;

    /* MemTotal and MemAvailable: the reserve is learnt at first sight */
    PolicyDomainSample s = {.assigned_kib = 2 * G,
                            .has_usable = true,
                            .usable_kib = 1 * G,
                            .has_available = true,
                            .available_kib = 2 * G - 60 * M};
    assert_int_equal(policy_demand_raw(&s, &st, true, &raw), 0);
    assert_true(raw.consistent);
    assert_false(raw.relearnt);
    assert_false(raw.coarse);
    assert_true(st.reserve_known);
    assert_int_equal(st.reserve_kib, 60 * M);
    assert_int_equal(raw.raw_kib, 1 * G);

    /* a grow in flight (assigned moved): the reserve is kept, the view of
     * the guest stays its own */
    st.prev_assigned_kib = 2 * G;
    st.prev_available_kib = 2 * G - 60 * M;
    s.assigned_kib = 3 * G;
    assert_int_equal(policy_demand_raw(&s, &st, true, &raw), 0);
    assert_int_equal(st.reserve_kib, 60 * M);
    assert_int_equal(raw.raw_kib, 1 * G);

    /* settled again at another size: relearnt */
    st.prev_assigned_kib = 3 * G;
    s.available_kib = 3 * G - 64 * M;
    st.prev_available_kib = s.available_kib;
    assert_int_equal(policy_demand_raw(&s, &st, true, &raw), 0);
    assert_true(raw.relearnt);
    assert_int_equal(st.reserve_kib, 64 * M);

    /* usable alone: assigned - usable; unused alone: coarse */
    PolicyDomainState st2 = {0};
    PolicyDomainSample u = {.assigned_kib = 2 * G, .has_usable = true, .usable_kib = 512 * M};
    assert_int_equal(policy_demand_raw(&u, &st2, true, &raw), 0);
    assert_false(raw.consistent);
    assert_int_equal(raw.raw_kib, 1536 * M);
    PolicyDomainSample c = {.assigned_kib = 2 * G,
                            .has_unused = true,
                            .unused_kib = 256 * M,
                            .disk_caches_kib = 256 * M};
    assert_int_equal(policy_demand_raw(&c, &st2, true, &raw), 0);
    assert_true(raw.coarse);
    assert_int_equal(raw.raw_kib, 1536 * M);

    /* nothing to go by: -ENODATA, the state untouched */
    PolicyDomainSample none = {.assigned_kib = 2 * G};
    before = st;
    assert_int_equal(policy_demand_raw(&none, &st, true, &raw), -ENODATA);
    assert_memory_equal(&before, &st, sizeof(st));
}

static void test_unmask_inflation(void **state)
{
    PolicyDomainState st = {.initialized = true, .prev_raw_demand_kib = 500 * M};
    PolicyDemandContext ctx = {.autodeflate = true, .in_flight_shrink_kib = 128 * M};
    PolicyDemandRaw raw = {.raw_kib = 700 * M};

    /* a rise of 200 MiB, 128 of them our shrink in flight */
    assert_int_equal(policy_demand_unmask_inflation(&ctx, &st, &raw), 572 * M);
    /* a rise smaller than what is in flight: all of it */
    raw.raw_kib = 600 * M;
    assert_int_equal(policy_demand_unmask_inflation(&ctx, &st, &raw), 500 * M);
    /* not autodeflate, the consistent view, or nothing in flight: as read */
    ctx.autodeflate = false;
    assert_int_equal(policy_demand_unmask_inflation(&ctx, &st, &raw), 600 * M);
    ctx.autodeflate = true;
    raw.consistent = true;
    assert_int_equal(policy_demand_unmask_inflation(&ctx, &st, &raw), 600 * M);
    raw.consistent = false;
    ctx.in_flight_shrink_kib = 0;
    assert_int_equal(policy_demand_unmask_inflation(&ctx, &st, &raw), 600 * M);
}

/* assigned - usable beside a report the guest has not renewed, or one
 * with nothing free that may predate a grow */
static void test_unskew(void **state)
{
    /* last cycle: sampled at second 100, 512 MiB assigned, demand 400 */
    PolicyDomainState st = {.initialized = true,
                            .prev_raw_demand_kib = 400 * M,
                            .prev_assigned_kib = 512 * M,
                            .prev_wallclock_s = 100};
    PolicyDomainSample s = {.assigned_kib = 576 * M,
                            .has_usable = true,
                            .usable_kib = 112 * M,
                            .last_update_s = 99,
                            .wallclock_s = 101};
    PolicyDemandTiming old = {.new_report = false}, fresh = {.new_report = true};
    /* a 64 MiB grant landed since: read against it, the old report says 464 */
    PolicyDemandRaw raw = {.raw_kib = 464 * M};

    (void)state;
    /* not renewed: the last report's demand, whatever assigned did */
    assert_int_equal(policy_demand_unskew(&st, &s, &old, &raw), 400 * M);
    raw.raw_kib = 336 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &old, &raw), 400 * M);

    /* a new report with room, stamped in the second of the last sample:
     * as read (a ramp we follow must not read one grant short) */
    s.last_update_s = 100;
    raw.raw_kib = 464 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 464 * M);
    /* ... with nothing free: read against 512, never below 400 */
    s.usable_kib = 2 * M;
    raw.raw_kib = 574 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 510 * M);
    st.prev_raw_demand_kib = 540 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 540 * M);
    st.prev_raw_demand_kib = 400 * M;
    /* ... but stamped after that sample, it saw the grant: as read */
    s.last_update_s = 101;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 574 * M);
    s.last_update_s = 100;
    /* ... no grow since (assigned fell or stood): as read */
    s.assigned_kib = 512 * M;
    raw.raw_kib = 510 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 510 * M);
    s.assigned_kib = 448 * M;
    raw.raw_kib = 446 * M;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 446 * M);
    s.assigned_kib = 576 * M;
    raw.raw_kib = 574 * M;
    /* ... no report time or no sample time to judge by: as read */
    s.last_update_s = 0;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 574 * M);
    s.last_update_s = 100;
    st.prev_wallclock_s = 0;
    assert_int_equal(policy_demand_unskew(&st, &s, &fresh, &raw), 574 * M);
    st.prev_wallclock_s = 100;

    /* the consistent view (MemTotal - MemAvailable), a first sight, or no
     * last report's demand (after a silence): as read */
    raw = (PolicyDemandRaw){.raw_kib = 528 * M, .consistent = true};
    assert_int_equal(policy_demand_unskew(&st, &s, &old, &raw), 528 * M);
    raw.consistent = false;
    st.prev_raw_demand_kib = 0;
    assert_int_equal(policy_demand_unskew(&st, &s, &old, &raw), 528 * M);
    st.prev_raw_demand_kib = 400 * M;
    st.initialized = false;
    assert_int_equal(policy_demand_unskew(&st, &s, &old, &raw), 528 * M);
}

static void test_pressure(void **state)
{
    static const struct {
        uint64_t prev_swap, swap, prev_faults, faults;
        bool want;
        uint64_t want_swapped;
    } cases[] = {
        {0, 0, 0, 0, false, 0},
        {0, 2048, 0, 0, true, 2048},   /* 2 MiB/s over 1 s: above 1 MiB/s */
        {0, 1024, 0, 0, false, 1024},  /* at the rate: not above */
        {0, 0, 0, 101, true, 0},       /* faults above 100/s */
        {4096, 16, 0, 0, false, 0},    /* counter went back: rebased */
        {100, 100, 500, 10, false, 0}, /* both still or back */
    };
    PolicyDemandTiming tm = {.have_prev = true, .dt_us = 1 * SEC, .period_us = 1 * SEC};

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicyDomainState st = {.prev_has_swap_in = true,
                                .prev_swap_in_kib = cases[i].prev_swap,
                                .prev_has_major_faults = true,
                                .prev_major_faults = cases[i].prev_faults};
        PolicyDomainSample s = {.has_swap_in = true,
                                .swap_in_kib = cases[i].swap,
                                .has_major_faults = true,
                                .major_faults = cases[i].faults};
        uint64_t swapped;

        assert_int_equal(policy_demand_pressure(&tuning, &s, &st, &tm, &swapped), cases[i].want);
        assert_int_equal(swapped, cases[i].want_swapped);
    }
}

static void test_trend(void **state)
{
    PolicyDemandContext ctx = {0}; /* no caps: 2 s from a rise to memory */
    PolicyDomainState st = {.prev_raw_demand_kib = 500 * M};
    PolicyDemandTiming tm = {.have_prev = true, .dt_us = 1 * SEC, .period_us = 1 * SEC};

    /* a 100 MiB rise in one 1 s report: twice that before memory arrives */
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 600 * M, true), 200 * M);
    /* not comparable, not a rise, or from a saturated report: none */
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 600 * M, false), 0);
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 400 * M, true), 0);
    st.prev_saturated = true;
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 600 * M, true), 0);
    /* never more than the demand itself */
    st.prev_saturated = false;
    st.prev_raw_demand_kib = 1 * M;
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 600 * M, true), 600 * M);
    /* a trend held from before decays by half a half-life later */
    st.prev_raw_demand_kib = 0;
    st.trend_peak_kib = 200 * M;
    tm.dt_us = 10 * SEC;
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, 600 * M, true), 100 * M);
}

/* A guest grown every cycle is read by assigned - usable and is never
 * comparable: the rise is what its free memory fell since the last
 * report, which no grant of ours can raise. */
static void test_trend_base(void **state)
{
    PolicyDemandContext ctx = {0};
    PolicyDomainState st = {.prev_raw_demand_kib = 1000 * M,
                            .prev_report_assigned_kib = 1200 * M,
                            .prev_report_free_kib = 200 * M};
    PolicyDomainSample s = {.assigned_kib = 1400 * M, .has_usable = true, .usable_kib = 100 * M};
    PolicyDemandTiming tm = {
        .have_prev = true, .new_report = true, .dt_us = 1 * SEC, .period_us = 1 * SEC};
    PolicyDemandRaw raw = {.raw_kib = 1300 * M};
    uint64_t base = 0;

    (void)state;
    /* grown by 200 MiB since that report, 100 MiB less free: the workload
     * grew by 100 MiB at least, and the trend carries it */
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1100 * M);
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 200 * M);
    /* ... whether or not assigned stood still since the last cycle */
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, true, &base));
    assert_int_equal(base, 1100 * M);
    /* a report that predates the grant: free as before, whatever its raw
     * figure, no trend */
    s.usable_kib = 200 * M;
    raw.raw_kib = 1200 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 0);
    raw.raw_kib = 1000 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 0);
    /* a grant larger than the rise: more free, no rise read */
    s.usable_kib = 250 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 0);
    /* the coarse figure (unused + caches) the same way */
    s = (PolicyDomainSample){.assigned_kib = 1400 * M,
                             .has_unused = true,
                             .unused_kib = 64 * M,
                             .disk_caches_kib = 36 * M};
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1100 * M);

    /* A shrink since that report, or one in flight: the balloon takes free
     * memory too. Landed (100 MiB) as the free figure fell by as much:
     * no rise, by either reading (an autodeflate guest: its raw figure
     * comes unmasked) */
    ctx.autodeflate = true;
    s.assigned_kib = 1100 * M;
    s.usable_kib = 100 * M;
    raw.raw_kib = 1000 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 0);
    /* 20 landed and 30 in flight of a 100 MiB fall: a 50 MiB rise (raw
     * 1080, unmasked by the 30 in flight: 1050) */
    s.assigned_kib = 1180 * M;
    ctx.in_flight_shrink_kib = 30 * M;
    raw.raw_kib = 1050 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1050 * M);
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 100 * M);
    /* the last report had shown the inflation already (its raw figure was
     * unmasked to 1000): 100 MiB landed, free fell 32 MiB. The fall less
     * what landed reads nothing; the raw figure reads the 32 MiB rise */
    ctx.in_flight_shrink_kib = 0;
    st.prev_report_free_kib = 100 * M;
    s.assigned_kib = 1100 * M;
    s.usable_kib = 68 * M;
    raw.raw_kib = 1032 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1032 * M);
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 64 * M);
    /* a grant of ours its report has not seen yet, beside a shrink in
     * flight: the raw figure would read the grant as a rise (1170 here);
     * the fall reads none */
    st.prev_report_free_kib = 200 * M;
    s.assigned_kib = 1400 * M;
    s.has_usable = true;
    s.usable_kib = 200 * M;
    ctx.in_flight_shrink_kib = 30 * M;
    raw.raw_kib = 1170 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1000 * M);
    assert_int_equal(policy_demand_trend(&tuning, &ctx, &st, &tm, base, true), 0);
    s.has_usable = false;
    /* another guest's raw figure is assigned - free: the fall's reading,
     * 1050 for a raw figure of 1080 */
    ctx.autodeflate = false;
    s.assigned_kib = 1180 * M;
    ctx.in_flight_shrink_kib = 30 * M;
    st.prev_report_free_kib = 200 * M;
    s.usable_kib = 100 * M;
    raw.raw_kib = 1080 * M;
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_int_equal(base, 1050 * M);
    ctx.in_flight_shrink_kib = 0;
    s.assigned_kib = 1100 * M;
    raw.raw_kib = 1050 * M;
    /* the guest's own view, no new report, no figure from the last report:
     * as comparable says, from the raw figure */
    raw.consistent = true;
    assert_false(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    assert_true(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, true, &base));
    assert_int_equal(base, 1050 * M);
    raw.consistent = false;
    tm.new_report = false;
    assert_false(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
    tm.new_report = true;
    st.prev_report_assigned_kib = 0;
    assert_false(policy_demand_trend_base(&ctx, &st, &s, &tm, &raw, false, &base));
}

/* Through policy_demand_update(): a grant landing between two reports is
 * not read as a trend when assigned stands still at the next report, and
 * a ramp we grow every cycle shows its trend. */
static void test_trend_of_a_grown_guest(void **state)
{
    PolicyDemandContext ctx = {.autodeflate = true};
    PolicyDomainState st = {0};
    PolicyDemand d;
    PolicyDomainSample s = {.has_usable = true, .has_balloon_stats = true};
    struct {
        uint64_t assigned_mib, usable_mib;
        int64_t report_s;
    } cycles[] = {
        /* 1000 MiB, 500 used */
        {1000, 500, 99},
        {1000, 500, 100},
        /* a 200 MiB grant landed before a report stamped in the second of
         * the last sample; the workload grew by 100 */
        {1200, 600, 101},
        /* assigned stands still, the workload grew by 100 more: a rise of
         * 100 (200 MiB of trend) */
        {1200, 500, 102},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cycles); i++) {
        s.timestamp_us = (100 + i) * SEC;
        s.wallclock_s = 100 + (int64_t)i;
        s.assigned_kib = cycles[i].assigned_mib * M;
        s.usable_kib = cycles[i].usable_mib * M;
        s.last_update_s = cycles[i].report_s;
        assert_int_equal(policy_demand_update(&tuning, &ctx, &s, &st, s.timestamp_us, &d), 0);
        st.initialized = true; /* as the engine marks it */
        if (i == 2)
            assert_int_equal(d.trend_kib, 0);
    }
    assert_int_equal(d.raw_kib, 700 * M);
    assert_true(d.trend_kib <= 200 * M);
    assert_true(d.trend_kib >= 150 * M);

    /* a ramp grown every cycle: +100 MiB of workload and +100 of grant a
     * report, but the guest is 20 MiB less free each time */
    for (size_t i = 0; i < 3; i++) {
        s.timestamp_us += SEC;
        s.wallclock_s++;
        s.last_update_s = s.wallclock_s; /* after the last sample: as read */
        s.assigned_kib += 100 * M;
        s.usable_kib -= 20 * M;
        assert_int_equal(policy_demand_update(&tuning, &ctx, &s, &st, s.timestamp_us, &d), 0);
    }
    assert_true(d.trend_kib >= 40 * M);
    assert_false(d.trend_falling);

    /* the workload stands still: the trend held decays, and says so */
    for (size_t i = 0; i < 2; i++) {
        s.timestamp_us += SEC;
        s.wallclock_s++;
        s.last_update_s = s.wallclock_s;
        assert_int_equal(policy_demand_update(&tuning, &ctx, &s, &st, s.timestamp_us, &d), 0);
        assert_false(d.rising);
        assert_true(d.trend_falling);
        assert_true(d.trend_kib > 0);
    }
}

/* After a silence nothing is compared with the last report. */
static void test_forget_reports(void **state)
{
    PolicyDomainState st = {.initialized = true,
                            .prev_raw_demand_kib = 500 * M,
                            .prev_report_assigned_kib = 1 * G,
                            .prev_report_free_kib = 300 * M,
                            .prev_report_current_kib = 520 * M,
                            .demand_peak_kib = 600 * M};

    (void)state;
    policy_demand_forget_reports(&st);
    assert_int_equal(st.prev_raw_demand_kib, 0);
    assert_int_equal(st.prev_report_assigned_kib, 0);
    assert_int_equal(st.prev_report_free_kib, 0);
    assert_int_equal(st.prev_report_current_kib, 0);
    /* the demand's history stays */
    assert_int_equal(st.demand_peak_kib, 600 * M);
}

static void test_current(void **state)
{
    PolicyDemandTiming tm = {.have_prev = true, .dt_us = 1 * SEC, .period_us = 1 * SEC};

    assert_int_equal(policy_demand_current(&tuning, &tm, 1 * G, 2 * G, false, 512 * M), 1 * G);
    /* pressure: the larger of the boost (10 % of assigned) and the swap-in */
    assert_int_equal(policy_demand_current(&tuning, &tm, 1 * G, 2 * G, true, 100 * M),
                     1 * G + 2 * G / 10);
    assert_int_equal(policy_demand_current(&tuning, &tm, 1 * G, 2 * G, true, 512 * M),
                     1 * G + 512 * M);
    /* after a 10 s gap, one report's share of the swap-in */
    tm.dt_us = 10 * SEC;
    assert_int_equal(policy_demand_current(&tuning, &tm, 1 * G, 1 * G, true, 5 * G),
                     1 * G + 512 * M);
}

static void test_burst_and_peak(void **state)
{
    PolicyDomainState st = {.initialized = true, .prev_report_current_kib = 500 * M};
    PolicyDemandTiming tm = {.ts_us = 100 * SEC, .have_prev = true, .period_us = 1 * SEC};
    uint64_t rise;

    policy_demand_note_burst(&tuning, &st, &tm, true, 800 * M);
    assert_int_equal(st.burst_peak_kib, 300 * M);
    assert_int_equal(st.burst_peak_us, 100 * SEC);
    /* a smaller rise, or one not comparable, keeps the burst */
    policy_demand_note_burst(&tuning, &st, &tm, true, 600 * M);
    policy_demand_note_burst(&tuning, &st, &tm, false, 2 * G);
    assert_int_equal(st.burst_peak_kib, 300 * M);

    /* a new peak rises at once */
    st.demand_peak_kib = 1 * G;
    st.demand_peak_us = 90 * SEC;
    assert_int_equal(policy_demand_peak(&tuning, &st, 100 * SEC, 1536 * M, &rise), 1536 * M);
    assert_int_equal(rise, 512 * M);
    /* below it, the excess halves every half-life */
    assert_int_equal(policy_demand_peak(&tuning, &st, 100 * SEC, 512 * M, &rise), 768 * M);
    assert_int_equal(rise, 0);
    /* a first sample sets no peak to rise from */
    st.initialized = false;
    assert_int_equal(policy_demand_peak(&tuning, &st, 100 * SEC, 2 * G, &rise), 2 * G);
    assert_int_equal(rise, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timing),         cmocka_unit_test(test_raw),
        cmocka_unit_test(test_unskew),         cmocka_unit_test(test_unmask_inflation),
        cmocka_unit_test(test_pressure),       cmocka_unit_test(test_trend),
        cmocka_unit_test(test_trend_base),     cmocka_unit_test(test_trend_of_a_grown_guest),
        cmocka_unit_test(test_forget_reports), cmocka_unit_test(test_current),
        cmocka_unit_test(test_burst_and_peak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
