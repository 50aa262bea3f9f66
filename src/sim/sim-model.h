/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated guests of dynmem-sim: what real guests showed
 * (docs/e2e-guest.md, docs/benchmarks.md), one tick at a time. Pure: no
 * I/O, no clock; the caller advances time.
 *
 * A guest holds its balloon figure (boot + DIMMs − ballooned) plus the
 * virtio-mem memory plugged into it; its kernel keeps a reserve of that
 * for itself, the rest is its MemTotal. The workload uses what its trace
 * says, up to that; wanting more is an OOM kill (no swap), once a tick
 * (the e2e workers restart and are killed again, once a second), unless
 * its balloon deflates on OOM and has pages to give back. Balloons and
 * virtio-mem move toward their targets at measured rates; a balloon or an
 * unplug never takes memory the workload uses (it stalls, as the real
 * driver does); a DIMM is online a while after the attach.
 */
#pragma once

#include "engine.h"
#include "sim-trace.h"

#include <stdbool.h>
#include <stdint.h>

/* Every figure of the model, each a scenario key (model: in the YAML). */
typedef struct {
    uint64_t tick_us;          /* the simulation's step */
    uint64_t inflate_kib_s;    /* balloon inflation (memory taken back) */
    uint64_t deflate_kib_s;    /* balloon deflation (memory given) */
    uint64_t plug_kib_s;       /* virtio-mem plug */
    uint64_t unplug_kib_s;     /* virtio-mem unplug */
    uint64_t dimm_online_us;   /* from the attach to the memory usable in the guest */
    uint64_t stats_period_us;  /* the guest's balloon statistics */
    uint64_t reserve_base_kib; /* the guest kernel's own: base + permille of boot */
    uint32_t reserve_permille;
    uint64_t pressure_kib;      /* available below this: a pressure-second */
    uint64_t stall_kib;         /* a balloon stops inflating with this left available */
    uint64_t deflate_extra_kib; /* deflate-on-oom takes what it lacks and this */
} SimModel;

/* The measured defaults (sim-model.c says where each comes from). */
void sim_model_defaults(SimModel *ret);

typedef struct {
    char *name;
    char uuid[37];
    uint64_t seed;
    /* definition */
    uint64_t boot_kib;
    uint64_t vmem_size_kib; /* 0: no virtio-mem device */
    uint64_t vmem_block_kib;
    uint32_t dimm_slots;
    uint64_t max_memory_kib; /* 0: no DIMMs */
    bool autodeflate;
    const SimTrace *trace; /* shared by the VMs of a group */
    uint64_t start_us;     /* scenario time it starts */
    uint64_t stop_us;      /* and stops; UINT64_MAX never */
    /* state */
    bool running;
    uint64_t started_us;
    SimTraceState trace_state;
    uint64_t reserve_kib;
    uint64_t balloon_kib, balloon_goal_kib, balloon_max_kib;
    uint64_t vmem_current_kib, vmem_requested_kib;
    uint32_t dimms;
    uint64_t dimm_offline_kib;  /* attached, not online yet ... */
    uint64_t dimm_online_at_us; /* ... until then */
    uint64_t demand_kib;        /* the trace's wish this tick */
    uint64_t used_kib;          /* what it holds */
    bool vmem_moved;            /* virtio-mem current changed this tick (an event) */
    /* the last report of its balloon driver */
    uint32_t report_phase; /* ticks after a period boundary it reports at */
    uint64_t rep_us;
    uint64_t rep_memtotal_kib;
    uint64_t rep_usable_kib;
    /* tallies */
    uint64_t oom_kills;
    uint64_t pressure_ticks;
    uint64_t changes;
} SimVm;

void sim_vm_clear(SimVm *vm);

/* Boot it at now_us: full balloon, virtio-mem empty (plug_all: plugged to
 * its size, as static allocation has it). */
void sim_vm_boot(const SimModel *m, SimVm *vm, uint64_t now_us, bool plug_all);

/* What it holds (balloon figure + plugged virtio-mem), what its kernel
 * has (that less the reserve and DIMMs not yet online) and what is left
 * to the workload. */
uint64_t sim_vm_assigned_kib(const SimVm *vm);
uint64_t sim_vm_capacity_kib(const SimVm *vm);
uint64_t sim_vm_available_kib(const SimVm *vm);

/* One tick ending at now_us: devices move, the workload takes its demand
 * (deflate-on-oom, OOM kill), pressure is counted, the driver reports when
 * its period comes. Returns true when the workload was OOM-killed. */
bool sim_vm_tick(const SimModel *m, SimVm *vm, uint64_t now_us, uint64_t scenario_us);

/* The hypervisor's side, what libvirt would do. Each returns 0 or a
 * negative errno (-EINVAL: refused, as libvirt refuses it). */
int sim_vm_set_balloon(SimVm *vm, uint64_t kib);
int sim_vm_set_vmem(SimVm *vm, uint64_t requested_kib);
int sim_vm_attach_dimm(const SimModel *m, SimVm *vm, uint64_t kib, uint64_t now_us);

/* Its capabilities as the live XML would give them. */
void sim_vm_caps(const SimVm *vm, PolicyDomainCaps *ret);

/* Its sample as bulk stats would give it (balloon.current includes the
 * plugged virtio-mem), epoch_s the wall clock at scenario time 0. */
void sim_vm_sample(const SimVm *vm, uint64_t now_us, int64_t epoch_s, PolicyDomainSample *ret);

/* Move a guest toward target_kib the way the baselines can: the balloon
 * first (within its ceiling); above it, with hotplug, virtio-mem and one
 * DIMM; shrinking unplugs virtio-mem only with unplug. Returns true when
 * anything was asked. */
bool sim_vm_set_target(const SimModel *m, SimVm *vm, uint64_t target_kib, bool hotplug, bool unplug,
                       uint64_t now_us);
