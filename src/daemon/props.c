/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The figures the front ends publish, taken once from the manager: the
 * D-Bus properties and the Prometheus metrics read the same snapshot, so
 * they cannot disagree.
 */
#include "props.h"
#include "text.h"

void dynmem_manager_props(Manager *m, BusManagerProps *ret)
{
    const PolicyHostSample *host = manager_get_host(m);
    const PolicyPlanSummary *sum = manager_get_summary(m);
    *ret = (BusManagerProps){
        .version = DYNMEM_VERSION,
        .connected = manager_is_connected(m),
        .paused = manager_is_paused(m),
        .dry_run = manager_is_dry_run(m),
        .interval_us = manager_get_interval_us(m),
        .host_total = host ? host->mem_total_kib * 1024 : 0,
        .host_available = host ? host->mem_available_kib * 1024 : 0,
        .budget = sum ? sum->budget_kib * 1024 : 0,
        .reserve = sum ? sum->reserve_kib * 1024 : 0,
        .deflate_reserve = sum ? sum->deflate_reserve_kib * 1024 : 0,
        .unprotected = sum ? (uint32_t)MIN(sum->n_unprotected, UINT32_MAX) : 0,
        .assigned = sum ? sum->sum_assigned_kib * 1024 : 0,
        .demand = sum ? sum->sum_demand_kib * 1024 : 0,
        /* "unknown" until the first cycle has made a plan */
        .state = sum ? policy_host_state_to_string(sum->state) : "unknown",
        .cycles = manager_get_cycles(m),
        .admittable = sum ? sum->admittable_kib * 1024 : 0,
        .unmet_demand = sum ? sum->unmet_kib * 1024 : 0,
        .reserved = sum ? sum->reserved_kib * 1024 : 0,
        .waiting_starts = sum ? (uint32_t)MIN(sum->n_waiting, UINT32_MAX) : 0,
    };
}

/* What the domain can use, as Mechanisms lists it: static lists, one per
 * combination, in the order docs/dbus.md gives. */
static const char *const *domain_mechanisms(const ManagerDomain *d)
{
    enum { BALLOON = 1, VIRTIO_MEM = 2, DIMM = 4 };
    static const char *const lists[8][4] = {
        [0] = {NULL},
        [BALLOON] = {"balloon", NULL},
        [VIRTIO_MEM] = {"virtio-mem", NULL},
        [BALLOON | VIRTIO_MEM] = {"balloon", "virtio-mem", NULL},
        [DIMM] = {"dimm", NULL},
        [BALLOON | DIMM] = {"balloon", "dimm", NULL},
        [VIRTIO_MEM | DIMM] = {"virtio-mem", "dimm", NULL},
        [BALLOON | VIRTIO_MEM | DIMM] = {"balloon", "virtio-mem", "dimm", NULL},
    };
    unsigned m = 0;
    if (d->caps_valid && d->caps.has_balloon)
        m |= BALLOON;
    if (d->caps_valid && d->caps.n_virtio_mem > 0)
        m |= VIRTIO_MEM;
    if (d->caps_valid && d->caps.dimm_node >= 0 && d->caps.free_dimm_slots > 0)
        m |= DIMM;
    return lists[m];
}

void dynmem_domain_props(const ManagerDomain *d, BusDomainProps *ret)
{
    const PolicyPlanEntry *e = d->has_entry ? &d->entry : NULL;
    *ret = (BusDomainProps){
        .name = d->name,
        .uuid = d->uuid,
        .mode = policy_mode_to_string(d->policy.mode),
        /* "new": found, not planned yet */
        .status = e ? policy_status_to_string(e->status) : "new",
        .reason = e ? e->reason : "",
        .assigned = e ? e->assigned_kib * 1024 : 0,
        .demand = e ? e->demand_kib * 1024 : 0,
        .target = e ? e->target_kib * 1024 : 0,
        .pressure = e ? e->pressure_pct : 0,
        .minimum = e ? e->minimum_kib * 1024 : 0,
        .startup = e ? e->startup_kib * 1024 : 0,
        .maximum = e ? e->maximum_kib * 1024 : 0,
        .buffer = d->policy.buffer_pct,
        .weight = d->policy.weight,
        .mechanisms = domain_mechanisms(d),
        .overridden = d->policy.overridden,
        /* unmanaged, static, not planned yet: nothing of ours protects it */
        .protection = e && e->managed ? policy_protection_to_string(e->protection) : "none",
        .absorbable = e ? e->absorbable_kib * 1024 : 0,
        .headroom = e && e->managed ? e->headroom_kib * 1024 : 0,
        .policy_sources = d->policy_sources[0] ? d->policy_sources : NULL,
        .policy_problem =
            manager_domain_metadata_problem(d) ? manager_domain_metadata_problem(d) : "",
    };
}
