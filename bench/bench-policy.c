/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cost of one policy cycle (DESIGN.md §7): ns per domain per cycle for 10
 * to 100,000 domains, on a roomy host (every domain gets what it desires)
 * and on a scarce one (water-filling by weight), with the guests following
 * the plan between cycles as the daemon would see them (the tests'
 * simulated guests, tests/lib/guest-sim.h). Also RSS before and after, and
 * the engine's scratch reallocations after warm-up (must be 0).
 *
 *   bench-policy [cycles-scale]     (default 1; results: docs/benchmarks.md)
 */
#include "engine.h"
#include "guest-sim.h"
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
    SimGuest *g;
    PolicyDomainInput *in;
    PolicyPlanEntry *out;
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
    f->g = calloc(n, sizeof(*f->g));
    f->in = calloc(n, sizeof(*f->in));
    f->out = calloc(n, sizeof(*f->out));
    if (!f->g || !f->in || !f->out) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        SimGuest *g = &f->g[i];
        uint32_t weight = (uint32_t)(1000 + rnd() % 9000);

        sim_guest_init(g, "bench", 2 * GiB, 2 * GiB, 300 * MiB + rnd() % (1536 * MiB));
        g->policy.weight = weight;
        if (i % 4 == 0) { /* a quarter with a virtio-mem device */
            PolicyVirtioMem *vm = &g->caps.virtio_mem[0];

            g->caps.n_virtio_mem = 1;
            snprintf(vm->alias, POLICY_ALIAS_MAX, "vmem0");
            vm->block_kib = 2 * MiB;
            vm->size_kib = 4 * GiB;
        }
        g->caps.total_memory_kib = policy_caps_reach_kib(&g->caps);
        f->in[i] = sim_guest_input(g);
    }
}

static void fleet_free(Fleet *f)
{
    free(f->g);
    free(f->in);
    free(f->out);
}

/* Fresh reports: workloads drift (they do not swap), the guests followed
 * the last plan. */
static uint64_t fleet_sample(Fleet *f, uint64_t now)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < f->n; i++) {
        SimGuest *g = &f->g[i];

        if (rnd() % 8 == 0) /* an eighth of the workloads move each cycle */
            g->used_kib = 300 * MiB + rnd() % (1536 * MiB);
        sim_guest_report(g, now);
        g->sample.has_major_faults = true;
        sum += g->sample.assigned_kib;
    }
    return sum;
}

static void fleet_apply(Fleet *f, uint64_t now)
{
    for (size_t i = 0; i < f->n; i++)
        sim_guest_follow(&f->g[i], &f->out[i], now);
}

static void run(size_t n, bool scarce, int scale)
{
    PolicyConfig cfg;
    /* enough domain-cycles for a stable figure, at least 20 cycles */
    size_t cycles = (size_t)scale * (2000000 / n > 20 ? 2000000 / n : 20);
    size_t warmup = 10, reallocs_warm = 0, reallocs_end;
    long rss_before, rss_warm = 0, rss_end;
    uint64_t now = 1000 * SEC, spent = 0, per_domain_kib = 2 * GiB;
    PolicyPlanSummary sum = {0};
    PolicyEngine *engine;
    Fleet f;

    /* the stories' config, with a larger host's reserve and overhead, a
     * slower demand decay, and no cycle interval */
    sim_story_config(&cfg);
    cfg.interval_us = 0;
    cfg.reserve = (PolicyAmount){POLICY_AMOUNT_KIB, 2 * GiB};
    cfg.overhead_kib = 50 * MiB;
    cfg.tuning.demand_half_life_us = 30 * SEC;
    cfg.tuning.uncooperative_timeout_us = 30 * SEC;
    cfg.tuning.uncooperative_retry_us = 300 * SEC;
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
