/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MIB                1024ULL
#define SIM_DIMM_BLOCK_KIB (128 * MIB)
#define SIM_VMEM_ALIAS     "virtiomem0"

void sim_model_defaults(SimModel *ret)
{
    *ret = (SimModel){
        .tick_us = 250000,
        /* docs/e2e-guest.md: inflating to a reachable target took about
         * 1 s for 96 MiB; deflating 128 -> 512 MiB took 0.3 s */
        .inflate_kib_s = 96 * MIB,
        .deflate_kib_s = 1280 * MIB,
        /* plugging 256 MiB took under a second (0.5 s in the engine's
         * reaction estimate); unplugging 896 MiB took 1.6 s */
        .plug_kib_s = 512 * MIB,
        .unplug_kib_s = 560 * MIB,
        /* a DIMM attached to a guest was online within a second */
        .dimm_online_us = 1000000,
        .stats_period_us = 1000000,
        /* MemTotal 205 MiB of 256, 457 of 512 (swiotlb=noforce): 47 MiB
         * and 1.6 % (its struct pages) of the boot memory */
        .reserve_base_kib = 47 * MIB,
        .reserve_permille = 16,
        /* bench/e2e-measure.sh counts a pressure-second under 16 MiB */
        .pressure_kib = 16 * MIB,
        /* a squeezed balloon stalled with MemAvailable at 5 MiB */
        .stall_kib = 5 * MIB,
        /* the sim of the tests: what it lacks and 16 MiB more */
        .deflate_extra_kib = 16 * MIB,
    };
}

void sim_vm_clear(SimVm *vm)
{
    g_free(vm->name);
    vm->name = NULL;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void sim_vm_boot(const SimModel *m, SimVm *vm, uint64_t now_us, bool plug_all)
{
    vm->running = true;
    vm->started_us = now_us;
    memset(&vm->trace_state, 0, sizeof(vm->trace_state));
    vm->reserve_kib = m->reserve_base_kib + vm->boot_kib / 1000 * m->reserve_permille;
    vm->balloon_max_kib = vm->boot_kib;
    vm->balloon_kib = vm->balloon_goal_kib = vm->boot_kib;
    vm->vmem_current_kib = vm->vmem_requested_kib = plug_all ? vm->vmem_size_kib : 0;
    vm->dimms = 0;
    vm->dimm_offline_kib = 0;
    vm->used_kib = 0;
    vm->demand_kib = 0;
    vm->rep_us = 0;
    uint64_t period_ticks = MAX(1, m->stats_period_us / m->tick_us);
    vm->report_phase = (uint32_t)(sim_hash(vm->seed, 99) % period_ticks);
}

uint64_t sim_vm_assigned_kib(const SimVm *vm)
{
    return vm->balloon_kib + vm->vmem_current_kib;
}

uint64_t sim_vm_capacity_kib(const SimVm *vm)
{
    return sub0(sim_vm_assigned_kib(vm), vm->reserve_kib + vm->dimm_offline_kib);
}

uint64_t sim_vm_available_kib(const SimVm *vm)
{
    return sub0(sim_vm_capacity_kib(vm), vm->used_kib);
}

/* What the guest keeps whatever is asked: its workload, its reserve and a
 * stalled driver's last few MiB. */
static uint64_t pinned_kib(const SimModel *m, const SimVm *vm)
{
    return vm->used_kib + vm->reserve_kib + vm->dimm_offline_kib + m->stall_kib;
}

static void move_devices(const SimModel *m, SimVm *vm, uint64_t dt_us)
{
    double dt = (double)dt_us / 1e6;
    uint64_t pinned = pinned_kib(m, vm);

    if (vm->balloon_goal_kib > vm->balloon_kib) {
        uint64_t step = (uint64_t)((double)m->deflate_kib_s * dt);
        vm->balloon_kib = MIN(vm->balloon_goal_kib, vm->balloon_kib + step);
    } else if (vm->balloon_goal_kib < vm->balloon_kib) {
        uint64_t step = (uint64_t)((double)m->inflate_kib_s * dt);
        uint64_t lowest = sub0(pinned, vm->vmem_current_kib);
        uint64_t next = MAX(vm->balloon_goal_kib, sub0(vm->balloon_kib, step));
        if (next < lowest)
            next = MIN(vm->balloon_kib, lowest); /* stalls, never OOM-kills */
        vm->balloon_kib = next;
    }

    uint64_t before = vm->vmem_current_kib, block = MAX(1, vm->vmem_block_kib);
    if (vm->vmem_requested_kib > vm->vmem_current_kib) {
        uint64_t step = (uint64_t)((double)m->plug_kib_s * dt) / block * block;
        vm->vmem_current_kib = MIN(vm->vmem_requested_kib, vm->vmem_current_kib + step);
    } else if (vm->vmem_requested_kib < vm->vmem_current_kib) {
        uint64_t step = (uint64_t)((double)m->unplug_kib_s * dt) / block * block;
        uint64_t lowest = sub0(pinned, vm->balloon_kib);
        lowest = (lowest + block - 1) / block * block; /* blocks in use stay */
        uint64_t next = MAX(vm->vmem_requested_kib, sub0(vm->vmem_current_kib, step));
        vm->vmem_current_kib = MIN(vm->vmem_current_kib, MAX(next, lowest));
    }
    vm->vmem_moved = vm->vmem_current_kib != before;
}

bool sim_vm_tick(const SimModel *m, SimVm *vm, uint64_t now_us, uint64_t scenario_us)
{
    bool killed = false;

    if (vm->dimm_offline_kib && now_us >= vm->dimm_online_at_us)
        vm->dimm_offline_kib = 0;
    move_devices(m, vm, m->tick_us);

    vm->demand_kib = vm->trace ? sim_trace_demand_kib(vm->trace, &vm->trace_state, vm->seed,
                                                      scenario_us, now_us - vm->started_us)
                               : 0;
    uint64_t cap = sim_vm_capacity_kib(vm);
    if (vm->demand_kib > cap && vm->autodeflate && vm->balloon_kib < vm->balloon_max_kib) {
        uint64_t take =
            MIN(vm->demand_kib - cap + m->deflate_extra_kib, vm->balloon_max_kib - vm->balloon_kib);
        vm->balloon_kib += take;
        vm->balloon_goal_kib = vm->balloon_kib;
        cap = sim_vm_capacity_kib(vm);
    }
    if (vm->demand_kib > cap) {
        vm->oom_kills++;
        killed = true;
        vm->used_kib = cap;
    } else {
        vm->used_kib = vm->demand_kib;
    }
    if (sim_vm_available_kib(vm) < m->pressure_kib)
        vm->pressure_ticks++;

    uint64_t period_ticks = MAX(1, m->stats_period_us / m->tick_us);
    if ((now_us / m->tick_us) % period_ticks == vm->report_phase) {
        vm->rep_us = now_us;
        vm->rep_memtotal_kib = cap;
        if (vm->autodeflate) /* ballooned pages stay in MemTotal, as used */
            vm->rep_memtotal_kib += vm->balloon_max_kib - vm->balloon_kib;
        vm->rep_usable_kib = sim_vm_available_kib(vm);
    }
    return killed;
}

int sim_vm_set_balloon(SimVm *vm, uint64_t kib)
{
    if (kib > vm->balloon_max_kib)
        return -EINVAL;
    vm->balloon_goal_kib = kib;
    return 0;
}

int sim_vm_set_vmem(SimVm *vm, uint64_t requested_kib)
{
    if (vm->vmem_size_kib == 0 || requested_kib > vm->vmem_size_kib ||
        requested_kib % MAX(1, vm->vmem_block_kib) != 0)
        return -EINVAL;
    vm->vmem_requested_kib = requested_kib;
    return 0;
}

static uint64_t total_memory_kib(const SimVm *vm)
{
    return vm->balloon_max_kib + vm->vmem_size_kib;
}

int sim_vm_attach_dimm(const SimModel *m, SimVm *vm, uint64_t kib, uint64_t now_us)
{
    if (vm->dimms >= vm->dimm_slots || vm->max_memory_kib == 0 || kib == 0 ||
        kib % SIM_DIMM_BLOCK_KIB != 0 || total_memory_kib(vm) + kib > vm->max_memory_kib)
        return -EINVAL;
    vm->dimms++;
    vm->balloon_max_kib += kib;
    vm->balloon_kib += kib; /* the balloon figure rises with it, ballooned pages stay */
    vm->balloon_goal_kib += kib;
    vm->dimm_offline_kib += kib;
    vm->dimm_online_at_us = now_us + m->dimm_online_us;
    return 0;
}

void sim_vm_caps(const SimVm *vm, PolicyDomainCaps *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->has_balloon = true;
    ret->balloon_autodeflate = vm->autodeflate;
    ret->stats_period_s = 1;
    ret->balloon_max_kib = vm->balloon_max_kib;
    if (vm->vmem_size_kib) {
        PolicyVirtioMem *v = &ret->virtio_mem[0];
        ret->n_virtio_mem = 1;
        g_strlcpy(v->alias, SIM_VMEM_ALIAS, sizeof(v->alias));
        v->node = 0;
        v->block_kib = vm->vmem_block_kib;
        v->size_kib = vm->vmem_size_kib;
        v->requested_kib = vm->vmem_requested_kib;
        v->current_kib = vm->vmem_current_kib;
    }
    ret->max_memory_kib = vm->max_memory_kib;
    ret->total_memory_kib = total_memory_kib(vm);
    ret->free_dimm_slots = vm->dimm_slots - vm->dimms;
    ret->n_dimms = vm->dimms;
    ret->dimm_node = vm->dimm_slots && vm->max_memory_kib ? 0 : -1;
    ret->dimm_block_kib = SIM_DIMM_BLOCK_KIB;
}

void sim_vm_sample(const SimVm *vm, uint64_t now_us, int64_t epoch_s, PolicyDomainSample *ret)
{
    *ret = (PolicyDomainSample){
        .timestamp_us = now_us,
        .wallclock_s = epoch_s + (int64_t)(now_us / G_USEC_PER_SEC),
        .assigned_kib = sim_vm_assigned_kib(vm),
        .balloon_kib = vm->balloon_kib,
    };
    if (vm->rep_us == 0 && vm->started_us != 0)
        return; /* the driver has not reported yet */
    ret->has_balloon_stats = true;
    ret->has_usable = true;
    ret->usable_kib = vm->rep_usable_kib;
    ret->has_available = true;
    ret->available_kib = vm->rep_memtotal_kib;
    ret->has_unused = true;
    ret->unused_kib = vm->rep_usable_kib;
    ret->has_swap_in = true;
    ret->last_update_s = epoch_s + (int64_t)(vm->rep_us / G_USEC_PER_SEC);
}

bool sim_vm_set_target(const SimModel *m, SimVm *vm, uint64_t target_kib, bool hotplug, bool unplug,
                       uint64_t now_us)
{
    uint64_t block = MAX(1, vm->vmem_block_kib);
    uint64_t cur = vm->balloon_goal_kib + vm->vmem_requested_kib;
    bool asked = false;

    if (target_kib > cur) {
        uint64_t need = target_kib - cur;
        uint64_t add = MIN(need, vm->balloon_max_kib - vm->balloon_goal_kib);
        if (add) {
            vm->balloon_goal_kib += add;
            need -= add;
            asked = true;
        }
        if (hotplug && need && vm->vmem_size_kib > vm->vmem_requested_kib) {
            add =
                MIN((need + block - 1) / block * block, vm->vmem_size_kib - vm->vmem_requested_kib);
            vm->vmem_requested_kib += add;
            need = sub0(need, add);
            asked = true;
        }
        if (hotplug && need && vm->dimms < vm->dimm_slots && vm->max_memory_kib) {
            uint64_t room = sub0(vm->max_memory_kib, total_memory_kib(vm));
            uint64_t dimm =
                MIN((need + SIM_DIMM_BLOCK_KIB - 1) / SIM_DIMM_BLOCK_KIB * SIM_DIMM_BLOCK_KIB,
                    room / SIM_DIMM_BLOCK_KIB * SIM_DIMM_BLOCK_KIB);
            if (dimm && sim_vm_attach_dimm(m, vm, dimm, now_us) == 0)
                asked = true;
        }
    } else if (target_kib < cur) {
        uint64_t drop = cur - target_kib;
        if (unplug && vm->vmem_requested_kib) {
            uint64_t d = MIN(drop / block * block, vm->vmem_requested_kib);
            vm->vmem_requested_kib -= d;
            drop -= d;
            asked |= d > 0;
        }
        uint64_t d = MIN(drop, vm->balloon_goal_kib);
        if (d) {
            vm->balloon_goal_kib -= d;
            asked = true;
        }
    }
    if (asked)
        vm->changes++;
    return asked;
}
