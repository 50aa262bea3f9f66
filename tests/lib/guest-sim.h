/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A simulated guest that follows the plan: what it really has and uses,
 * the report the engine gets from it, and what it does with a plan's
 * actions. The engine stories, the hostile-guest stories, the invariants
 * and bench-policy drive the engine with it; the fake backend of the
 * manager's tests shares its deflate-on-oom rule.
 *
 * The model: a guest holds its balloon figure plus the virtio-mem memory
 * plugged into it (a DIMM raises the balloon figure and its ceiling); its
 * workload uses used_kib; what it lacks it reads back from swap. A guest
 * whose balloon deflates on OOM takes back what it lacks, and a little.
 */
#pragma once

#include "engine.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char name[16]; /* also its UUID */
    PolicyEffective policy;
    PolicyDomainCaps caps;     /* what the hypervisor says it has */
    PolicyDomainSample sample; /* its last report (sim_guest_report) */
    PolicyDomainState state;   /* the engine's memory of it */
    uint64_t balloon_kib;      /* the balloon figure it really has */
    uint64_t used_kib;         /* what its workload really uses */
    uint64_t swap_in_kib;      /* cumulative */
    bool ignores_shrink;       /* its balloon driver does not inflate */
    /* QEMU's balloon figure (libvirt's last balloon event) is one report
     * behind the guest's own, as for a real guest while its balloon moves */
    bool qemu_lags;
    uint64_t qemu_balloon_kib;
    /* a balloon that inflates at most this much a cycle (0: at once)
     * toward the last smaller target it was given, until it reaches it or
     * is given another (a grow, or its size now: a stop) */
    uint64_t inflate_kib_cycle;
    uint64_t inflate_to_kib;
} SimGuest;

/* A guest booted with boot_kib (its balloon ceiling; no virtio-mem, no
 * DIMM slot) holding balloon_kib of it, its workload using used_kib, under
 * the stories' policy: dynamic, minimum 512 MiB, maximum 100 %, buffer
 * 20 %, weight 5000. Everything else zero. */
void sim_guest_init(SimGuest *g, const char *name, uint64_t boot_kib, uint64_t balloon_kib,
                    uint64_t used_kib);

/* What it holds: the balloon figure plus the plugged virtio-mem memory. */
uint64_t sim_guest_assigned_kib(const SimGuest *g);

/* The engine's view of it; points into g. */
PolicyDomainInput sim_guest_input(SimGuest *g);

/* Deflate-on-oom: a guest with an autodeflate balloon whose workload needs
 * more than it holds takes back what it lacks and 16 MiB more, up to its
 * balloon ceiling. Returns the KiB taken back (0: none). */
uint64_t sim_oom_deflate(const PolicyDomainCaps *caps, uint64_t *balloon_kib, uint64_t used_kib);

/* Between two reports: a slow balloon inflates by its rate, then
 * deflate-on-oom, then what it still lacks is read back from swap. */
void sim_guest_live(SimGuest *g);

/* Its report at now_us into g->sample, every figure honest: assigned and
 * balloon (QEMU's lagging figure with qemu_lags), usable = assigned − used,
 * swap-in, a fresh last_update. Callers add or bend fields after. */
void sim_guest_report(SimGuest *g, uint64_t now_us);

/* Follows a plan entry as the guest would: a balloon target is taken
 * (a shrink refused with ignores_shrink, paced with inflate_kib_cycle),
 * a virtio-mem request met at once, a DIMM plugged; then the engine is
 * told they were issued. */
void sim_guest_follow(SimGuest *g, const PolicyPlanEntry *e, uint64_t now_us);

/* ---- a host for stories ------------------------------------------------- */

#define SIM_MAX_GUESTS 4

typedef struct SimHost SimHost;

/* Called for each guest after its honest report and before the plan: a
 * story bends the report here (the guest's own view, a lie). */
typedef void (*SimReportFunc)(SimHost *h, SimGuest *g, void *userdata);

/* Guests planned for once a second by one engine, under the stories'
 * config (sim_story_config); the host's own use besides the guests is
 * host_other_kib, its PSI `some avg10` psi (0: no PSI). */
struct SimHost {
    PolicyConfig cfg;
    PolicyEngine *engine;
    uint64_t host_total_kib;
    uint64_t host_other_kib;
    double psi;
    uint64_t now_us;
    int cycle; /* counts from 0 */
    size_t n;
    SimGuest g[SIM_MAX_GUESTS];
    PolicyDomainInput in[SIM_MAX_GUESTS];
    PolicyPlanEntry out[SIM_MAX_GUESTS];
    PolicyPlanSummary sum;
    SimReportFunc bend_report; /* NULL: every report honest */
    void *bend_userdata;
};

/* The stories' config: a 1 s cycle, 1 GiB reserve, 30 s grace, 10 s
 * demand half-life, steps of 32 MiB or 1 %, shrinks of 256 MiB at most,
 * uncooperative after 5 s and asked again after 60 s. */
void sim_story_config(PolicyConfig *ret);

/* An empty host of host_total_kib, 1 GiB of it used by others, at 1000 s. */
void sim_host_init(SimHost *h, uint64_t host_total_kib);
/* A guest as sim_guest_init() makes it; at most SIM_MAX_GUESTS. */
SimGuest *sim_host_add(SimHost *h, const char *name, uint64_t boot_kib, uint64_t balloon_kib,
                       uint64_t used_kib);
/* Every guest lives until its report and reports; the engine plans
 * (h->out, h->sum). With SIM_TRACE set in the environment the plan is
 * printed to stderr. */
void sim_host_plan(SimHost *h);
/* Every guest follows its plan entry; a second passes. */
void sim_host_follow(SimHost *h);
/* sim_host_plan() and sim_host_follow(), cycles times. */
void sim_host_run(SimHost *h, int cycles);
void sim_host_free(SimHost *h);
