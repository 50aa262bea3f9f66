/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One scenario under one algorithm: the simulated guests tick, the
 * algorithm runs at its interval (dynmem: dynmemd's own manager and engine
 * on the simulated backend; a baseline: its rule), and the figures of the
 * table are counted as it goes.
 */
#pragma once

#include "sim-baseline.h"
#include "sim-scenario.h"

#include <glib.h>
#include <stdio.h>

/* One VM at the end of a run, for the stories. */
typedef struct {
    uint64_t peak_assigned_kib;
    uint64_t peak_vmem_kib; /* most virtio-mem plugged */
    uint32_t dimms;         /* DIMMs attached */
    uint64_t oom_kills;
    uint64_t end_assigned_kib;  /* at the end (0: not running) */
    uint64_t end_available_kib; /* what its workload had left */
} SimVmResult;

typedef struct {
    SimAlgo algo;
    SimVmResult *vm; /* per scenario VM */
    double duration_s;
    double vm_hours;
    double avg_assigned_kib; /* Σ assigned over the running VMs, time-averaged */
    double avg_demand_kib;
    double saved_pct; /* against static: filled by sim_results_finish() */
    uint64_t oom_kills;
    double pressure_s; /* VM-seconds with less than model.pressure-below available */
    size_t n_steps;    /* demand rises of 64 MiB or more within one tick */
    /* until the guest held its whole demand with a tenth of it free */
    double react_p50_s, react_p95_s;
    double changes_per_vm_hour;
    double over_budget_s; /* Σ assigned above the host's budget */
    /* of the shortfall (desired with the buffer − assigned) while the host
     * was short, the share the heavier VMs (weight above the mean) bore,
     * and their share of the VMs; -1: equal weights or never short */
    double short_heavy_pct;
    double heavy_vm_pct;
    double wall_s;
    uint64_t domain_cycles; /* domains × algorithm cycles */
    /* the plot: rows of plot_cols doubles: t (h), budget (GiB), then
     * assigned and demand (GiB) per series */
    GArray *plot;
    guint plot_cols;
    GPtrArray *plot_names; /* one per series */
} SimResult;

void sim_result_clear(SimResult *r);

typedef struct {
    bool plot;         /* collect the plot's series */
    guint plot_max_vm; /* more VMs than this: totals only */
    bool verbose;      /* dynmemd's notices on stderr */
    /* --trace-oom: CSV rows of each VM's ticks around its OOM kills (the
     * header is the caller's, sim_trace_oom_header); NULL: none */
    FILE *trace_oom;
    const char *scenario_name;
} SimRunOptions;

/* The header line of --trace-oom's CSV. */
extern const char sim_trace_oom_header[];

/* Run s (not changed; the VMs are copied) under algo. Returns 0, or a
 * negative errno with *ret_error (dynmem's policy refused). */
int sim_run(const SimScenario *s, SimAlgo algo, const SimRunOptions *o, SimResult *ret,
            char **ret_error);

/* Fill saved_pct of every result against the static one (if any). */
void sim_results_finish(SimResult *results, size_t n);

/* The p-th percentile (0..100) of a sorted array, nearest rank. */
double sim_percentile(const double *sorted, size_t n, double p);
