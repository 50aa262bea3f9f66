/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission (src/policy/admission.c): what a start asks for, what it may
 * take by weight, and the engine making room for it over many cycles on
 * simulated guests, in every allocator regime.
 */
#include "admission.h"
#include "engine.h"
#include "guest-sim.h"
#include "test-sizes.h"

#include <glib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

static uint64_t sum_assigned(const SimHost *s)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < s->n; i++)
        sum += sim_guest_assigned_kib(&s->g[i]);
    return sum;
}

static uint64_t sum_granted(const PolicyReservation *res, size_t n)
{
    uint64_t sum = 0;

    for (size_t j = 0; j < n; j++)
        if (res[j].state == POLICY_RESERVATION_GRANTED)
            sum += res[j].size_kib;
    return sum;
}

/* One cycle; then what the guests hold and the granted starts fit the
 * budget, and no guest was cut below what it uses. */
static void run_checked(SimHost *s, const PolicyReservation *res, size_t n_res)
{
    sim_host_run(s, 1);
    assert_true(sum_assigned(s) + sum_granted(res, n_res) <= s->sum.budget_kib + 32 * MiB ||
                sum_granted(res, n_res) == 0);
    for (size_t i = 0; i < s->n; i++)
        assert_true(sim_guest_assigned_kib(&s->g[i]) >= s->g[i].used_kib);
}

static void test_start_size(void **state)
{
    PolicyEffective p = {.mode = POLICY_MODE_DYNAMIC,
                         .minimum = {POLICY_AMOUNT_KIB, 512 * MiB},
                         .maximum = {POLICY_AMOUNT_PERCENT, 100}};
    PolicyDomainCaps caps = {.has_balloon = true, .balloon_max_kib = 4 * GiB};

    (void)state;
    /* startup unset: what it boots with */
    assert_int_equal(policy_start_size_kib(&p, &caps, 2 * GiB), 2 * GiB);
    /* a size, a percentage of what it can reach, and the minimum's floor */
    p.startup = (PolicyAmount){POLICY_AMOUNT_KIB, 1 * GiB};
    assert_int_equal(policy_start_size_kib(&p, &caps, 2 * GiB), 1 * GiB);
    p.startup = (PolicyAmount){POLICY_AMOUNT_PERCENT, 25};
    assert_int_equal(policy_start_size_kib(&p, &caps, 2 * GiB), 1 * GiB);
    p.startup = (PolicyAmount){POLICY_AMOUNT_KIB, 100 * MiB};
    assert_int_equal(policy_start_size_kib(&p, &caps, 2 * GiB), 512 * MiB);
    /* never above what it can reach */
    p.startup = (PolicyAmount){POLICY_AMOUNT_KIB, 64 * GiB};
    assert_int_equal(policy_start_size_kib(&p, &caps, 2 * GiB), 4 * GiB);
    /* static, or no balloon: all it boots with, whatever the startup */
    p.startup = (PolicyAmount){POLICY_AMOUNT_KIB, 1 * GiB};
    p.mode = POLICY_MODE_STATIC;
    assert_int_equal(policy_start_size_kib(&p, &caps, 3 * GiB), 3 * GiB);
    p.mode = POLICY_MODE_DYNAMIC;
    caps.has_balloon = false;
    assert_int_equal(policy_start_size_kib(&p, &caps, 3 * GiB), 3 * GiB);
}

/* Higher weight keeps what it desires, the same weight its need, lower
 * weight only its floor. */
static void test_kept_by_weight(void **state)
{
    PolicyAllocItem items[] = {
        {.floor_kib = 1 * GiB, .need_kib = 2 * GiB, .cap_kib = 3 * GiB, .weight = 8000},
        {.floor_kib = 1 * GiB, .need_kib = 2 * GiB, .cap_kib = 3 * GiB, .weight = 5000},
        {.floor_kib = 1 * GiB, .need_kib = 2 * GiB, .cap_kib = 3 * GiB, .weight = 2000},
    };

    (void)state;
    assert_int_equal(policy_admission_kept_kib(items, 3, 5000), 3 * GiB + 2 * GiB + 1 * GiB);
    assert_int_equal(policy_admission_kept_kib(items, 3, 10000), 3 * GiB);
    assert_int_equal(policy_admission_kept_kib(items, 3, 0), 9 * GiB);
    assert_int_equal(policy_admission_kept_kib(items, 0, 0), 0);
}

/* Memory no guest holds: granted in the first cycle, and held in the
 * budget from then on (admittable shrinks by it, nobody grows into it). */
static void test_granted_at_once(void **state)
{
    SimHost s;
    PolicyReservation r = {.size_kib = 2 * GiB, .weight = 5000};
    uint64_t admittable;

    (void)state;
    /* B = 10 − 1 − 1 = 8 GiB */
    sim_host_init(&s, 10 * GiB);
    sim_host_add(&s, "a", 8 * GiB, 2 * GiB, 1 * GiB);
    sim_host_run(&s, 20);
    admittable = s.sum.admittable_kib;
    policy_engine_set_reservations(s.engine, &r, 1);
    run_checked(&s, &r, 1);
    assert_int_equal(r.state, POLICY_RESERVATION_GRANTED);
    assert_int_equal(s.sum.reserved_kib, 2 * GiB);
    assert_int_equal(s.sum.n_waiting, 0);
    assert_int_equal(s.sum.admittable_kib, admittable - 2 * GiB);
    /* the guest's workload wants 5.5 GiB × 1.2: it grows into what is
     * left only */
    s.g[0].used_kib = 5632 * MiB;
    for (int i = 0; i < 20; i++)
        run_checked(&s, &r, 1);
    assert_true(sim_guest_assigned_kib(&s.g[0]) <= 6 * GiB);
    assert_true(sim_guest_assigned_kib(&s.g[0]) >= 5632 * MiB);
    /* the start came (or expired): the memory is the guests' again */
    policy_engine_set_reservations(s.engine, NULL, 0);
    sim_host_run(&s, 5);
    assert_int_equal(s.sum.reserved_kib, 0);
    assert_true(sim_guest_assigned_kib(&s.g[0]) > 6 * GiB + 512 * MiB);
    sim_host_free(&s);
}

/* Not free now, but the guests' buffers cover it: it waits while they are
 * trimmed (never below their use) and is granted once the memory is
 * free. */
static void test_room_made_from_buffers(void **state)
{
    SimHost s;
    PolicyReservation r = {.size_kib = 1536 * MiB, .weight = 5000};
    int waited = 0;

    (void)state;
    /* B = 6 GiB; two guests using 2 GiB hold 2.4 GiB each: 1.2 GiB free */
    sim_host_init(&s, 8 * GiB);
    sim_host_add(&s, "a", 4 * GiB, 2400 * MiB, 2 * GiB);
    sim_host_add(&s, "b", 4 * GiB, 2400 * MiB, 2 * GiB);
    sim_host_run(&s, 30);
    assert_int_equal(s.sum.state, POLICY_HOST_OK);
    assert_true(sum_assigned(&s) > 4700 * MiB);
    policy_engine_set_reservations(s.engine, &r, 1);
    while (r.state == POLICY_RESERVATION_WAITING && waited < 30) {
        run_checked(&s, &r, 1);
        if (r.state == POLICY_RESERVATION_WAITING) {
            waited++;
            assert_int_equal(s.sum.n_waiting, 1);
            assert_true(r.room_kib >= r.size_kib);
            assert_true(r.free_kib < r.size_kib);
        }
    }
    assert_int_equal(r.state, POLICY_RESERVATION_GRANTED);
    assert_true(waited >= 1);
    /* the guests gave up their buffers, by the same amount each */
    assert_true(sum_assigned(&s) + r.size_kib <= s.sum.budget_kib);
    assert_true(sim_guest_assigned_kib(&s.g[0]) < 2400 * MiB);
    assert_true(sim_guest_assigned_kib(&s.g[0]) - sim_guest_assigned_kib(&s.g[1]) < 64 * MiB ||
                sim_guest_assigned_kib(&s.g[1]) - sim_guest_assigned_kib(&s.g[0]) < 64 * MiB);
    sim_host_free(&s);
}

/* A start of lower weight may not take what a guest of higher weight
 * desires: refused at once, room said, nobody trimmed for it. One of
 * higher weight may take everything above the guests' use. */
static void test_weight_decides(void **state)
{
    SimHost s;
    PolicyReservation lo = {.size_kib = 1536 * MiB, .weight = 2000};
    PolicyReservation hi = {.size_kib = 1536 * MiB, .weight = 8000};
    uint64_t before;

    (void)state;
    sim_host_init(&s, 8 * GiB);
    sim_host_add(&s, "a", 4 * GiB, 2400 * MiB, 2 * GiB);
    sim_host_add(&s, "b", 4 * GiB, 2400 * MiB, 2 * GiB);
    sim_host_run(&s, 30);
    before = sum_assigned(&s);
    policy_engine_set_reservations(s.engine, &lo, 1);
    run_checked(&s, &lo, 1);
    assert_int_equal(lo.state, POLICY_RESERVATION_REFUSED);
    /* what it could have had: the 6 GiB budget less the guests' desires */
    assert_true(lo.room_kib < lo.size_kib);
    assert_int_equal(lo.room_kib, s.sum.budget_kib - s.out[0].desired_kib - s.out[1].desired_kib);
    assert_int_equal(s.sum.reserved_kib, 0);
    sim_host_run(&s, 5);
    assert_int_equal(sum_assigned(&s), before);

    policy_engine_set_reservations(s.engine, &hi, 1);
    for (int i = 0; i < 30 && hi.state == POLICY_RESERVATION_WAITING; i++)
        run_checked(&s, &hi, 1);
    assert_int_equal(hi.state, POLICY_RESERVATION_GRANTED);
    sim_host_free(&s);
}

/* The same weight takes buffers only; a higher weight also a guest's
 * decaying peak, down to what it uses now. */
static void test_peak_only_for_higher_weight(void **state)
{
    SimHost s;
    PolicyReservation same = {.size_kib = 1 * GiB, .weight = 5000};
    PolicyReservation higher = {.size_kib = 1 * GiB, .weight = 6000};

    (void)state;
    sim_host_init(&s, 8 * GiB);
    sim_host_add(&s, "a", 6 * GiB, 4 * GiB, 3 * GiB);
    sim_host_run(&s, 30);
    /* the workload drops to 1 GiB: its need decays from 3 GiB slowly */
    s.g[0].used_kib = 1 * GiB;
    sim_host_run(&s, 2);
    assert_true(s.out[0].need_kib > 2 * GiB);
    policy_engine_set_reservations(s.engine, &same, 1);
    sim_host_plan(&s);
    policy_engine_set_reservations(s.engine, &higher, 1);
    sim_host_plan(&s);
    /* the same budget, but the higher weight also counts the peak */
    assert_true(higher.room_kib >= same.room_kib + 1 * GiB);
    assert_int_equal(higher.room_kib - same.room_kib, s.out[0].need_kib - s.out[0].floor_kib);
    sim_host_free(&s);
}

/* Two starts at once: never both promised the same memory; the second
 * waits for the first's share to be taken into account, and a third that
 * nothing could hold is refused. */
static void test_two_starts(void **state)
{
    SimHost s;
    PolicyReservation res[3] = {
        {.size_kib = 2560 * MiB, .weight = 5000},
        {.size_kib = 2560 * MiB, .weight = 5000},
        {.size_kib = 1 * GiB, .weight = 5000},
    };

    (void)state;
    /* B = 6 GiB; one guest using 1 GiB holds 1.2 GiB */
    sim_host_init(&s, 8 * GiB);
    sim_host_add(&s, "a", 4 * GiB, 4 * GiB, 1 * GiB);
    sim_host_run(&s, 30);
    policy_engine_set_reservations(s.engine, res, 3);
    run_checked(&s, res, 3);
    assert_int_equal(res[0].state, POLICY_RESERVATION_GRANTED);
    assert_int_equal(res[1].state, POLICY_RESERVATION_WAITING);
    assert_int_equal(res[2].state, POLICY_RESERVATION_REFUSED);
    for (int i = 0; i < 30 && res[1].state == POLICY_RESERVATION_WAITING; i++)
        run_checked(&s, res, 3);
    assert_int_equal(res[1].state, POLICY_RESERVATION_GRANTED);
    assert_true(sum_assigned(&s) + 5 * GiB <= s.sum.budget_kib);
    assert_true(sim_guest_assigned_kib(&s.g[0]) >= 1 * GiB);
    sim_host_free(&s);
}

/* Every regime: an overcommitted host refuses any start; under pressure
 * (needs or floors) a start of higher weight still gets what the lower
 * guests have above their use, and the floors are kept. */
static void test_regimes(void **state)
{
    SimHost s;
    PolicyReservation r = {.size_kib = 513 * MiB, .weight = 9000};

    (void)state;
    /* B = 6 GiB; two guests using 2.75 GiB: their buffers do not fit
     * (pressure), each holds 3 GiB */
    sim_host_init(&s, 8 * GiB);
    sim_host_add(&s, "a", 8 * GiB, 3 * GiB, 2816 * MiB);
    sim_host_add(&s, "b", 8 * GiB, 3 * GiB, 2816 * MiB);
    sim_host_run(&s, 30);
    assert_int_equal(s.sum.state, POLICY_HOST_PRESSURE);
    /* 6 GiB − 5.5 GiB in use: 512 MiB at most, whatever the weight */
    policy_engine_set_reservations(s.engine, &r, 1);
    sim_host_run(&s, 1);
    assert_int_equal(r.state, POLICY_RESERVATION_REFUSED);
    assert_int_equal(r.room_kib, 512 * MiB);
    r = (PolicyReservation){.size_kib = 512 * MiB, .weight = 9000};
    policy_engine_set_reservations(s.engine, &r, 1);
    for (int i = 0; i < 30 && r.state == POLICY_RESERVATION_WAITING; i++)
        run_checked(&s, &r, 1);
    assert_int_equal(r.state, POLICY_RESERVATION_GRANTED);

    /* now their minimums are more than the budget: overcommitted,
     * refused */
    policy_engine_set_reservations(s.engine, NULL, 0);
    for (size_t i = 0; i < 2; i++)
        s.g[i].policy.minimum = (PolicyAmount){POLICY_AMOUNT_KIB, 3500 * MiB};
    sim_host_run(&s, 30);
    assert_int_equal(s.sum.state, POLICY_HOST_OVERCOMMITTED);
    r = (PolicyReservation){.size_kib = 64 * MiB, .weight = 10000};
    policy_engine_set_reservations(s.engine, &r, 1);
    sim_host_run(&s, 1);
    assert_int_equal(r.state, POLICY_RESERVATION_REFUSED);
    assert_int_equal(r.room_kib, 0);
    sim_host_free(&s);
}

/* What-if over a plan's entries: free now, after trims (and which), or
 * refused; nothing is changed. */
static void test_whatif(void **state)
{
    PolicyAllocItem items[2];
    const uint64_t assigned[2] = {3 * GiB, 3 * GiB};
    uint64_t trims[2], room;
    PolicyAllocScratch scratch = {0};
    const PolicyAllocItem base[2] = {
        {.floor_kib = 1 * GiB, .need_kib = 2 * GiB, .cap_kib = 3 * GiB, .weight = 8000},
        {.floor_kib = 1 * GiB, .need_kib = 2 * GiB, .cap_kib = 3 * GiB, .weight = 2000},
    };

    (void)state;
    /* budget 8 GiB, 6 held: 2 GiB free */
    memcpy(items, base, sizeof(items));
    assert_int_equal(policy_admission_whatif(items, assigned, 2, &scratch, 8 * GiB, 0, 0, 2 * GiB,
                                             5000, &room, trims),
                     POLICY_RESERVATION_GRANTED);
    assert_int_equal(trims[0] + trims[1], 0);
    /* 3 GiB: 1 GiB must come from the guests' buffers */
    memcpy(items, base, sizeof(items));
    assert_int_equal(policy_admission_whatif(items, assigned, 2, &scratch, 8 * GiB, 0, 0, 3 * GiB,
                                             5000, &room, trims),
                     POLICY_RESERVATION_WAITING);
    /* room: 8 − 3 (the higher one's desire) − 1 (the lower one's floor) */
    assert_int_equal(room, 4 * GiB);
    /* (water-filling leaves a KiB of rounding to nobody) */
    assert_in_range(trims[0] + trims[1], 1 * GiB, 1 * GiB + 4);
    assert_true(trims[1] >= trims[0]);
    /* 5 GiB: more than a start of weight 5000 may take */
    memcpy(items, base, sizeof(items));
    assert_int_equal(policy_admission_whatif(items, assigned, 2, &scratch, 8 * GiB, 0, 0, 5 * GiB,
                                             5000, &room, trims),
                     POLICY_RESERVATION_REFUSED);
    /* what reservations hold counts */
    memcpy(items, base, sizeof(items));
    assert_int_equal(policy_admission_whatif(items, assigned, 2, &scratch, 8 * GiB, 2 * GiB, 0,
                                             3 * GiB, 5000, &room, trims),
                     POLICY_RESERVATION_REFUSED);
    policy_alloc_scratch_clear(&scratch);
}

static void test_strings(void **state)
{
    (void)state;
    assert_string_equal(policy_reservation_state_to_string(POLICY_RESERVATION_WAITING), "waiting");
    assert_string_equal(policy_reservation_state_to_string(POLICY_RESERVATION_GRANTED), "reserved");
    assert_string_equal(policy_reservation_state_to_string(POLICY_RESERVATION_REFUSED), "refused");
    assert_string_equal(policy_reservation_state_to_string(POLICY_RESERVATION_LAST), "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_size),      cmocka_unit_test(test_kept_by_weight),
        cmocka_unit_test(test_granted_at_once), cmocka_unit_test(test_room_made_from_buffers),
        cmocka_unit_test(test_weight_decides),  cmocka_unit_test(test_peak_only_for_higher_weight),
        cmocka_unit_test(test_two_starts),      cmocka_unit_test(test_regimes),
        cmocka_unit_test(test_whatif),          cmocka_unit_test(test_strings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
