/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "guest-sim.h"

#include "planner.h"
#include "test-sizes.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_guest_init(SimGuest *g, const char *name, uint64_t boot_kib, uint64_t balloon_kib,
                    uint64_t used_kib)
{
    memset(g, 0, sizeof(*g));
    g_strlcpy(g->name, name, sizeof(g->name));
    g->policy = (PolicyEffective){
        .mode = POLICY_MODE_DYNAMIC,
        .minimum = {POLICY_AMOUNT_KIB, 512 * MiB},
        .maximum = {POLICY_AMOUNT_PERCENT, 100},
        .buffer_pct = 20,
        .weight = 5000,
        .rule_index = -1,
    };
    g->caps = (PolicyDomainCaps){
        .has_balloon = true,
        .stats_period_s = 1,
        .balloon_max_kib = boot_kib,
        .total_memory_kib = boot_kib,
        .dimm_node = -1,
        .dimm_block_kib = 128 * MiB,
    };
    g->balloon_kib = balloon_kib;
    g->used_kib = used_kib;
}

uint64_t sim_guest_assigned_kib(const SimGuest *g)
{
    return policy_caps_assigned_kib(&g->caps, g->balloon_kib);
}

PolicyDomainInput sim_guest_input(SimGuest *g)
{
    return (PolicyDomainInput){
        .name = g->name,
        .uuid = g->name,
        .policy = &g->policy,
        .caps = &g->caps,
        .sample = &g->sample,
        .state = &g->state,
    };
}

uint64_t sim_oom_deflate(const PolicyDomainCaps *caps, uint64_t *balloon_kib, uint64_t used_kib)
{
    uint64_t have = policy_caps_assigned_kib(caps, *balloon_kib), before = *balloon_kib;

    if (!caps->balloon_autodeflate || used_kib <= have || *balloon_kib >= caps->balloon_max_kib)
        return 0;
    *balloon_kib = MIN(caps->balloon_max_kib, *balloon_kib + (used_kib - have) + 16 * MiB);
    return *balloon_kib - before;
}

void sim_guest_live(SimGuest *g)
{
    uint64_t a;

    if (g->inflate_to_kib > 0 && g->inflate_to_kib < g->balloon_kib)
        g->balloon_kib -= MIN(g->inflate_kib_cycle, g->balloon_kib - g->inflate_to_kib);
    if (g->balloon_kib <= g->inflate_to_kib)
        g->inflate_to_kib = 0;
    sim_oom_deflate(&g->caps, &g->balloon_kib, g->used_kib);
    a = sim_guest_assigned_kib(g);
    if (g->used_kib > a)
        g->swap_in_kib += g->used_kib - a;
}

void sim_guest_report(SimGuest *g, uint64_t now_us)
{
    uint64_t a = sim_guest_assigned_kib(g), seen = g->balloon_kib;

    if (g->qemu_lags) {
        seen = g->qemu_balloon_kib ? g->qemu_balloon_kib : g->balloon_kib;
        g->qemu_balloon_kib = g->balloon_kib;
    }
    g->sample = (PolicyDomainSample){
        .timestamp_us = now_us,
        .wallclock_s = (int64_t)(now_us / SEC),
        .has_balloon_stats = true,
        .assigned_kib = a - g->balloon_kib + seen,
        .balloon_kib = seen,
        .has_usable = true,
        .usable_kib = a > g->used_kib ? a - g->used_kib : 0,
        .has_swap_in = true,
        .swap_in_kib = g->swap_in_kib,
        .last_update_s = (int64_t)(now_us / SEC),
    };
}

void sim_guest_follow(SimGuest *g, const PolicyPlanEntry *e, uint64_t now_us)
{
    for (size_t k = 0; k < e->n_actions; k++) {
        const PolicyAction *a = &e->actions[k];

        switch (a->kind) {
        case POLICY_ACTION_BALLOON:
            if (g->inflate_kib_cycle > 0 && a->to_kib < g->balloon_kib && !g->ignores_shrink) {
                g->inflate_to_kib = a->to_kib;
            } else if (a->to_kib > g->balloon_kib || !g->ignores_shrink) {
                g->balloon_kib = a->to_kib;
                g->inflate_to_kib = 0;
            }
            break;
        case POLICY_ACTION_VIRTIO_MEM:
            for (size_t v = 0; v < g->caps.n_virtio_mem; v++) {
                PolicyVirtioMem *vm = &g->caps.virtio_mem[v];

                if (strcmp(vm->alias, a->alias) == 0)
                    vm->requested_kib = vm->current_kib = a->to_kib;
            }
            break;
        default: /* a DIMM: the balloon figure and its ceiling rise with it */
            g->caps.balloon_max_kib += a->to_kib;
            g->caps.total_memory_kib += a->to_kib;
            g->caps.free_dimm_slots--;
            g->caps.n_dimms++;
            g->balloon_kib += a->to_kib;
            break;
        }
    }
    policy_domain_state_note_issued(&g->state, e, now_us);
}

/* ---- a host for stories ------------------------------------------------- */

void sim_story_config(PolicyConfig *ret)
{
    *ret = (PolicyConfig){
        .interval_us = SEC,
        .reserve = {POLICY_AMOUNT_KIB, 1 * GiB},
        .tuning =
            {
                .grace_us = 30 * SEC,
                .demand_half_life_us = 10 * SEC,
                .min_step_kib = 32 * MiB,
                .min_step_pct = 1,
                .max_shrink_kib = 256 * MiB,
                .uncooperative_timeout_us = 5 * SEC,
                .uncooperative_retry_us = 60 * SEC,
                .stale_periods = 3,
                .pressure_swap_in_kib_s = 1024,
                .pressure_major_faults_s = 100,
                .pressure_boost_pct = 10,
            },
    };
}

void sim_host_init(SimHost *h, uint64_t host_total_kib)
{
    memset(h, 0, sizeof(*h));
    sim_story_config(&h->cfg);
    h->engine = policy_engine_new();
    h->host_total_kib = host_total_kib;
    h->host_other_kib = 1 * GiB;
    h->now_us = 1000 * SEC;
}

SimGuest *sim_host_add(SimHost *h, const char *name, uint64_t boot_kib, uint64_t balloon_kib,
                       uint64_t used_kib)
{
    SimGuest *g;

    g_assert(h->n < SIM_MAX_GUESTS);
    g = &h->g[h->n++];
    sim_guest_init(g, name, boot_kib, balloon_kib, used_kib);
    return g;
}

void sim_host_plan(SimHost *h)
{
    uint64_t sum_assigned = 0;
    PolicyHostSample host;
    int r;

    for (size_t i = 0; i < h->n; i++) {
        SimGuest *g = &h->g[i];

        sim_guest_live(g);
        sim_guest_report(g, h->now_us);
        if (h->bend_report)
            h->bend_report(h, g, h->bend_userdata);
        h->in[i] = sim_guest_input(g);
        sum_assigned += sim_guest_assigned_kib(g);
    }
    host = (PolicyHostSample){
        .mem_total_kib = h->host_total_kib,
        .mem_available_kib = h->host_total_kib - h->host_other_kib - sum_assigned,
        .has_psi = h->psi > 0,
        .psi_some_avg10 = h->psi,
    };
    r = policy_engine_plan(h->engine, &h->cfg, &host, h->now_us, h->in, h->n, h->out, &h->sum);
    if (r < 0)
        g_error("policy_engine_plan: %s", g_strerror(-r));
    if (getenv("SIM_TRACE")) {
        g_autofree char *t = policy_plan_format_table(h->in, h->out, h->n, &h->sum);

        fputs(t, stderr);
    }
}

void sim_host_follow(SimHost *h)
{
    for (size_t i = 0; i < h->n; i++)
        sim_guest_follow(&h->g[i], &h->out[i], h->now_us);
    h->now_us += SEC;
    h->cycle++;
}

void sim_host_run(SimHost *h, int cycles)
{
    for (int i = 0; i < cycles; i++) {
        sim_host_plan(h);
        sim_host_follow(h);
    }
}

void sim_host_free(SimHost *h)
{
    g_clear_pointer(&h->engine, policy_engine_free);
}
