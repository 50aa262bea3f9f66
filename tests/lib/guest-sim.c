/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "guest-sim.h"

#include "planner.h"
#include "test-sizes.h"

#include <glib.h>
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
            if (a->to_kib > g->balloon_kib || !g->ignores_shrink)
                g->balloon_kib = a->to_kib;
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
