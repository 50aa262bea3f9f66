/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of one policy cycle (DESIGN.md §7): ns per domain per cycle for 10
 * to 100,000 domains, on a roomy host (every domain gets what it desires)
 * and on a scarce one (water-filling by weight), with the guests following
 * the plan between cycles as the daemon would see them. Also RSS before and
 * after, and the engine's scratch reallocations after warm-up (must be 0).
 *
 *   bench-policy [cycles-scale]     (default 1; results: docs/benchmarks.md)
 */
#include "engine.h"
#include "planner.h"
#include "test-sizes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    size_t n;
    PolicyEffective *policy;
    PolicyDomainCaps *caps;
    PolicyDomainSample *sample;
    PolicyDomainState *state;
    PolicyDomainInput *in;
    PolicyPlanEntry *out;
    uint64_t *used;
} Fleet;

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * UINT64_C(2685821657736338717);
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");

    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void fleet_init(Fleet *f, size_t n)
{
    f->n = n;
    f->policy = calloc(n, sizeof(*f->policy));
    f->caps = calloc(n, sizeof(*f->caps));
    f->sample = calloc(n, sizeof(*f->sample));
    f->state = calloc(n, sizeof(*f->state));
    f->in = calloc(n, sizeof(*f->in));
    f->out = calloc(n, sizeof(*f->out));
    f->used = calloc(n, sizeof(*f->used));
    if (!f->policy || !f->caps || !f->sample || !f->state || !f->in || !f->out || !f->used) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        PolicyDomainCaps *c = &f->caps[i];

        f->policy[i] = (PolicyEffective){
            .mode = POLICY_MODE_DYNAMIC,
            .minimum = {POLICY_AMOUNT_KIB, 512 * MiB},
            .maximum = {POLICY_AMOUNT_PERCENT, 100},
            .buffer_pct = 20,
            .weight = (uint32_t)(1000 + rnd() % 9000),
            .rule_index = -1,
        };
        c->has_balloon = true;
        c->stats_period_s = 1;
        c->balloon_max_kib = 2 * GiB;
        c->dimm_node = -1;
        c->dimm_block_kib = 128 * MiB;
        if (i % 4 == 0) { /* a quarter with a virtio-mem device */
            c->n_virtio_mem = 1;
            snprintf(c->virtio_mem[0].alias, POLICY_ALIAS_MAX, "vmem0");
            c->virtio_mem[0].block_kib = 2 * MiB;
            c->virtio_mem[0].size_kib = 4 * GiB;
        }
        c->total_memory_kib = policy_caps_reach_kib(c);
        f->sample[i].balloon_kib = 2 * GiB;
        f->used[i] = 300 * MiB + rnd() % (1536 * MiB);
        f->in[i] = (PolicyDomainInput){
            .name = "bench",
            .uuid = "bench",
            .policy = &f->policy[i],
            .caps = c,
            .sample = &f->sample[i],
            .state = &f->state[i],
        };
    }
}

static void fleet_free(Fleet *f)
{
    free(f->policy);
    free(f->caps);
    free(f->sample);
    free(f->state);
    free(f->in);
    free(f->out);
    free(f->used);
}

/* Fresh samples: workloads drift, the guests followed the last plan. */
static uint64_t fleet_sample(Fleet *f, uint64_t now)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < f->n; i++) {
        PolicyDomainSample *s = &f->sample[i];
        PolicyDomainCaps *c = &f->caps[i];
        uint64_t a;

        if (rnd() % 8 == 0) /* an eighth of the workloads move each cycle */
            f->used[i] = 300 * MiB + rnd() % (1536 * MiB);
        a = policy_caps_assigned_kib(c, s->balloon_kib);
        *s = (PolicyDomainSample){
            .timestamp_us = now,
            .wallclock_s = (int64_t)(now / SEC),
            .has_balloon_stats = true,
            .assigned_kib = a,
            .balloon_kib = s->balloon_kib,
            .has_usable = true,
            .usable_kib = a > f->used[i] ? a - f->used[i] : 0,
            .has_swap_in = true,
            .has_major_faults = true,
            .last_update_s = (int64_t)(now / SEC),
        };
        sum += a;
    }
    return sum;
}

static void fleet_apply(Fleet *f, uint64_t now)
{
    for (size_t i = 0; i < f->n; i++) {
        const PolicyPlanEntry *e = &f->out[i];

        for (size_t k = 0; k < e->n_actions; k++) {
            const PolicyAction *a = &e->actions[k];

            if (a->kind == POLICY_ACTION_BALLOON)
                f->sample[i].balloon_kib = a->to_kib;
            else if (a->kind == POLICY_ACTION_VIRTIO_MEM)
                f->caps[i].virtio_mem[0].requested_kib = f->caps[i].virtio_mem[0].current_kib =
                    a->to_kib;
        }
        policy_domain_state_note_issued(&f->state[i], e, now);
    }
}

static void run(size_t n, bool scarce, int scale)
{
    PolicyConfig cfg = {
        .reserve = {POLICY_AMOUNT_KIB, 2 * GiB},
        .overhead_kib = 50 * MiB,
        .tuning =
            {
                .grace_us = 30 * SEC,
                .demand_half_life_us = 30 * SEC,
                .min_step_kib = 32 * MiB,
                .min_step_pct = 1,
                .max_shrink_kib = 256 * MiB,
                .uncooperative_timeout_us = 30 * SEC,
                .uncooperative_retry_us = 300 * SEC,
                .stale_periods = 3,
                .pressure_swap_in_kib_s = 1024,
                .pressure_major_faults_s = 100,
                .pressure_boost_pct = 10,
            },
    };
    /* enough domain-cycles for a stable figure, at least 20 cycles */
    size_t cycles = (size_t)scale * (2000000 / n > 20 ? 2000000 / n : 20);
    size_t warmup = 10, reallocs_warm = 0, reallocs_end;
    long rss_before, rss_warm = 0, rss_end;
    uint64_t now = 1000 * SEC, spent = 0, per_domain_kib = 2 * GiB;
    PolicyPlanSummary sum = {0};
    PolicyEngine *engine;
    Fleet f;

    fleet_init(&f, n);
    rss_before = rss_kib();
    engine = policy_engine_new();
    /* roomy: everyone fits with buffers; scarce: ~60 % of the demand fits */
    uint64_t total = scarce ? (uint64_t)n * 900 * MiB + 2 * GiB : (uint64_t)n * per_domain_kib * 2;

    for (size_t c = 0; c < warmup + cycles; c++) {
        uint64_t sum_a = fleet_sample(&f, now);
        PolicyHostSample host = {
            .mem_total_kib = total + (uint64_t)n * 50 * MiB + 2 * GiB,
            .mem_available_kib = 0,
        };
        uint64_t t0, t1;

        host.mem_available_kib =
            host.mem_total_kib > sum_a + 1 * GiB ? host.mem_total_kib - sum_a - 1 * GiB : 0;
        if (c == warmup) {
            reallocs_warm = policy_engine_scratch_reallocs(engine);
            rss_warm = rss_kib();
        }
        t0 = now_ns();
        if (policy_engine_plan(engine, &cfg, &host, now, f.in, n, f.out, &sum) < 0) {
            fprintf(stderr, "plan failed\n");
            exit(1);
        }
        t1 = now_ns();
        if (c >= warmup)
            spent += t1 - t0;
        fleet_apply(&f, now);
        now += SEC;
    }
    reallocs_end = policy_engine_scratch_reallocs(engine);
    rss_end = rss_kib();
    printf("%-7zu %-7s %8zu %10.1f %12.3f   %-13s %9ld %9ld %9ld %5zu\n", n,
           scarce ? "scarce" : "roomy", cycles, (double)spent / (double)cycles / (double)n,
           (double)spent / (double)cycles / 1e6, policy_host_state_to_string(sum.state), rss_before,
           rss_warm, rss_end, reallocs_end - reallocs_warm);
    policy_engine_free(engine);
    fleet_free(&f);
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {10, 1000, 10000, 100000};
    int scale = argc > 1 ? atoi(argv[1]) : 1;

    if (scale < 1)
        scale = 1;
    printf("# sizeof: PolicyPlanEntry %zu, PolicyDomainCaps %zu, PolicyDomainSample %zu, "
           "PolicyDomainState %zu\n",
           sizeof(PolicyPlanEntry), sizeof(PolicyDomainCaps), sizeof(PolicyDomainSample),
           sizeof(PolicyDomainState));
    printf("%-7s %-7s %8s %10s %12s   %-13s %9s %9s %9s %5s\n", "domains", "host", "cycles",
           "ns/domain", "ms/cycle", "state", "rss0 KiB", "rssW KiB", "rssE KiB", "grow");
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        run(sizes[i], false, scale);
        run(sizes[i], true, scale);
    }
    return 0;
}
