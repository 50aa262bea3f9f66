/* SPDX-License-Identifier: GPL-2.0-or-later */
/* /proc/meminfo and PSI parsing (including hostile text) and the budget. */
#include "meminfo.h"
#include "test-sizes.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define MEMINFO_REAL                                                                               \
    "MemTotal:       24567892 kB\n"                                                                \
    "MemFree:         1234567 kB\n"                                                                \
    "MemAvailable:   20000000 kB\n"                                                                \
    "Buffers:          123456 kB\n"                                                                \
    "HugePages_Total:       0\n"

typedef struct {
    const char *text;
    int ret;
    uint64_t total, avail;
} MeminfoCase;

static const MeminfoCase meminfo_cases[] = {
    {MEMINFO_REAL, 0, 24567892, 20000000},
    /* no trailing newline, other order, tabs */
    {"MemAvailable:\t100 kB\nMemTotal: 200 kB", 0, 200, 100},
    /* junk lines around are ignored */
    {"garbage\n\nMemTotal: 1000 kB\nxx: yy\nMemAvailable: 0 kB\n", 0, 1000, 0},
    /* a key that only starts like ours is not ours */
    {"MemTotalX: 5 kB\nMemTotal: 10 kB\nMemAvailable: 5 kB\n", 0, 10, 5},
    {"", -EINVAL, 0, 0},
    {"MemTotal: 1000 kB\n", -EINVAL, 0, 0},
    {"MemAvailable: 1000 kB\n", -EINVAL, 0, 0},
    {"MemTotal: abc kB\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: -5 kB\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 12x kB\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 1000\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 1000 MB\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 1000 kB trailing\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal:\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n", -ERANGE, 0, 0},
    {"MemTotal: 18446744073709551615 kB\nMemAvailable: 1 kB\n", 0, UINT64_MAX, 1},
    {"MemTotal: 18446744073709551616 kB\nMemAvailable: 1 kB\n", -ERANGE, 0, 0},
    {"MemTotal: 1000 kB\nMemTotal: 1000 kB\nMemAvailable: 1 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 1000 kB\nMemAvailable: 2000 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 0 kB\nMemAvailable: 0 kB\n", -EINVAL, 0, 0},
    {"MemTotal: 10 kB\0MemAvailable: 5 kB\n", -EINVAL, 0, 0},
};

static void test_meminfo_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(meminfo_cases) / sizeof(meminfo_cases[0]); i++) {
        const MeminfoCase *c = &meminfo_cases[i];
        PolicyHostSample h = {.mem_total_kib = 7, .mem_available_kib = 7};
        g_autofree char *err = NULL;
        int r = policy_meminfo_parse_buf(c->text, &h, &err);

        if (r != c->ret)
            fail_msg("case %zu: got %d want %d (%s)", i, r, c->ret, err ? err : "");
        if (r == 0) {
            assert_null(err);
            assert_int_equal(h.mem_total_kib, c->total);
            assert_int_equal(h.mem_available_kib, c->avail);
        } else {
            /* untouched on failure, and the message says something */
            assert_int_equal(h.mem_total_kib, 7);
            assert_int_equal(h.mem_available_kib, 7);
            assert_non_null(err);
            assert_true(strlen(err) > 5);
        }
    }
    /* a NULL error pointer is allowed */
    PolicyHostSample h = {0};
    assert_int_equal(policy_meminfo_parse_buf("x", &h, NULL), -EINVAL);
    assert_int_equal(policy_meminfo_parse_buf(NULL, &h, NULL), -EINVAL);
}

typedef struct {
    const char *text;
    int ret;
    double avg10;
} PsiCase;

static const PsiCase psi_cases[] = {
    {"some avg10=1.23 avg60=0.50 avg300=0.10 total=123456\n"
     "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
     0, 1.23},
    {"full avg10=9.00 avg60=0.00 avg300=0.00 total=0\nsome avg10=0.00 avg60=0 total=0", 0, 0},
    {"some avg10=100.00 avg60=0 total=1", 0, 100},
    {"some avg10=7 total=1", 0, 7},
    {"some avg10=100.01 total=1", -ERANGE, 0},
    {"some avg10=abc total=1", -EINVAL, 0},
    {"some avg10= total=1", -EINVAL, 0},
    {"some avg10=1. total=1", -EINVAL, 0},
    {"some avg10=-1.00 total=1", -EINVAL, 0},
    {"some avg60=1.00 total=1\n", -EINVAL, 0},
    {"some avg60=1.00\nfull avg10=1.00\n", -EINVAL, 0},
    {"full avg10=1.00 total=1\n", -EINVAL, 0},
    {"", -EINVAL, 0},
    {"some avg10=1.00\nsome avg10=2.00\n", -EINVAL, 0},
    {"some avg10=99999999999999999999999.0", -ERANGE, 0},
};

static void test_psi_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(psi_cases) / sizeof(psi_cases[0]); i++) {
        const PsiCase *c = &psi_cases[i];
        PolicyHostSample h = {.has_psi = false, .psi_some_avg10 = -1};
        g_autofree char *err = NULL;
        int r = policy_psi_parse_buf(c->text, &h, &err);

        if (r != c->ret)
            fail_msg("case %zu: got %d want %d (%s)", i, r, c->ret, err ? err : "");
        if (r == 0) {
            assert_true(h.has_psi);
            assert_float_equal(h.psi_some_avg10, c->avg10, 1e-9);
        } else {
            assert_false(h.has_psi);
            assert_float_equal(h.psi_some_avg10, -1, 0);
            assert_non_null(err);
        }
    }
}

typedef struct {
    const char *meminfo;
    const char *psi; /* NULL: no PSI */
    PolicyAmount reserve;
    uint64_t pool, overhead;
    uint32_t psi_threshold;
    PolicyBudgetInput in;
    uint64_t budget, other_use, reserve_kib;
    bool psi_limited, pool_limited;
} BudgetCase;

/* 16 GiB host, 10 GiB available: 6 GiB used. */
#define HOST16 "MemTotal: 16777216 kB\nMemAvailable: 10485760 kB\n"

static const BudgetCase budget_cases[] = {
    /* guests' QEMUs hold 4 GiB of the 6 used: other_use 2 GiB.
     * B = 16 − 2 (reserve) − 2 (other) − 1 (unmanaged) − 2×100 MiB */
    {HOST16,
     NULL,
     {POLICY_AMOUNT_KIB, 2 * GiB},
     0,
     100 * MiB,
     0,
     {.n_managed = 2,
      .sum_managed_assigned_kib = 3 * GiB,
      .sum_unmanaged_assigned_kib = 1 * GiB,
      .sum_guest_rss_kib = 4 * GiB},
     11 * GiB - 200 * MiB,
     2 * GiB,
     2 * GiB,
     false,
     false},
    /* reserve as 10 % of MemTotal; rss above used: other_use floors at 0 */
    {HOST16,
     NULL,
     {POLICY_AMOUNT_PERCENT, 10},
     0,
     0,
     0,
     {.n_managed = 1, .sum_managed_assigned_kib = 8 * GiB, .sum_guest_rss_kib = 9 * GiB},
     16 * GiB - 16 * GiB / 10,
     0,
     16 * GiB / 10,
     false,
     false},
    /* pool caps */
    {HOST16,
     NULL,
     {POLICY_AMOUNT_KIB, 2 * GiB},
     4 * GiB,
     0,
     0,
     {.n_managed = 1, .sum_managed_assigned_kib = 2 * GiB, .sum_guest_rss_kib = 6 * GiB},
     4 * GiB,
     0,
     2 * GiB,
     false,
     true},
    /* PSI at the threshold: no net growth (capped at Σ managed assigned) */
    {HOST16,
     "some avg10=25.00 avg60=1 avg300=1 total=5\n",
     {POLICY_AMOUNT_KIB, 2 * GiB},
     0,
     0,
     20,
     {.n_managed = 1, .sum_managed_assigned_kib = 3 * GiB, .sum_guest_rss_kib = 6 * GiB},
     3 * GiB,
     0,
     2 * GiB,
     true,
     false},
    /* PSI below the threshold: no effect */
    {HOST16,
     "some avg10=19.99 avg60=1 avg300=1 total=5\n",
     {POLICY_AMOUNT_KIB, 2 * GiB},
     0,
     0,
     20,
     {.n_managed = 1, .sum_managed_assigned_kib = 3 * GiB, .sum_guest_rss_kib = 6 * GiB},
     14 * GiB,
     0,
     2 * GiB,
     false,
     false},
    /* everything subtracted exceeds MemTotal: 0, no wrap */
    {HOST16,
     NULL,
     {POLICY_AMOUNT_KIB, 12 * GiB},
     0,
     UINT64_MAX / 2,
     0,
     {.n_managed = 3, .sum_unmanaged_assigned_kib = 8 * GiB},
     0,
     6 * GiB,
     12 * GiB,
     false,
     false},
    /* unset reserve means none */
    {"MemTotal: 1048576 kB\nMemAvailable: 1048576 kB",
     NULL,
     {POLICY_AMOUNT_UNSET, 0},
     0,
     0,
     0,
     {.n_managed = 0},
     1 * GiB,
     0,
     0,
     false,
     false},
};

static void test_budget_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(budget_cases) / sizeof(budget_cases[0]); i++) {
        const BudgetCase *c = &budget_cases[i];
        PolicyConfig cfg = {
            .reserve = c->reserve,
            .pool_kib = c->pool,
            .overhead_kib = c->overhead,
            .psi_threshold_pct = c->psi_threshold,
        };
        PolicyHostSample h = {0};
        PolicyBudget b;

        assert_int_equal(policy_meminfo_parse_buf(c->meminfo, &h, NULL), 0);
        if (c->psi)
            assert_int_equal(policy_psi_parse_buf(c->psi, &h, NULL), 0);
        assert_int_equal(policy_budget_compute(&cfg, &h, &c->in, &b), 0);
        if (b.budget_kib != c->budget)
            fail_msg("case %zu: budget %" PRIu64 " want %" PRIu64, i, b.budget_kib, c->budget);
        assert_int_equal(b.other_use_kib, c->other_use);
        assert_int_equal(b.reserve_kib, c->reserve_kib);
        assert_int_equal(b.psi_limited, c->psi_limited);
        assert_int_equal(b.pool_limited, c->pool_limited);
    }
}

static void test_budget_invalid_host(void **state)
{
    PolicyConfig cfg = {0};
    PolicyBudgetInput in = {0};
    PolicyHostSample h = {.mem_total_kib = 10, .mem_available_kib = 11};
    PolicyBudget b = {.budget_kib = 42};

    (void)state;
    assert_int_equal(policy_budget_compute(&cfg, &h, &in, &b), -EINVAL);
    assert_int_equal(b.budget_kib, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meminfo_table),
        cmocka_unit_test(test_psi_table),
        cmocka_unit_test(test_budget_table),
        cmocka_unit_test(test_budget_invalid_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
