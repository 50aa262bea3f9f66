/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The peers' rules (src/sim/sim-baseline.c), each on hand-computed cases
 * from /work/shared/PEERS.md's statement of it. KiB throughout. */
#include "sim-baseline.h"

#include <glib.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define MiB 1024ULL
#define GiB (1024 * MiB)

typedef void (*PlanFunc)(const SimBaseHost *, const SimBaseVm *, size_t, uint64_t *);

typedef struct {
    const char *what;
    PlanFunc plan;
    SimBaseHost host;
    size_t n;
    SimBaseVm vms[3];
    uint64_t want[3];
} Case;

static const Case cases[] = {
    /* Hyper-V: target = demand x 1.2 when it all fits: 2 GiB -> 2 GiB +
     * 20 % of it (KiB/100 rounded down, x 20) */
    {"hyperv fits",
     sim_hyperv_plan,
     {.budget_kib = 10 * GiB},
     2,
     {{.used_kib = 2 * GiB,
       .min_kib = 512 * MiB,
       .max_kib = 8 * GiB,
       .buffer_pct = 20,
       .weight = 5000},
      {.used_kib = 3 * GiB,
       .min_kib = 512 * MiB,
       .max_kib = 8 * GiB,
       .buffer_pct = 20,
       .weight = 5000}},
     {2097152 + 20971 * 20, 3145728 + 31457 * 20}},
    /* short: the minimums (2 x 512 MiB), then demand by priority: B
     * (8000) its 3 GiB, A (2000) its 2 GiB; the 200 MiB left go to B's
     * buffer (higher priority first), none to A's */
    {"hyperv short: demand, then buffers, by priority",
     sim_hyperv_plan,
     {.budget_kib = 5 * GiB + 200 * MiB},
     2,
     {{.used_kib = 2 * GiB,
       .min_kib = 512 * MiB,
       .max_kib = 8 * GiB,
       .buffer_pct = 20,
       .weight = 2000},
      {.used_kib = 3 * GiB,
       .min_kib = 512 * MiB,
       .max_kib = 8 * GiB,
       .buffer_pct = 20,
       .weight = 8000}},
     {2 * GiB, 3 * GiB + 200 * MiB}},
    {"hyperv below the minimums: minimums",
     sim_hyperv_plan,
     {.budget_kib = 512 * MiB},
     2,
     {{.used_kib = 2 * GiB, .min_kib = 512 * MiB, .max_kib = 8 * GiB, .weight = 5000},
      {.used_kib = 3 * GiB, .min_kib = 512 * MiB, .max_kib = 8 * GiB, .weight = 5000}},
     {512 * MiB, 512 * MiB}},
    /* MoM, host 30 % free: grow to max(1.05 cur, used + 0.2 cur) */
    {"mom room: +5 %",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 30 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 512000, .max_kib = 2048000}},
     {1075200}},
    {"mom room: up to used + 20 % of cur",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 30 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 900000, .max_kib = 2048000}},
     {900000 + 204800}},
    {"mom room: a change within 0.25 % is none",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 30 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 512000, .max_kib = 1026000}},
     {1024000}},
    /* 10 % free: f = 0.1, floor = used + 0.1 cur = 614400, at most -5 % */
    {"mom pressure: -5 %",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 10 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 512000, .max_kib = 2048000}},
     {972800}},
    {"mom pressure: the floor",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 10 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 890000, .max_kib = 2048000}},
     {890000 + 102400}},
    /* 4 % free: f = p − 0.05 = −0.01, so even a guest using all it has
     * shrinks, to used − 1 % of cur */
    {"mom below 5 % free: a starving guest shrinks",
     sim_mom_plan,
     {.total_kib = 100 * GiB, .free_kib = 4 * GiB},
     1,
     {{.cur_kib = 1024000, .used_kib = 1024000, .max_kib = 2048000}},
     {1024000 - 10240}},
    /* Proxmox, 10 GiB host: goal = 10485760 / 100 x 80 - used */
    {"proxmox grow: at most 100 MiB",
     sim_proxmox_plan,
     {.total_kib = 10 * GiB, .free_kib = 5 * GiB},
     2,
     {{.cur_kib = 2 * GiB, .min_kib = 1 * GiB, .max_kib = 4 * GiB, .weight = 5000},
      {.cur_kib = 2 * GiB, .min_kib = 1 * GiB, .max_kib = 4 * GiB, .weight = 5000}},
     {2 * GiB + 100 * MiB, 2 * GiB + 100 * MiB}},
    {"proxmox shrink: at most 100 MiB",
     sim_proxmox_plan,
     {.total_kib = 10 * GiB, .free_kib = 1 * GiB},
     2,
     {{.cur_kib = 2 * GiB, .min_kib = 1 * GiB, .max_kib = 4 * GiB, .weight = 5000},
      {.cur_kib = 2 * GiB, .min_kib = 1 * GiB, .max_kib = 4 * GiB, .weight = 5000}},
     {2 * GiB - 100 * MiB, 2 * GiB - 100 * MiB}},
    /* goal = 8388560 - (10485760 - free) = 5000 KiB: within 10 MiB */
    {"proxmox within 10 MiB of the goal: nothing",
     sim_proxmox_plan,
     {.total_kib = 10 * GiB, .free_kib = 10485760 - 8383560},
     1,
     {{.cur_kib = 2 * GiB, .min_kib = 1 * GiB, .max_kib = 4 * GiB, .weight = 5000}},
     {2 * GiB}},
    /* shares 1600:400 of alloc = Σ cur + goal − Σ min = 500 + 20 MiB,
     * goal = 8388560 − used = 20 MiB: A = 1 GiB + 416 MiB, B = 1 GiB +
     * 104 MiB, each within 100 MiB of where it is */
    {"proxmox shares",
     sim_proxmox_plan,
     {.total_kib = 10 * GiB, .free_kib = 10485760 - (8388560 - 20480)},
     2,
     {{.cur_kib = 1374 * MiB, .min_kib = 1 * GiB, .max_kib = 8 * GiB, .weight = 8000},
      {.cur_kib = 1174 * MiB, .min_kib = 1 * GiB, .max_kib = 8 * GiB, .weight = 2000}},
     {1440 * MiB, 1128 * MiB}},
    /* squeezed: gamma = (5 GiB - 2 GiB - 9 MiB) / 6 GiB = 0.4985... */
    {"squeezed: the same fraction of each range",
     sim_squeezed_plan,
     {.budget_kib = 5 * GiB},
     2,
     {{.min_kib = 1 * GiB, .max_kib = 4 * GiB}, {.min_kib = 1 * GiB, .max_kib = 4 * GiB}},
     {1048576 + 1568256, 1048576 + 1568256}},
    {"squeezed: room for all: dynamic-max",
     sim_squeezed_plan,
     {.budget_kib = 10 * GiB},
     2,
     {{.min_kib = 1 * GiB, .max_kib = 4 * GiB}, {.min_kib = 512 * MiB, .max_kib = 2 * GiB}},
     {4 * GiB, 2 * GiB}},
    {"squeezed: no room: dynamic-min",
     sim_squeezed_plan,
     {.budget_kib = 1 * GiB},
     2,
     {{.min_kib = 1 * GiB, .max_kib = 4 * GiB}, {.min_kib = 512 * MiB, .max_kib = 2 * GiB}},
     {1 * GiB, 512 * MiB}},
};

static void test_cases(void **state)
{
    for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
        const Case *k = &cases[c];
        uint64_t got[3] = {0};
        k->plan(&k->host, k->vms, k->n, got);
        for (size_t i = 0; i < k->n; i++) {
            uint64_t want = k->want[i];
            if (got[i] != want)
                fail_msg("%s: VM %zu: got %" PRIu64 " KiB, want %" PRIu64, k->what, i, got[i],
                         want);
        }
    }
}

static void test_names(void **state)
{
    for (int a = 0; a < SIM_ALGO_LAST; a++) {
        SimAlgo back;
        assert_int_equal(sim_algo_from_string(sim_algo_to_string((SimAlgo)a), &back), 0);
        assert_int_equal(back, a);
    }
    SimAlgo x;
    assert_int_not_equal(sim_algo_from_string("vmware", &x), 0);
    assert_int_equal(sim_algo_interval_us(SIM_ALGO_MOM), 10 * G_USEC_PER_SEC);
    assert_int_equal(sim_algo_interval_us(SIM_ALGO_HYPERV), G_USEC_PER_SEC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
