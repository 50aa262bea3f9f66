/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's named pieces alone (engine-private.h): the deflate
 * reserve's top-k, pass 1's budget inputs, the host state and the summary.
 * The whole cycle is test-engine.c's.
 */
#include "engine-private.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#define M   UINT64_C(1024)
#define G   (UINT64_C(1024) * 1024)
#define SEC UINT64_C(1000000)

/* Whatever the order, the k largest, largest first; k 0 keeps nothing. */
static void test_top_k(void **state)
{
    static const struct {
        size_t k;
        uint64_t in[6];
        size_t n_in;
        uint64_t want[4];
        size_t n_want;
    } cases[] = {
        {2, {5, 1, 9, 3}, 4, {9, 5}, 2},
        {3, {1, 2}, 2, {2, 1}, 2},
        {3, {7, 7, 7, 7}, 4, {7, 7, 7}, 3},
        {0, {4, 8}, 2, {0}, 0},
        {1, {0, 0, 3, 2}, 4, {3}, 1},
        {4, {1, 2, 3, 4, 5, 6}, 6, {6, 5, 4, 3}, 4},
        {2, {UINT64_MAX, 1, UINT64_MAX}, 3, {UINT64_MAX, UINT64_MAX}, 2},
    };
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        uint64_t top[4] = {0};
        size_t n = 0;
        for (size_t i = 0; i < cases[c].n_in; i++)
            policy_top_k_insert(top, &n, cases[c].k, cases[c].in[i]);
        assert_int_equal(n, cases[c].n_want);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(top[i], cases[c].want[i]);
    }
}

static void test_host_state(void **state)
{
    static const struct {
        PolicyRegime regime;
        bool psi;
        PolicyHostState want;
    } cases[] = {
        {POLICY_REGIME_DESIRED, false, POLICY_HOST_OK},
        {POLICY_REGIME_DESIRED, true, POLICY_HOST_PRESSURE},
        {POLICY_REGIME_NEEDS, false, POLICY_HOST_PRESSURE},
        {POLICY_REGIME_FLOORS, true, POLICY_HOST_PRESSURE},
        {POLICY_REGIME_OVERCOMMITTED, false, POLICY_HOST_OVERCOMMITTED},
    };
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++)
        assert_int_equal(policy_host_state_from(cases[c].regime, cases[c].psi), cases[c].want);
}

/* Sums saturate; only protection none is counted unprotected; finish
 * copies the budget's figures and leaves the sums alone. */
static void test_summary(void **state)
{
    PolicyPlanSummary sum;
    PolicyPlanEntry e;

    memset(&sum, 0, sizeof(sum));
    memset(&e, 0, sizeof(e));
    e.assigned_kib = UINT64_MAX - 1;
    e.demand_kib = 1 * G;
    e.desired_kib = 2 * G;
    e.floor_kib = 512 * M;
    e.target_kib = 3 * G;
    e.protection = POLICY_PROTECTION_NONE;
    policy_plan_summary_add(&sum, &e);
    e.protection = POLICY_PROTECTION_HEADROOM;
    policy_plan_summary_add(&sum, &e);
    e.protection = POLICY_PROTECTION_DEFLATE_ON_OOM;
    policy_plan_summary_add(&sum, &e);
    assert_int_equal(sum.n_managed, 3);
    assert_int_equal(sum.n_unprotected, 1);
    assert_int_equal(sum.sum_assigned_kib, UINT64_MAX);
    assert_int_equal(sum.sum_demand_kib, 3 * G);
    assert_int_equal(sum.sum_desired_kib, 6 * G);
    assert_int_equal(sum.sum_floor_kib, 1536 * M);
    assert_int_equal(sum.sum_target_kib, 9 * G);

    PolicyBudget b = {
        .budget_kib = 10 * G,
        .reserve_kib = 1 * G,
        .other_use_kib = 2 * G,
        .unmanaged_kib = 3 * G,
        .overhead_kib = 4 * M,
        .pool_limited = true,
        .psi_limited = true,
        .deflate_reserve_kib = 5 * M,
    };
    policy_plan_summary_finish(&sum, &b, POLICY_REGIME_DESIRED);
    assert_int_equal(sum.state, POLICY_HOST_PRESSURE);
    assert_int_equal(sum.budget_kib, 10 * G);
    assert_int_equal(sum.reserve_kib, 1 * G);
    assert_int_equal(sum.other_use_kib, 2 * G);
    assert_int_equal(sum.unmanaged_kib, 3 * G);
    assert_int_equal(sum.overhead_kib, 4 * M);
    assert_true(sum.pool_limited);
    assert_true(sum.psi_limited);
    assert_int_equal(sum.deflate_reserve_kib, 5 * M);
    assert_int_equal(sum.n_managed, 3);
}

/* Pass 1's budget inputs over a static domain, a domain without stats and
 * three autodeflate guests: RSS where known, assigned where not; the
 * deflate reserve the k largest take-backs, or all of them under PSI. */
static void test_prepare_budget_inputs(void **state)
{
    enum { N = 5 };
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    g_autoptr(PolicyEngine) engine = policy_engine_new();
    PolicyEffective pol[N];
    PolicyDomainCaps caps[N];
    PolicyDomainSample smp[N];
    PolicyDomainState st[N];
    PolicyDomainInput in[N];
    PolicyPlanEntry out[N];
    static const uint64_t balloon[N] = {0, 0, 3 * G, 2 * G, 1 * G};

    cfg->deflate_reserve_guests = 2;
    for (int pass = 0; pass < 2; pass++) {
        memset(caps, 0, sizeof(caps));
        memset(smp, 0, sizeof(smp));
        memset(st, 0, sizeof(st));
        for (size_t i = 0; i < N; i++) {
            policy_config_resolve(cfg, "vm", NULL, NULL, &pol[i]);
            caps[i].has_balloon = true;
            caps[i].stats_period_s = 1;
            caps[i].balloon_max_kib = 4 * G;
            caps[i].total_memory_kib = 4 * G;
            caps[i].dimm_node = -1;
            smp[i] = (PolicyDomainSample){
                .timestamp_us = 100 * SEC,
                .has_balloon_stats = true,
                .assigned_kib = i < 2 ? 4 * G : balloon[i],
                .balloon_kib = i < 2 ? 4 * G : balloon[i],
                .has_usable = true,
                .usable_kib = 256 * M,
                .has_rss = i != 3,
                .rss_kib = 100 * M,
            };
            caps[i].balloon_autodeflate = i >= 2;
            in[i] = (PolicyDomainInput){.name = "vm",
                                        .policy = &pol[i],
                                        .caps = &caps[i],
                                        .sample = i == 1 ? NULL : &smp[i],
                                        .state = &st[i]};
        }
        pol[0].mode = POLICY_MODE_STATIC;

        /* the engine's scratch for N domains, sized as a cycle sizes it */
        PolicyPlanSummary unused;
        PolicyHostSample host = {.mem_total_kib = 64 * G, .mem_available_kib = 32 * G};
        assert_int_equal(policy_engine_plan(engine, cfg, &host, 100 * SEC, in, N, out, &unused), 0);
        memset(st, 0, sizeof(st));

        PolicyBudgetInput bin = {0};
        size_t n_items = policy_engine_prepare(engine, cfg, 100 * SEC, in, N, out, pass == 1, &bin);

        assert_int_equal(n_items, 3);
        assert_false(out[0].managed);
        assert_false(out[1].managed);
        assert_int_equal(bin.n_managed, 3);
        /* static and no-stats domains: counted unmanaged at what they hold */
        assert_int_equal(bin.sum_unmanaged_assigned_kib, 8 * G);
        /* rss of 0, 2 and 4; assigned of 1 (no sample) and 3 (no rss) */
        assert_int_equal(bin.sum_guest_rss_kib, 3 * 100 * M + 4 * G + 2 * G);
        assert_int_equal(bin.sum_managed_assigned_kib, 6 * G);
        /* take-backs 1, 2 and 3 GiB: the two largest, or all under PSI */
        assert_int_equal(bin.deflate_reserve_kib, pass == 0 ? 5 * G : 6 * G);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_k),
        cmocka_unit_test(test_host_state),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_prepare_budget_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
