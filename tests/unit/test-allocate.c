/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The allocator: each regime with hand-computed results, water-filling. */
#include "allocate.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define MAX_ITEMS 4

typedef struct {
    const char *what;
    size_t n;
    PolicyAllocItem items[MAX_ITEMS]; /* floor, need, cap, weight */
    uint64_t budget;
    PolicyRegime regime;
    uint64_t want[MAX_ITEMS];
} AllocCase;

static const AllocCase cases[] = {
    {"all desired",
     2,
     {{512, 1000, 1200, 5000, 0}, {512, 800, 960, 5000, 0}},
     3000,
     POLICY_REGIME_DESIRED,
     {1200, 960}},
    {"exactly desired",
     2,
     {{512, 1000, 1200, 5000, 0}, {512, 800, 960, 5000, 0}},
     2160,
     POLICY_REGIME_DESIRED,
     {1200, 960}},
    /* rest 100 over buffers 200 and 160, equal weights: +50 each */
    {"needs, equal weights",
     2,
     {{512, 1000, 1200, 5000, 0}, {512, 800, 960, 5000, 0}},
     1900,
     POLICY_REGIME_NEEDS,
     {1050, 850}},
    /* weights 3:1: +75, +25 */
    {"needs, weights 3:1",
     2,
     {{512, 1000, 1200, 3000, 0}, {512, 800, 960, 1000, 0}},
     1900,
     POLICY_REGIME_NEEDS,
     {1075, 825}},
    /* the small buffer saturates, the rest goes to the other */
    {"needs, saturation",
     2,
     {{0, 100, 110, 1, 0}, {0, 100, 1100, 1, 0}},
     300,
     POLICY_REGIME_NEEDS,
     {110, 190}},
    /* rest 400 toward needs (rooms 488, 288), equal weights: +200 each */
    {"floors, equal weights",
     2,
     {{512, 1000, 1200, 5000, 0}, {512, 800, 960, 5000, 0}},
     1424,
     POLICY_REGIME_FLOORS,
     {712, 712}},
    {"floors, weights 3:1",
     2,
     {{512, 1000, 1200, 3000, 0}, {512, 800, 960, 1000, 0}},
     1424,
     POLICY_REGIME_FLOORS,
     {812, 612}},
    /* weight 0 gets nothing beyond its floor, even with memory left over */
    {"floors, weight 0",
     2,
     {{512, 1000, 1200, 0, 0}, {512, 800, 960, 5000, 0}},
     1424,
     POLICY_REGIME_FLOORS,
     {512, 800}},
    {"needs, weight 0",
     2,
     {{512, 1000, 1200, 0, 0}, {512, 800, 960, 5000, 0}},
     2000,
     POLICY_REGIME_NEEDS,
     {1000, 960}},
    {"overcommitted",
     2,
     {{512, 1000, 1200, 5000, 0}, {512, 800, 960, 5000, 0}},
     1000,
     POLICY_REGIME_OVERCOMMITTED,
     {512, 512}},
    /* λ = 10/3: ⌊3.33⌋ each; the 1 KiB remainder stays unassigned */
    {"remainder",
     3,
     {{0, 10, 10, 1, 0}, {0, 10, 10, 1, 0}, {0, 10, 10, 1, 0}},
     10,
     POLICY_REGIME_FLOORS,
     {3, 3, 3}},
    /* normalization: cap below floor is raised, need clamped into range */
    {"normalize",
     2,
     {{600, 100, 500, 1, 0}, {0, 9000, 300, 1, 0}},
     10000,
     POLICY_REGIME_DESIRED,
     {600, 300}},
    /* three-way with one saturating in the floors regime: rooms 10/1, 100/1, 1000/2;
     * rest 300: first saturates (+10), then λ = 290/3: +96, +193 */
    {"floors, three-way",
     3,
     {{0, 10, 20, 1, 0}, {0, 100, 200, 1, 0}, {0, 1000, 2000, 2, 0}},
     300,
     POLICY_REGIME_FLOORS,
     {10, 96, 193}},
    {"empty", 0, {{0}}, 0, POLICY_REGIME_DESIRED, {0}},
};

static void test_regimes(void **state)
{
    PolicyAllocScratch scratch = {0};

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const AllocCase *c = &cases[i];
        PolicyAllocItem items[MAX_ITEMS];
        uint64_t sum = 0;
        PolicyRegime r;

        memcpy(items, c->items, sizeof(items));
        r = policy_allocate(items, c->n, c->budget, &scratch);
        if (r != c->regime)
            fail_msg("%s: regime %s want %s", c->what, policy_regime_to_string(r),
                     policy_regime_to_string(c->regime));
        for (size_t k = 0; k < c->n; k++) {
            if (items[k].result_kib != c->want[k])
                fail_msg("%s: item %zu got %" PRIu64 " want %" PRIu64, c->what, k,
                         items[k].result_kib, c->want[k]);
            sum += items[k].result_kib;
        }
        if (r != POLICY_REGIME_OVERCOMMITTED)
            assert_true(sum <= c->budget);
    }
    policy_alloc_scratch_clear(&scratch);
}

static void test_waterfill_exact(void **state)
{
    /* rooms 5/1, 50/1, 500/1, 5000/2 with rest 1000: the first two saturate
     * (+5, +50), λ = 945/3 = 315: +315, +630 */
    PolicyFillSlot slots[] = {
        {.room_kib = 5000, .weight = 2, .index = 3},
        {.room_kib = 50, .weight = 1, .index = 1},
        {.room_kib = 500, .weight = 1, .index = 2},
        {.room_kib = 5, .weight = 1, .index = 0},
    };
    uint64_t got[4] = {0}, want[4] = {5, 50, 315, 630};

    (void)state;
    assert_int_equal(policy_waterfill(slots, 4, 1000), 1000);
    for (size_t k = 0; k < 4; k++)
        got[slots[k].index] = slots[k].give_kib;
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(got[k], want[k]);

    /* more than all the room: everyone saturates */
    assert_int_equal(policy_waterfill(slots, 4, UINT64_MAX), 5555);
    /* nothing to give */
    assert_int_equal(policy_waterfill(slots, 4, 0), 0);
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(slots[k].give_kib, 0);
}

static void test_waterfill_huge(void **state)
{
    /* sizes near 2^64 and top weights: exact 128-bit arithmetic, no wrap */
    PolicyFillSlot slots[] = {
        {.room_kib = UINT64_MAX / 2, .weight = 10000, .index = 0},
        {.room_kib = UINT64_MAX / 2, .weight = 1, .index = 1},
    };
    uint64_t given;

    (void)state;
    given = policy_waterfill(slots, 2, UINT64_MAX / 2);
    assert_true(given <= UINT64_MAX / 2);
    assert_true(given >= UINT64_MAX / 2 - 2);
    for (size_t k = 0; k < 2; k++)
        assert_true(slots[k].give_kib <= slots[k].room_kib);
}

/* Large random fills (the sort's quicksort and heapsort paths, many equal
 * ratios): check the water level directly. With R and W the rest and the
 * weight of the unsaturated slots, every unsaturated slot gets exactly
 * ⌊R·w/W⌋ < room and every saturated one has room/w <= R/W. */
static void test_waterfill_large(void **state)
{
    static PolicyFillSlot slots[20000];
    uint64_t rng = 99;

    (void)state;
    for (int round = 0; round < 30; round++) {
        size_t n = 1 + (size_t)(round * 661) % G_N_ELEMENTS(slots);
        uint64_t total_room = 0, rest, r_u, w_u = 0, given, sum = 0;

        for (size_t k = 0; k < n; k++) {
            rng = rng * 6364136223846793005u + 1442695040888963407u;
            /* few distinct values: lots of ties */
            slots[k] = (PolicyFillSlot){
                .room_kib = ((rng >> 33) % (round % 3 == 0 ? 4 : 5000)) * 1024,
                .weight = round % 5 == 0 ? 7 : (rng >> 20) % 10001,
                .index = k,
            };
            total_room += slots[k].room_kib;
        }
        rest = total_room / (2 + round % 4);
        given = policy_waterfill(slots, n, rest);
        r_u = rest;
        for (size_t k = 0; k < n; k++) {
            sum += slots[k].give_kib;
            assert_true(slots[k].give_kib <= slots[k].room_kib);
            if (slots[k].weight == 0)
                assert_int_equal(slots[k].give_kib, 0);
            else if (slots[k].give_kib == slots[k].room_kib)
                r_u -= slots[k].room_kib;
            else
                w_u += slots[k].weight;
        }
        assert_int_equal(sum, given);
        assert_true(given <= rest);
        assert_true(rest - given < n + 1);
        for (size_t k = 0; k < n; k++) {
            const PolicyFillSlot *sl = &slots[k];

            if (sl->weight == 0 || sl->room_kib == 0)
                continue;
            if (sl->give_kib == sl->room_kib) {
                assert_true((unsigned __int128)sl->room_kib * w_u <=
                            (unsigned __int128)r_u * sl->weight);
            } else {
                assert_int_equal(sl->give_kib,
                                 (uint64_t)((unsigned __int128)r_u * sl->weight / w_u));
            }
        }
    }
}

static void test_scratch_steady(void **state)
{
    PolicyAllocScratch scratch = {0};
    PolicyAllocItem items[64];
    size_t reallocs;

    (void)state;
    for (size_t k = 0; k < 64; k++)
        items[k] = (PolicyAllocItem){0, 100 + k, 200 + k, (uint32_t)k + 1, 0};
    policy_allocate(items, 64, 5000, &scratch);
    reallocs = scratch.n_reallocs;
    for (int round = 0; round < 100; round++)
        assert_int_equal(policy_allocate(items, 64, 5000 + round, &scratch), POLICY_REGIME_FLOORS);
    assert_int_equal(scratch.n_reallocs, reallocs);
    policy_alloc_scratch_clear(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regimes),        cmocka_unit_test(test_waterfill_exact),
        cmocka_unit_test(test_waterfill_huge), cmocka_unit_test(test_waterfill_large),
        cmocka_unit_test(test_scratch_steady),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
