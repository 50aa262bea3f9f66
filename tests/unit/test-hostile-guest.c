/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stories of a guest that lies (issue 9 §3). A guest's balloon driver
 * writes its own statistics, and QEMU's balloon figure is its boot memory
 * minus what the guest says it gave up, so a hostile guest controls them
 * all: usable above available, available above assigned, counters that wrap
 * or jump, a huge swap-in, a last_update in the future, an absurd balloon.
 *
 * Whatever it claims, the engine must not crash or overflow, must not give
 * it more than its maximum or more than its weighted share of scarce
 * memory, and must not take memory an honest neighbour is using. The
 * fuzzer (tests/fuzz/fuzz-engine.c) checks the same over arbitrary input;
 * these are the named cases, readable and deterministic.
 */
#include "engine.h"
#include "guest-sim.h"
#include "planner.h"
#include "test-sizes.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

/* Fills the hostile guest's sample; `cycle` counts from 0. */
typedef void (*LieFunc)(SimGuest *g, PolicyDomainSample *s, int cycle);

typedef struct {
    SimHost h;
    SimGuest *honest, *evil;
    LieFunc lie; /* what the evil one says */
} Sim;

/* What any guest says: the truth, with MemTotal as well; then the hostile
 * one's lies. */
static void bend_report(SimHost *h, SimGuest *g, void *userdata)
{
    Sim *s = userdata;

    g->sample.has_available = true;
    g->sample.available_kib = g->sample.assigned_kib;
    g->sample.has_major_faults = true;
    if (g == s->evil)
        s->lie(g, &g->sample, h->cycle);
}

/* Two 8 GiB guests holding 1 GiB each on a host of host_total: an honest
 * one using honest_used, and the hostile one, whose workload really uses
 * 512 MiB. */
static void sim_init(Sim *s, uint64_t host_total, uint64_t honest_used, LieFunc lie)
{
    sim_host_init(&s->h, host_total);
    s->honest = sim_host_add(&s->h, "honest", 8 * GiB, 1 * GiB, honest_used);
    s->evil = sim_host_add(&s->h, "evil", 8 * GiB, 1 * GiB, 512 * MiB);
    s->lie = lie;
    s->h.bend_report = bend_report;
    s->h.bend_userdata = s;
}

/* One cycle, and what must hold whatever the hostile guest says. */
static void sim_cycle(Sim *s)
{
    SimHost *h = &s->h;
    uint64_t sum_t = 0, sum_claimed = 0, pending[2];

    for (int i = 0; i < 2; i++)
        pending[i] = h->g[i].state.grow_pending_to_kib;
    sim_host_plan(h);
    for (int i = 0; i < 2; i++) {
        const PolicyPlanEntry *e = &h->out[i];

        /* never grown above the maximum (8 GiB, or the policy's) nor
         * shrunk below the minimum; never counted above what it can hold.
         * (A guest claiming more than its maximum is shrunk from what it
         * claims, max-shrink a cycle; by refusing to inflate, any guest
         * can keep its boot memory anyway: the ceiling is the hard limit.) */
        if (e->target_kib > e->assigned_kib)
            assert_true(e->target_kib <= e->maximum_kib);
        assert_true(e->target_kib <= MAX(e->maximum_kib, e->assigned_kib));
        assert_true(e->target_kib >= MIN(e->minimum_kib, e->assigned_kib));
        assert_true(e->assigned_kib <= h->g[i].caps.balloon_max_kib);
        sum_t += e->target_kib;
        /* a grow asked for and not seen yet is counted as taken */
        sum_claimed += MAX(e->assigned_kib, pending[i]);
    }
    /* the honest guest keeps what its workload uses */
    assert_true(h->out[0].target_kib >=
                MIN(sim_guest_assigned_kib(s->honest), s->honest->used_kib));
    /* growth only from free memory (by the figures the engine was given
     * and the grows in flight) */
    assert_true(sum_t <= MAX(h->sum.budget_kib, sum_claimed));

    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < h->out[i].n_actions; k++) {
            const PolicyAction *a = &h->out[i].actions[k];

            assert_int_equal(a->kind, POLICY_ACTION_BALLOON); /* balloon-only guests */
            /* libvirt refuses a balloon above its ceiling */
            assert_true(a->to_kib <= h->g[i].caps.balloon_max_kib);
        }
    }
    sim_host_follow(h);
}

static void run(Sim *s, int cycles)
{
    for (int i = 0; i < cycles; i++)
        sim_cycle(s);
}

/* The honest guest's workload grows from 1 GiB to 3 GiB: it gets it. */
static void honest_grows(Sim *s)
{
    s->honest->used_kib = 3 * GiB;
    run(s, 5);
    assert_true(sim_guest_assigned_kib(s->honest) >= 3 * GiB);
}

/* ---- the lies ----------------------------------------------------------- */

/* MemAvailable above MemTotal and above what it has: "I use nothing". */
static void lie_usable_above_available(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    s->usable_kib = 3 * s->assigned_kib;
    s->available_kib = s->assigned_kib / 2;
}

static void test_usable_above_available(void **state)
{
    Sim s;

    sim_init(&s, 16 * GiB, 1 * GiB, lie_usable_above_available);
    run(&s, 20);
    /* it talked itself down to its minimum, no further */
    assert_int_equal(sim_guest_assigned_kib(s.evil), 512 * MiB);
    honest_grows(&s);
    sim_host_free(&s.h);
}

/* MemTotal far above what it has, nothing available: "I use it all, and
 * more". It gets its maximum at most. */
static void lie_available_above_assigned(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    s->available_kib = 1024 * GiB;
    s->usable_kib = 0;
}

static void test_available_above_assigned(void **state)
{
    Sim s;

    sim_init(&s, 32 * GiB, 1 * GiB, lie_available_above_assigned);
    s.evil->policy.maximum = (PolicyAmount){POLICY_AMOUNT_KIB, 4 * GiB};
    run(&s, 20);
    assert_true(sim_guest_assigned_kib(s.evil) <= 4 * GiB);
    honest_grows(&s);
    sim_host_free(&s.h);
}

/* Counters that wrap, go back and jump, and a swap-in of a terabyte a
 * second: demand saturates instead of wrapping, the maximum still holds. */
static void lie_counters(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    static const uint64_t swap[] = {UINT64_MAX - 5, 3, UINT64_C(1) << 60, 0, UINT64_MAX};

    s->swap_in_kib = swap[cycle % 5];
    s->major_faults = cycle % 2 ? UINT64_MAX : 1;
    if (cycle >= 10)
        s->swap_in_kib = (uint64_t)cycle * 1024 * GiB; /* 1 TiB a second */
}

static void test_counters_wrap_and_jump(void **state)
{
    Sim s;

    sim_init(&s, 16 * GiB, 1 * GiB, lie_counters);
    s.evil->policy.maximum = (PolicyAmount){POLICY_AMOUNT_KIB, 3 * GiB};
    run(&s, 20);
    /* "under pressure": it grew, to its maximum and no further */
    assert_true(sim_guest_assigned_kib(s.evil) <= 3 * GiB);
    assert_true(s.h.out[1].demand_kib >= s.h.out[1].assigned_kib);
    honest_grows(&s);
    sim_host_free(&s.h);
}

/* A last_update far in the future, then at the end of time, then before
 * the epoch: never a crash; a report that never changes again is stale
 * (held), never shrunk. */
static void lie_last_update(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    static const int64_t when[] = {INT64_MAX, INT64_MIN, -1};

    s->usable_kib = 0; /* "I need all I have" */
    if (cycle < 3)
        s->last_update_s = when[cycle];
    else
        s->last_update_s = s->wallclock_s + 1000000000; /* in the future */
}

static void test_last_update_in_the_future(void **state)
{
    Sim s;

    sim_init(&s, 16 * GiB, 1 * GiB, lie_last_update);
    s.evil->balloon_kib = 2 * GiB;
    run(&s, 20);
    assert_true(sim_guest_assigned_kib(s.evil) >= 2 * GiB);
    assert_true(sim_guest_assigned_kib(s.evil) <= 8 * GiB);
    honest_grows(&s);
    sim_host_free(&s.h);
}

/* A balloon figure of 2^62 KiB: counted at what the guest can hold (its
 * 8 GiB ceiling), so the honest neighbour can still grow. Before the
 * engine clamped it, the absurd figure ate the whole budget and nobody
 * else could grow. */
static void lie_balloon(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    s->balloon_kib = UINT64_C(1) << 62;
    s->assigned_kib = s->balloon_kib;
    s->usable_kib = s->available_kib = 512 * MiB; /* its demand looks absurd too */
}

static void test_absurd_balloon_figure(void **state)
{
    Sim s;

    sim_init(&s, 24 * GiB, 1 * GiB, lie_balloon);
    run(&s, 10);
    assert_true(s.h.out[1].assigned_kib <= 8 * GiB);
    honest_grows(&s);
    sim_host_free(&s.h);
}

/* Scarce memory, equal weights: from the moment the honest guest needs
 * 5 GiB, the hostile one claims to need its whole 8 GiB (nothing available,
 * swapping a gigabyte a second). Neither gets more than the other of what
 * was free, and with a tenth of the honest guest's weight the liar gets
 * less. (Memory a guest claimed while the host had room, it keeps: a
 * claim of memory in use cannot be told from real use.) */
static void lie_needs_everything(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    if (cycle < 3)
        return; /* honest while the host has room */
    s->usable_kib = 0;
    s->swap_in_kib = (uint64_t)cycle * GiB;
}

static void share_story(uint32_t evil_weight)
{
    Sim s;

    /* budget: 12 - 1 reserve - 1 other = 10 GiB; both start at 1 GiB */
    sim_init(&s, 12 * GiB, 1 * GiB, lie_needs_everything);
    s.evil->policy.weight = evil_weight;
    s.honest->policy.weight = 5000;
    run(&s, 3);
    s.honest->used_kib = 5 * GiB;
    run(&s, 20);
    uint64_t honest_a = sim_guest_assigned_kib(s.honest), evil_a = sim_guest_assigned_kib(s.evil);
    print_message("weights %u:5000: honest %" PRIu64 " MiB, hostile %" PRIu64 " MiB\n", evil_weight,
                  honest_a / MiB, evil_a / MiB);
    assert_true(honest_a + evil_a <= 10 * GiB);
    if (evil_weight <= 5000)
        assert_true(evil_a <= honest_a);
    if (evil_weight < 5000)
        assert_true(honest_a >= 5 * GiB); /* its whole demand */
    sim_host_free(&s.h);
}

static void test_weighted_share(void **state)
{
    share_story(5000);
    share_story(500);
}

/* Every lie at once, drawn at random each cycle for many cycles. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t any_figure(uint64_t a)
{
    switch (rnd() % 6) {
    case 0:
        return 0;
    case 1:
        return UINT64_MAX;
    case 2:
        return rnd();
    default:
        return rnd() % (2 * a + 1);
    }
}

static void lie_at_random(SimGuest *g, PolicyDomainSample *s, int cycle)
{
    uint64_t a = s->assigned_kib;

    s->has_usable = rnd() % 8 != 0;
    s->has_available = rnd() % 2;
    s->has_unused = rnd() % 2;
    s->usable_kib = any_figure(a);
    s->available_kib = any_figure(a);
    s->unused_kib = any_figure(a);
    s->disk_caches_kib = any_figure(a);
    s->swap_in_kib = rnd() % 3 ? s->swap_in_kib : rnd();
    s->major_faults = rnd();
    s->last_update_s = rnd() % 4 ? s->last_update_s : (int64_t)rnd();
    if (rnd() % 4 == 0) {
        s->balloon_kib = any_figure(g->balloon_kib);
        s->assigned_kib = s->balloon_kib;
    }
}

static void test_random_lies(void **state)
{
    Sim s;

    sim_init(&s, 16 * GiB, 1 * GiB, lie_at_random);
    s.evil->policy.maximum = (PolicyAmount){POLICY_AMOUNT_KIB, 6 * GiB};
    for (int i = 0; i < 20000; i++) {
        if (i % 100 == 0)
            s.honest->used_kib = (rnd() % 6 + 1) * GiB;
        sim_cycle(&s);
        assert_true(sim_guest_assigned_kib(s.evil) <= 8 * GiB);
    }
    sim_host_free(&s.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usable_above_available),
        cmocka_unit_test(test_available_above_assigned),
        cmocka_unit_test(test_counters_wrap_and_jump),
        cmocka_unit_test(test_last_update_in_the_future),
        cmocka_unit_test(test_absurd_balloon_figure),
        cmocka_unit_test(test_weighted_share),
        cmocka_unit_test(test_random_lies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
