/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The peers' balancing rules as /work/shared/PEERS.md states them (oVirt
 * MoM's default balloon policy, Proxmox's auto-ballooning, XenServer's
 * squeezed, Hyper-V's documented rule), each one pure function from what
 * it sees to a target per VM. Written from their published rules, in our
 * words; tests/sim/test-baselines.c checks each on hand-computed cases.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SIM_ALGO_DYNMEM = 0,
    SIM_ALGO_STATIC,
    SIM_ALGO_HYPERV,
    SIM_ALGO_MOM,
    SIM_ALGO_PROXMOX,
    SIM_ALGO_SQUEEZED,
    SIM_ALGO_LAST,
} SimAlgo;

const char *sim_algo_to_string(SimAlgo a);
int sim_algo_from_string(const char *s, SimAlgo *ret);
/* Seconds between two of its cycles (dynmem: its policy's interval). */
uint64_t sim_algo_interval_us(SimAlgo a);

/* One VM as a baseline sees it. KiB. */
typedef struct {
    uint64_t cur_kib;  /* assigned now: balloon (+ hot-added memory) */
    uint64_t used_kib; /* cur − the guest's free memory in its last report */
    uint64_t min_kib;  /* the policy's minimum (MoM on libvirt: 0) */
    uint64_t max_kib;  /* the most it can reach with this algorithm's mechanisms */
    uint32_t buffer_pct;
    uint32_t weight;
    bool pressure; /* the guest is short (Proxmox grows these first) */
} SimBaseVm;

typedef struct {
    uint64_t total_kib;  /* host MemTotal */
    uint64_t free_kib;   /* host MemFree + Buffers + Cached (MoM), MemAvailable (Proxmox) */
    uint64_t budget_kib; /* what guests may have (Hyper-V, squeezed): RAM − reserve − other */
} SimBaseHost;

/* Hyper-V: target = demand × (1 + buffer) within [min, max]; when the
 * budget is short every VM gets its minimum, then its demand by priority
 * (highest weight first), then its buffer by priority. */
void sim_hyperv_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets);

/* MoM's balloon rule on (already averaged) figures: below 20 % host free
 * every VM shrinks by at most 5 % toward used + f × cur; above, every VM
 * grows by 5 % or to used + 20 % of cur, up to its maximum. A change of
 * 0.25 % of cur or less is none. */
void sim_mom_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets);

/* Proxmox: aim the host at 80 % use; the memory above the minimums is
 * split by shares; at most 100 MiB per VM per cycle; nothing within
 * 10 MiB of the goal. shares = weight / 5 (default weight 5000 -> 1000). */
void sim_proxmox_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets);

/* squeezed: every VM at the same fraction gamma of [min, max], gamma =
 * (budget − 9 MiB slush − Σ min) / Σ (max − min), within 0..1. */
void sim_squeezed_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets);
