/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Randomized invariants with fixed seeds: the allocator and the engine over
 * well over 100,000 random hosts. A failure prints its seed and host index.
 *
 * The engine is checked against what it promises, from its published
 * output (the plan entries and summary): targets within [minimum, maximum]
 * or moving toward them, no change below the configured step unless a bound
 * or a documented exception calls for it, growth only from free memory,
 * Σ targets within the budget when the floors fit, valid actions, the same
 * plan for the same input, and more weight never less memory.
 */
#include "allocate.h"
#include "engine.h"
#include "guest-sim.h"
#include "planner.h"
#include "test-sizes.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#define MAX_DOMAINS 8

static uint64_t rng_state;

static uint64_t u64_max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t u64_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t rnd(void)
{
    /* xorshift64*: small, fast and the same everywhere */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t rnd_range(uint64_t lo, uint64_t hi) /* inclusive */
{
    return lo + rnd() % (hi - lo + 1);
}

static bool rnd_pct(unsigned pct)
{
    return rnd() % 100 < pct;
}

/* ---- allocator ----------------------------------------------------------- */

static void random_items(PolicyAllocItem *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t f = rnd_range(0, 4 * GiB), nd = rnd_range(0, 8 * GiB), c = rnd_range(0, 16 * GiB);

        items[i] = (PolicyAllocItem){
            .floor_kib = f,
            .need_kib = nd,
            .cap_kib = c,
            .weight = rnd_pct(10) ? 0 : (uint32_t)rnd_range(1, 10000),
        };
    }
}

static void test_allocator_invariants(void **state)
{
    static const uint64_t seeds[] = {1, 42, 0xdecafbad};
    PolicyAllocScratch scratch = {0};

    (void)state;
    for (size_t si = 0; si < G_N_ELEMENTS(seeds); si++) {
        rng_state = seeds[si];
        for (int trial = 0; trial < 40000; trial++) {
            PolicyAllocItem items[MAX_DOMAINS], again[MAX_DOMAINS];
            size_t n = rnd_range(1, MAX_DOMAINS), pick;
            uint64_t sum_floor = 0, sum_cap = 0, sum = 0, budget;
            PolicyRegime regime;

            random_items(items, n);
            for (size_t i = 0; i < n; i++) {
                sum_floor += items[i].floor_kib;
                sum_cap += u64_max(items[i].cap_kib, items[i].floor_kib);
            }
            /* budgets around every regime boundary */
            budget = rnd_range(sum_floor / 2, sum_cap + sum_cap / 4);
            regime = policy_allocate(items, n, budget, &scratch);
            for (size_t i = 0; i < n; i++) {
                const PolicyAllocItem *it = &items[i];

                if (it->result_kib < it->floor_kib || it->result_kib > it->cap_kib)
                    fail_msg("seed %" PRIu64 " trial %d: item %zu outside [floor, cap]", seeds[si],
                             trial, i);
                assert_true(it->need_kib >= it->floor_kib && it->need_kib <= it->cap_kib);
                sum += it->result_kib;
            }
            if (sum_floor <= budget && sum > budget)
                fail_msg("seed %" PRIu64 " trial %d: Σ %" PRIu64 " > budget %" PRIu64, seeds[si],
                         trial, sum, budget);
            assert_int_equal(regime == POLICY_REGIME_OVERCOMMITTED, sum_floor > budget);

            /* more weight never means less memory */
            memcpy(again, items, sizeof(again));
            pick = rnd_range(0, n - 1);
            again[pick].weight = (uint32_t)rnd_range(again[pick].weight, 10000);
            policy_allocate(again, n, budget, &scratch);
            if (again[pick].result_kib < items[pick].result_kib)
                fail_msg("seed %" PRIu64 " trial %d: weight %u -> %u lowered %" PRIu64
                         " -> %" PRIu64,
                         seeds[si], trial, items[pick].weight, again[pick].weight,
                         items[pick].result_kib, again[pick].result_kib);
        }
    }
    policy_alloc_scratch_clear(&scratch);
}

/* ---- engine -------------------------------------------------------------- */

typedef struct {
    PolicyConfig cfg;
    PolicyHostSample host;
    size_t n;
    SimGuest g[MAX_DOMAINS];
    PolicyDomainInput in[MAX_DOMAINS];
    bool damping_off;
} Host;

static PolicyAmount random_amount(uint64_t max_kib, bool allow_unset)
{
    switch (rnd() % (allow_unset ? 3 : 2)) {
    case 0:
        return (PolicyAmount){POLICY_AMOUNT_KIB, rnd_range(0, max_kib)};
    case 1:
        return (PolicyAmount){POLICY_AMOUNT_PERCENT, rnd_range(0, 100)};
    default:
        return (PolicyAmount){POLICY_AMOUNT_UNSET, 0};
    }
}

static void random_host(Host *h, uint64_t now)
{
    uint64_t sum_assigned = 0;

    memset(h, 0, sizeof(*h));
    h->damping_off = rnd_pct(30);
    h->cfg.reserve = random_amount(4 * GiB, true);
    h->cfg.pool_kib = rnd_pct(20) ? rnd_range(1 * GiB, 64 * GiB) : 0;
    h->cfg.overhead_kib = rnd_range(0, 200 * MiB);
    h->cfg.psi_threshold_pct = rnd_pct(50) ? (uint32_t)rnd_range(1, 50) : 0;
    h->cfg.deflate_reserve_guests = (uint32_t)rnd_range(0, 4);
    h->cfg.tuning = (PolicyTuning){
        .grace_us = rnd_range(0, 60 * SEC),
        .demand_half_life_us = rnd_range(0, 60 * SEC),
        .min_step_kib = h->damping_off ? 0 : rnd_range(0, 64 * MiB),
        .min_step_pct = h->damping_off ? 0 : (uint32_t)rnd_range(0, 5),
        .max_shrink_kib = h->damping_off ? 0 : rnd_range(0, 1 * GiB),
        .uncooperative_timeout_us = rnd_range(1, 30) * SEC,
        .uncooperative_retry_us = rnd_range(1, 300) * SEC,
        .stale_periods = (uint32_t)rnd_range(0, 5),
        .pressure_swap_in_kib_s = rnd_range(0, 4096),
        .pressure_major_faults_s = rnd_range(0, 1000),
        .pressure_boost_pct = (uint32_t)rnd_range(0, 50),
    };
    h->n = rnd_range(1, MAX_DOMAINS);
    for (size_t i = 0; i < h->n; i++) {
        SimGuest *g = &h->g[i];
        PolicyDomainCaps *c = &g->caps;
        PolicyDomainSample *s = &g->sample;
        uint64_t balloon, assigned;

        g_strlcpy(g->name, "d", sizeof(g->name));
        g->policy = (PolicyEffective){
            .mode = rnd_pct(10) ? POLICY_MODE_STATIC : POLICY_MODE_DYNAMIC,
            .minimum = random_amount(4 * GiB, true),
            .startup = random_amount(8 * GiB, true),
            .maximum = random_amount(32 * GiB, true),
            .buffer_pct = (uint32_t)rnd_range(0, 100),
            .weight = rnd_pct(10) ? 0 : (uint32_t)rnd_range(1, 10000),
            .burst_headroom = {.learn = rnd_pct(50),
                               .kib = rnd_pct(30) ? 0 : rnd_range(0, 1 * GiB)},
            .buffer_min_kib = rnd_pct(50) ? 0 : rnd_range(0, 256 * MiB),
            .rule_index = -1,
        };
        c->has_balloon = !rnd_pct(5);
        c->balloon_autodeflate = rnd_pct(30);
        c->stats_period_s = (uint32_t)rnd_range(0, 5);
        c->balloon_max_kib = rnd_range(256, 16 * 1024) * MiB;
        c->n_virtio_mem = rnd_pct(40) ? rnd_range(1, 2) : 0;
        for (size_t k = 0; k < c->n_virtio_mem; k++) {
            PolicyVirtioMem *vm = &c->virtio_mem[k];
            uint64_t block = (uint64_t)2 << rnd_range(0, 6); /* 2..128 MiB */

            g_snprintf(vm->alias, sizeof(vm->alias), "vmem%zu", k);
            vm->block_kib = block * MiB;
            vm->size_kib = rnd_range(1, 64) * vm->block_kib;
            vm->current_kib = rnd_range(0, vm->size_kib / vm->block_kib) * vm->block_kib;
            vm->requested_kib = rnd_pct(80)
                                    ? vm->current_kib
                                    : rnd_range(0, vm->size_kib / vm->block_kib) * vm->block_kib;
        }
        c->total_memory_kib = policy_caps_reach_kib(c); /* no DIMM room yet */
        if (rnd_pct(40)) {
            c->max_memory_kib = c->total_memory_kib + rnd_range(0, 32 * GiB);
            c->free_dimm_slots = (uint32_t)rnd_range(0, 4);
            c->dimm_node = rnd_pct(80) ? 0 : -1;
        } else {
            c->dimm_node = -1;
        }
        c->dimm_block_kib = 128 * MiB;

        balloon = rnd_range(c->balloon_max_kib / 8, c->balloon_max_kib);
        g->balloon_kib = balloon;
        assigned = policy_caps_assigned_kib(c, balloon);
        *s = (PolicyDomainSample){
            .timestamp_us = now,
            .wallclock_s = (int64_t)(now / SEC),
            .has_balloon_stats = !rnd_pct(5),
            .assigned_kib = assigned,
            .balloon_kib = balloon,
            .has_usable = rnd_pct(85),
            .usable_kib = rnd_range(0, assigned),
            /* MemTotal: mostly consistent, sometimes below MemAvailable or
             * above what QEMU says (hot-plugged memory seen early) */
            .has_available = rnd_pct(60),
            .available_kib = rnd_range(0, assigned + 256 * MiB),
            .has_unused = rnd_pct(90),
            .unused_kib = rnd_range(0, assigned / 2),
            .disk_caches_kib = rnd_range(0, assigned / 2),
            .has_swap_in = rnd_pct(70),
            .swap_in_kib = rnd_range(0, 1 * GiB),
            .has_major_faults = rnd_pct(70),
            .major_faults = rnd_range(0, 100000),
            .last_update_s = rnd_pct(10) ? (int64_t)(now / SEC) - (int64_t)rnd_range(0, 30)
                                         : (int64_t)(now / SEC),
            .has_rss = rnd_pct(60),
            .rss_kib = rnd_range(assigned / 2, assigned + 300 * MiB),
        };
        if (rnd_pct(20))
            policy_domain_state_init_booted(&g->state, now - rnd_range(0, 120 * SEC));
        h->in[i] = sim_guest_input(g);
        if (rnd_pct(3))
            h->in[i].sample = NULL;
        sum_assigned += assigned;
    }
    h->host.mem_total_kib = rnd_range(sum_assigned / 2 + 1, sum_assigned * 2 + 64 * GiB);
    h->host.mem_available_kib = rnd_range(0, h->host.mem_total_kib);
    h->host.has_psi = rnd_pct(50);
    h->host.psi_some_avg10 = (double)rnd_range(0, 10000) / 100.0;
}

/* What the random hosts exercised, printed so a reader can see coverage. */
static size_t seen_status[POLICY_STATUS_LAST], seen_state[POLICY_HOST_LAST],
    seen_action[POLICY_ACTION_LAST], seen_weight_raised_target;

/* The minimum step as the configuration defines it (config.h, tuning
 * min-step and min-step-percent): max(min-step, min-step-percent of A). */
static uint64_t step_of(const PolicyTuning *t, uint64_t a)
{
    return u64_max(t->min_step_kib, (uint64_t)((unsigned __int128)a * t->min_step_pct / 100));
}

/* Whether a managed domain other than skip grows, or is short of what it
 * desires (a grow the memory free now could not cover). */
static bool some_grow_waits(const Host *h, const PolicyPlanEntry *out, size_t skip)
{
    for (size_t j = 0; j < h->n; j++)
        if (j != skip && out[j].managed &&
            (out[j].target_kib > out[j].assigned_kib || out[j].target_kib < out[j].desired_kib))
            return true;
    return false;
}

static void check_cycle(const Host *h, const PolicyPlanEntry *out, const PolicyPlanSummary *sum,
                        uint64_t now, bool fresh, uint64_t seed, int idx)
{
    uint64_t sum_a = 0, sum_t = 0, sum_floor = 0;

    for (size_t i = 0; i < h->n; i++) {
        const PolicyPlanEntry *e = &out[i];
        uint64_t a = e->assigned_kib, t = e->target_kib;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail_msg("seed %" PRIu64 " host %d domain %zu: %s (A %" PRIu64 " T %" PRIu64           \
                     " min %" PRIu64 " max %" PRIu64 " status %s)",                                \
                     seed, idx, i, #cond, a, t, e->minimum_kib, e->maximum_kib,                    \
                     policy_status_to_string(e->status));                                          \
    } while (0)

        seen_status[e->status]++;
        for (size_t k = 0; k < e->n_actions; k++)
            seen_action[e->actions[k].kind]++;
        if (!e->managed) {
            CHECK(t == a);
            CHECK(e->n_actions == 0);
            continue;
        }
        CHECK(e->minimum_kib <= e->maximum_kib);
        /* never out of bounds, never further out */
        CHECK(t <= u64_max(e->maximum_kib, a));
        CHECK(t >= u64_min(e->minimum_kib, a));
        if (a >= e->minimum_kib && a <= e->maximum_kib)
            CHECK(t >= e->minimum_kib && t <= e->maximum_kib);
        /* no change below the step unless it restores a bound, or is a
         * grow for a guest down to less than half its buffer (safety
         * first: such a guest is a second from its OOM killer) */
        if (t != a) {
            bool restores = (a < e->minimum_kib && t > a) || (a > e->maximum_kib && t < a);
            uint64_t half_buffer = e->desired_kib > e->need_kib
                                       ? e->need_kib + (e->desired_kib - e->need_kib) / 2
                                       : e->need_kib;
            bool short_of_buffer = t > a && a < half_buffer;
            /* ... or a grow for a guest whose demand ramps up this cycle
             * (the engine notes when it last did) with less than twice
             * its trend free above its demand */
            const PolicyDomainState *st = h->in[i].state;
            bool ramping =
                t > a && st->ramp_us == now && a < e->demand_kib + 2 * st->trend_peak_kib;
            /* over the budget, even a small reclaim is made */
            bool over_budget = t < a && sum->sum_assigned_kib > sum->budget_kib;
            /* ... and so is one another guest's grow waits on */
            bool for_grow = t < a && strncmp(e->reason, "reclaim for a waiting grow", 26) == 0 &&
                            some_grow_waits(h, out, i);
            uint64_t d = t > a ? t - a : a - t;
            /* a change in flight, not asked again: its target is what was
             * asked, which the balloon may be less than a step from now */
            bool in_flight = e->n_actions == 0;

            CHECK(d >= step_of(&h->cfg.tuning, a) || restores || short_of_buffer || ramping ||
                  over_budget || for_grow || in_flight);
        }
        /* Never trimmed below its burst headroom while the host has room for
         * every desire (alignment may round a shrink down by half a step,
         * the maximum wins). */
        if (sum->state == POLICY_HOST_OK && t < a && a <= e->maximum_kib)
            CHECK(t + step_of(&h->cfg.tuning, a) >=
                  u64_min(a, u64_min(e->maximum_kib, e->demand_kib + e->headroom_kib)));
        /* protection: the net, or headroom kept, or said to be none */
        CHECK(e->protection < POLICY_PROTECTION_LAST);
        if (e->protection == POLICY_PROTECTION_DEFLATE_ON_OOM)
            CHECK(h->in[i].caps->balloon_autodeflate && e->headroom_kib == 0);
        if (e->protection == POLICY_PROTECTION_HEADROOM)
            CHECK(e->headroom_kib > 0);
        /* stale and uncooperative guests are never shrunk */
        if (e->status == POLICY_STATUS_STALE || e->status == POLICY_STATUS_UNCOOPERATIVE)
            CHECK(t >= a);
        if (fresh) {
            /* a change is made by this plan's actions, or is under way
             * already (a virtio-mem request the guest has not met yet) */
            bool under_way = false;
            for (size_t v = 0; v < h->in[i].caps->n_virtio_mem; v++)
                under_way |= h->in[i].caps->virtio_mem[v].requested_kib !=
                             h->in[i].caps->virtio_mem[v].current_kib;
            if (t != a)
                CHECK(e->n_actions > 0 || under_way);
            /* no change: only cancellations of unplugs or an inflation
             * under way (the balloon asked for its own size) */
            for (size_t k = 0; t == a && k < e->n_actions; k++) {
                const PolicyAction *act = &e->actions[k];
                const PolicyDomainCaps *c = h->in[i].caps;
                bool is_cancel = act->kind == POLICY_ACTION_BALLOON &&
                                 act->from_kib == act->to_kib &&
                                 act->to_kib == h->in[i].sample->balloon_kib;

                for (size_t v = 0; v < c->n_virtio_mem; v++)
                    is_cancel |= act->kind == POLICY_ACTION_VIRTIO_MEM &&
                                 strcmp(act->alias, c->virtio_mem[v].alias) == 0 &&
                                 act->to_kib == c->virtio_mem[v].current_kib &&
                                 c->virtio_mem[v].requested_kib < c->virtio_mem[v].current_kib;
                CHECK(is_cancel);
            }
        }
        for (size_t k = 0; k < e->n_actions; k++) {
            const PolicyAction *act = &e->actions[k];
            const PolicyDomainCaps *c = h->in[i].caps;

            if (act->kind == POLICY_ACTION_BALLOON) {
                CHECK(act->to_kib <= c->balloon_max_kib);
            } else if (act->kind == POLICY_ACTION_VIRTIO_MEM) {
                bool found = false;

                for (size_t v = 0; v < c->n_virtio_mem; v++) {
                    if (strcmp(c->virtio_mem[v].alias, act->alias) == 0) {
                        found = true;
                        CHECK(act->to_kib % c->virtio_mem[v].block_kib == 0);
                        CHECK(act->to_kib <= c->virtio_mem[v].size_kib);
                    }
                }
                CHECK(found);
            } else {
                CHECK(act->to_kib % c->dimm_block_kib == 0 && act->to_kib > 0);
                CHECK(c->free_dimm_slots > 0 && c->dimm_node >= 0);
                CHECK(act->node == c->dimm_node);
            }
        }
        sum_a += a;
        sum_t += t;
        sum_floor += e->floor_kib;
#undef CHECK
    }
    seen_state[sum->state]++;
    if (!fresh)
        return;
    /* growth only from what is free: Σ T <= max(B, Σ A) */
    if (sum_t > u64_max(sum->budget_kib, sum_a))
        fail_msg("seed %" PRIu64 " host %d: Σ T %" PRIu64 " > max(B %" PRIu64 ", Σ A %" PRIu64 ")",
                 seed, idx, sum_t, sum->budget_kib, sum_a);
    /* Σ T <= B whenever the floors fit, if damping cannot hold a shrink back
     * or the managed guests fit already */
    if (sum_floor <= sum->budget_kib && (h->damping_off || sum_a <= sum->budget_kib) &&
        sum_t > sum->budget_kib)
        fail_msg("seed %" PRIu64 " host %d: floors fit but Σ T %" PRIu64 " > B %" PRIu64, seed, idx,
                 sum_t, sum->budget_kib);
}

/* Let the guests follow the plan (or not), as the daemon would see it. */
static void apply(Host *h, const PolicyPlanEntry *out, uint64_t now)
{
    for (size_t i = 0; i < h->n; i++) {
        SimGuest *g = &h->g[i];
        PolicyDomainSample *s = &g->sample;

        g->ignores_shrink = !rnd_pct(80);
        sim_guest_follow(g, &out[i], now);
        s->balloon_kib = g->balloon_kib;
        s->assigned_kib = sim_guest_assigned_kib(g);
        s->usable_kib = rnd_range(0, s->assigned_kib);
        s->swap_in_kib += rnd_pct(20) ? rnd_range(0, 256 * MiB) : 0;
    }
}

/* Entries are equal in what they say: the fields, the n_actions actions
 * and the reason (slots past n_actions are not part of the result). */
static bool entries_equal(const PolicyPlanEntry *a, const PolicyPlanEntry *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], offsetof(PolicyPlanEntry, actions)) != 0 ||
            memcmp(a[i].actions, b[i].actions, a[i].n_actions * sizeof(PolicyAction)) != 0 ||
            strcmp(a[i].reason, b[i].reason) != 0)
            return false;
    }
    return true;
}

/* More weight never means less memory: the same cycle again, from the
 * state it started from, with one domain (chosen by the host's index, so
 * the random sequence stays that of the other checks) weighing more. */
static void check_more_weight(Host *h, PolicyEngine *engine, uint64_t now,
                              const PolicyPlanEntry *out, const PolicyDomainState *saved,
                              uint64_t seed, int idx)
{
    size_t pick = (size_t)idx % h->n;
    PolicyEffective *policy = &h->g[pick].policy;
    uint32_t weight = policy->weight;
    PolicyDomainState kept[MAX_DOMAINS];
    PolicyDomainInput in[MAX_DOMAINS];
    PolicyPlanEntry heavier[MAX_DOMAINS];
    PolicyPlanSummary sum;

    for (size_t i = 0; i < h->n; i++) {
        memcpy(&kept[i], &h->g[i].state, sizeof(kept[i]));
        memcpy(&h->g[i].state, &saved[i], sizeof(saved[i]));
    }
    memcpy(in, h->in, sizeof(in));
    policy->weight = weight + (10000 - MIN(weight, 10000) + 1) / 2;
    assert_int_equal(policy_engine_plan(engine, &h->cfg, &h->host, now, in, h->n, heavier, &sum),
                     0);
    seen_weight_raised_target += heavier[pick].target_kib > out[pick].target_kib;
    if (heavier[pick].target_kib < out[pick].target_kib)
        fail_msg("seed %" PRIu64 " host %d domain %zu: weight %u -> %u lowered its target %" PRIu64
                 " -> %" PRIu64,
                 seed, idx, pick, weight, policy->weight, out[pick].target_kib,
                 heavier[pick].target_kib);
    policy->weight = weight;
    for (size_t i = 0; i < h->n; i++)
        memcpy(&h->g[i].state, &kept[i], sizeof(kept[i]));
}

/* The engine left the same state behind for each domain. */
static bool states_equal(const PolicyDomainState *a, const Host *h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &h->g[i].state, sizeof(a[i])) != 0)
            return false;
    return true;
}

static void test_engine_invariants(void **state)
{
    static const uint64_t seeds[] = {7, 1234567, 0x5eed};
    enum { HOSTS_PER_SEED = 35000, CYCLES = 3 };
    g_autoptr(PolicyEngine) engine = policy_engine_new();
    g_autoptr(PolicyEngine) other = policy_engine_new();
    size_t hosts = 0;

    (void)state;
    for (size_t si = 0; si < G_N_ELEMENTS(seeds); si++) {
        rng_state = seeds[si];
        for (int idx = 0; idx < HOSTS_PER_SEED; idx++) {
            uint64_t now = 1000 * SEC + rnd_range(0, 1000) * SEC;
            Host h;

            random_host(&h, now);
            hosts++;
            for (int cycle = 0; cycle < CYCLES; cycle++) {
                PolicyPlanEntry out[MAX_DOMAINS], out2[MAX_DOMAINS];
                PolicyPlanSummary sum, sum2;
                PolicyDomainState saved[MAX_DOMAINS], after[MAX_DOMAINS];
                PolicyDomainInput in2[MAX_DOMAINS];

                for (size_t i = 0; i < h.n; i++)
                    memcpy(&saved[i], &h.g[i].state, sizeof(saved[i]));
                memset(out, 0, sizeof(out));
                assert_int_equal(
                    policy_engine_plan(engine, &h.cfg, &h.host, now, h.in, h.n, out, &sum), 0);
                check_cycle(&h, out, &sum, now, cycle == 0, seeds[si], idx);

                /* same input, same plan: again from the saved state, on
                 * another engine */
                for (size_t i = 0; i < h.n; i++) {
                    memcpy(&after[i], &h.g[i].state, sizeof(after[i]));
                    memcpy(&h.g[i].state, &saved[i], sizeof(saved[i]));
                }
                memcpy(in2, h.in, sizeof(in2));
                memset(out2, 0xa5, sizeof(out2));
                assert_int_equal(
                    policy_engine_plan(other, &h.cfg, &h.host, now, in2, h.n, out2, &sum2), 0);
                if (!entries_equal(out, out2, h.n) || memcmp(&sum, &sum2, sizeof(sum)) != 0 ||
                    !states_equal(after, &h, h.n))
                    fail_msg("seed %" PRIu64 " host %d cycle %d: not deterministic", seeds[si], idx,
                             cycle);
                check_more_weight(&h, other, now, out, saved, seeds[si], idx);

                now += rnd_range(1, 10) * SEC;
                apply(&h, out, now);
                for (size_t i = 0; i < h.n; i++) {
                    h.g[i].sample.timestamp_us = now;
                    h.g[i].sample.wallclock_s = (int64_t)(now / SEC);
                    h.g[i].sample.last_update_s = (int64_t)(now / SEC);
                }
            }
        }
    }
    assert_true(hosts >= 100000);
    print_message("%zu hosts, %d cycles each\n", hosts, CYCLES);
    for (int k = 0; k < POLICY_STATUS_LAST; k++)
        print_message("  status %-13s %zu\n", policy_status_to_string(k), seen_status[k]);
    for (int k = 0; k < POLICY_HOST_LAST; k++)
        print_message("  host %-13s %zu\n", policy_host_state_to_string(k), seen_state[k]);
    for (int k = 0; k < POLICY_ACTION_LAST; k++)
        print_message("  action %-11s %zu\n", policy_action_kind_to_string(k), seen_action[k]);
    print_message("  more weight, more memory %zu\n", seen_weight_raised_target);
    assert_true(seen_weight_raised_target > 0);
    for (int k = 0; k < POLICY_STATUS_LAST; k++)
        assert_true(seen_status[k] > 0);
    for (int k = 0; k < POLICY_HOST_LAST; k++)
        assert_true(seen_state[k] > 0);
    for (int k = 0; k < POLICY_ACTION_LAST; k++)
        assert_true(seen_action[k] > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_invariants),
        cmocka_unit_test(test_engine_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
