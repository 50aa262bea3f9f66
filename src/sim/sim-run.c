/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-run.h"

#include "log.h"
#include "manager.h"
#include "sim-backend.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MIB           1024ULL
#define STEP_KIB      (64 * MIB)
#define MANAGER_T0_US (1000 * G_USEC_PER_SEC) /* the manager's clock at scenario time 0 */
#define MOM_SAMPLES   10
#define TRACE_BEFORE  24 /* --trace-oom: ticks kept before a kill (6 s at 250 ms) */
#define TRACE_AFTER   8  /* ... and written after it */

/* One tick of one VM as --trace-oom writes it: the guest, and the engine's
 * last plan for it (dynmem only). */
typedef struct {
    uint64_t t_us;
    bool killed;
    uint64_t demand_kib, used_kib, cap_kib, balloon_kib, balloon_goal_kib, balloon_max_kib;
    uint64_t vmem_current_kib, vmem_requested_kib, rep_usable_kib;
    uint64_t e_demand_kib, e_trend_kib, e_desired_kib, e_target_kib, e_headroom_kib;
    PolicyProtection e_protection;
    char e_reason[POLICY_REASON_MAX];
} TraceRow;

/* What the runner keeps per VM besides the model. */
typedef struct {
    SimVmPolicy pol;
    uint64_t prev_demand_kib;
    uint64_t step_t0_us; /* UINT64_MAX: no step open */
    double shortfall;    /* KiB-seconds while the host was short */
    uint64_t last_change_cycle;
    /* MoM's 10 samples, 5 s apart */
    uint64_t mom_cur[MOM_SAMPLES], mom_used[MOM_SAMPLES];
    unsigned mom_n;
    /* --trace-oom: a ring of the last ticks, and the engine's last plan */
    TraceRow *trace;
    uint64_t trace_n;       /* rows ever put in the ring */
    uint64_t trace_written; /* rows written (the ring's oldest unwritten is max(this, n - size)) */
    uint64_t trace_until;   /* write rows up to this count */
    TraceRow plan;
} RunVm;

typedef struct {
    const SimScenario *s;
    SimAlgo algo;
    SimWorld world;
    RunVm *rv;
    uint64_t t_us; /* scenario time */
    uint64_t budget_kib;
    uint64_t cycle;
    GArray *reactions; /* double s */
    Backend *backend;  /* borrowed from the manager */
    Manager *manager;
    char *proc_dir;
    double mom_free[MOM_SAMPLES];
    unsigned mom_host_n;
} Run;

void sim_result_clear(SimResult *r)
{
    if (r->plot)
        g_array_unref(r->plot);
    if (r->plot_names)
        g_ptr_array_unref(r->plot_names);
    r->plot = NULL;
    r->plot_names = NULL;
    g_clear_pointer(&r->vm, g_free);
}

double sim_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[rank ? MIN(rank, n) - 1 : 0];
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t sum_assigned(const Run *r)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < r->world.n; i++)
        if (r->world.vms[i].running)
            sum += sim_vm_assigned_kib(&r->world.vms[i]);
    return sum;
}

/* ---- dynmem: the manager on the simulated backend -------------------------- */

static uint64_t sim_clock(void *userdata)
{
    return ((Run *)userdata)->world.now_us;
}

static void on_adjusted(Manager *m, ManagerDomain *d, const PolicyAction *action,
                        const char *reason, bool applied, void *userdata)
{
    Run *r = userdata;
    SimVm *vm = g_hash_table_lookup(r->world.by_uuid, d->uuid);
    if (!vm || !applied)
        return;
    RunVm *rv = &r->rv[vm - r->world.vms];
    if (rv->last_change_cycle != r->cycle + 1) { /* one change a domain a cycle */
        rv->last_change_cycle = r->cycle + 1;
        vm->changes++;
    }
}

static const ManagerListener run_listener = {.adjusted = on_adjusted};

static int write_meminfo(Run *r)
{
    const SimScenario *s = r->s;
    uint64_t avail = sub0(s->host_ram_kib, s->host_other_kib + sum_assigned(r));
    g_autofree char *path = g_build_filename(r->proc_dir, "meminfo", NULL);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f,
            "MemTotal: %" G_GUINT64_FORMAT " kB\nMemFree: %" G_GUINT64_FORMAT
            " kB\nMemAvailable: %" G_GUINT64_FORMAT " kB\n",
            s->host_ram_kib, avail, avail);
    return fclose(f) == 0 ? 0 : -EIO;
}

static int dynmem_start(Run *r, char **ret_error)
{
    g_autoptr(GError) e = NULL;
    r->proc_dir = g_dir_make_tmp("dynmem-sim-XXXXXX", &e);
    if (!r->proc_dir) {
        *ret_error = g_strdup(e->message);
        return -EIO;
    }
    g_autofree char *policy = g_build_filename(r->proc_dir, "policy.yaml", NULL);
    if (!g_file_set_contents(policy, r->s->policy_text, -1, &e)) {
        *ret_error = g_strdup(e->message);
        return -EIO;
    }
    int w = write_meminfo(r);
    if (w < 0) {
        *ret_error = g_strdup_printf("cannot write meminfo: %s", g_strerror(-w));
        return w;
    }
    ManagerOptions mo = {
        .config_path = policy,
        .connect_uri = "sim:///",
        .proc_root = r->proc_dir,
        .clock = sim_clock,
        .clock_userdata = r,
        .no_timer = true,
    };
    Backend *b = sim_backend_new(&r->world);
    int rc = manager_new(&mo, b, &r->manager, ret_error);
    if (rc < 0)
        return rc;
    r->backend = b;
    manager_add_listener(r->manager, &run_listener, r);
    manager_start(r->manager);
    return 0;
}

static void dynmem_stop(Run *r)
{
    g_clear_pointer(&r->manager, manager_free);
    if (r->proc_dir) {
        g_autofree char *p1 = g_build_filename(r->proc_dir, "meminfo", NULL);
        g_autofree char *p2 = g_build_filename(r->proc_dir, "policy.yaml", NULL);
        g_unlink(p1);
        g_unlink(p2);
        g_rmdir(r->proc_dir);
        g_clear_pointer(&r->proc_dir, g_free);
    }
}

/* ---- the baselines ---------------------------------------------------------- */

static bool balloon_only(SimAlgo a)
{
    return a == SIM_ALGO_MOM || a == SIM_ALGO_PROXMOX || a == SIM_ALGO_SQUEEZED;
}

static uint64_t reach_kib(const SimVm *vm)
{
    uint64_t r = vm->balloon_max_kib + vm->vmem_size_kib;
    if (vm->dimms < vm->dimm_slots && vm->max_memory_kib > r)
        r = vm->max_memory_kib / (128 * MIB) * (128 * MIB);
    return r;
}

static void mom_sample(Run *r)
{
    uint64_t free = sub0(r->s->host_ram_kib, r->s->host_other_kib + sum_assigned(r));
    r->mom_free[r->mom_host_n++ % MOM_SAMPLES] = (double)free;
    for (size_t i = 0; i < r->world.n; i++) {
        SimVm *vm = &r->world.vms[i];
        RunVm *rv = &r->rv[i];
        if (!vm->running || vm->rep_us == 0)
            continue;
        uint64_t cur = sim_vm_assigned_kib(vm);
        rv->mom_cur[rv->mom_n % MOM_SAMPLES] = cur;
        rv->mom_used[rv->mom_n % MOM_SAMPLES] = sub0(cur, vm->rep_usable_kib);
        rv->mom_n++;
    }
}

static void baseline_cycle(Run *r)
{
    size_t n = r->world.n, k = 0;
    g_autofree SimBaseVm *in = g_new0(SimBaseVm, n ? n : 1);
    g_autofree size_t *idx = g_new0(size_t, n ? n : 1);
    g_autofree uint64_t *targets = g_new0(uint64_t, n ? n : 1);
    uint64_t assigned = sum_assigned(r);
    SimBaseHost host = {
        .total_kib = r->s->host_ram_kib,
        .free_kib = sub0(r->s->host_ram_kib, r->s->host_other_kib + assigned),
        .budget_kib = r->budget_kib,
    };

    if (r->algo == SIM_ALGO_MOM) {
        unsigned hn = MIN(r->mom_host_n, MOM_SAMPLES);
        double f = 0;
        for (unsigned j = 0; j < hn; j++)
            f += r->mom_free[j];
        if (hn)
            host.free_kib = (uint64_t)(f / hn);
    }
    for (size_t i = 0; i < n; i++) {
        SimVm *vm = &r->world.vms[i];
        RunVm *rv = &r->rv[i];
        if (!vm->running || !rv->pol.dynamic || vm->rep_us == 0)
            continue;
        SimBaseVm *b = &in[k];
        b->cur_kib = sim_vm_assigned_kib(vm);
        b->used_kib = sub0(b->cur_kib, vm->rep_usable_kib);
        b->min_kib = rv->pol.minimum_kib;
        b->max_kib =
            balloon_only(r->algo) ? vm->balloon_max_kib : MIN(rv->pol.maximum_kib, reach_kib(vm));
        b->buffer_pct = rv->pol.buffer_pct;
        b->weight = rv->pol.weight;
        b->pressure = vm->rep_usable_kib < r->s->model.pressure_kib;
        if (r->algo == SIM_ALGO_MOM) {
            unsigned m = MIN(rv->mom_n, MOM_SAMPLES);
            if (m < MOM_SAMPLES)
                continue; /* skipped until every field has been sampled */
            double c = 0, u = 0;
            for (unsigned j = 0; j < m; j++) {
                c += (double)rv->mom_cur[j];
                u += (double)rv->mom_used[j];
            }
            b->cur_kib = (uint64_t)(c / m);
            b->used_kib = (uint64_t)(u / m);
            b->min_kib = 0; /* min_guarantee is refused by the QEMU driver */
        }
        idx[k++] = i;
    }
    switch (r->algo) {
    case SIM_ALGO_HYPERV:
        sim_hyperv_plan(&host, in, k, targets);
        break;
    case SIM_ALGO_MOM:
        sim_mom_plan(&host, in, k, targets);
        break;
    case SIM_ALGO_PROXMOX:
        sim_proxmox_plan(&host, in, k, targets);
        break;
    case SIM_ALGO_SQUEEZED:
        sim_squeezed_plan(&host, in, k, targets);
        break;
    default:
        return;
    }
    /* shrinks first, then grows (squeezed frees before it grants) */
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < k; j++) {
            SimVm *vm = &r->world.vms[idx[j]];
            uint64_t cur = vm->balloon_goal_kib + vm->vmem_requested_kib;
            if (r->algo == SIM_ALGO_MOM && targets[j] == in[j].cur_kib)
                continue; /* within 0.25 %: no change */
            if ((pass == 0) != (targets[j] < cur) || targets[j] == cur)
                continue;
            sim_vm_set_target(&r->s->model, vm, targets[j], r->algo == SIM_ALGO_HYPERV, false,
                              r->world.now_us);
        }
}

/* ---- --trace-oom ------------------------------------------------------------ */

static void trace_note_plans(Run *r)
{
    for (size_t i = 0; i < r->world.n; i++) {
        SimVm *vm = &r->world.vms[i];
        ManagerDomain *d = vm->running ? manager_find_domain_by_uuid(r->manager, vm->uuid) : NULL;
        TraceRow *p = &r->rv[i].plan;
        if (!d || !d->has_entry) {
            memset(p, 0, sizeof(*p));
            continue;
        }
        p->e_demand_kib = d->entry.demand_kib;
        p->e_trend_kib = d->state.trend_peak_kib;
        p->e_desired_kib = d->entry.desired_kib;
        p->e_target_kib = d->entry.target_kib;
        p->e_headroom_kib = d->entry.headroom_kib;
        p->e_protection = d->entry.protection;
        g_strlcpy(p->e_reason, d->entry.reason, sizeof(p->e_reason));
    }
}

static void trace_write_row(FILE *f, const char *scenario, SimAlgo algo, const SimVm *vm,
                            const TraceRow *w)
{
    double k = 1024.0;
    fprintf(f,
            "%s,%s,%.2f,%s,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%."
            "1f,%s,\"%s\"\n",
            scenario, sim_algo_to_string(algo), (double)w->t_us / 1e6, vm->name, w->killed,
            (double)w->demand_kib / k, (double)w->used_kib / k, (double)w->cap_kib / k,
            (double)w->balloon_kib / k, (double)w->balloon_goal_kib / k,
            (double)w->balloon_max_kib / k, (double)w->vmem_current_kib / k,
            (double)w->vmem_requested_kib / k, (double)w->rep_usable_kib / k,
            (double)w->e_demand_kib / k, (double)w->e_trend_kib / k, (double)w->e_desired_kib / k,
            (double)w->e_target_kib / k, (double)w->e_headroom_kib / k,
            policy_protection_to_string(w->e_protection), w->e_reason);
}

const char sim_trace_oom_header[] =
    "scenario,algorithm,t_s,vm,killed,demand,used,capacity,balloon,balloon_goal,balloon_max,"
    "vmem_current,vmem_requested,reported_usable,e_demand,e_trend,e_desired,e_target,e_headroom,"
    "e_protection,e_reason\n";

/* Put this tick of VM i in its ring; on a kill, write what the ring holds
 * unwritten and the next TRACE_AFTER ticks. */
static void trace_tick(Run *r, const SimRunOptions *o, size_t i, bool killed)
{
    SimVm *vm = &r->world.vms[i];
    RunVm *x = &r->rv[i];
    TraceRow *w = &x->trace[x->trace_n % TRACE_BEFORE];
    *w = x->plan;
    w->t_us = r->t_us;
    w->killed = killed;
    w->demand_kib = vm->demand_kib;
    w->used_kib = vm->used_kib;
    w->cap_kib = sim_vm_capacity_kib(vm);
    w->balloon_kib = vm->balloon_kib;
    w->balloon_goal_kib = vm->balloon_goal_kib;
    w->balloon_max_kib = vm->balloon_max_kib;
    w->vmem_current_kib = vm->vmem_current_kib;
    w->vmem_requested_kib = vm->vmem_requested_kib;
    w->rep_usable_kib = vm->rep_usable_kib;
    x->trace_n++;
    if (killed)
        x->trace_until = x->trace_n + TRACE_AFTER;
    if (x->trace_n > x->trace_until)
        return;
    uint64_t from =
        MAX(x->trace_written, x->trace_n > TRACE_BEFORE ? x->trace_n - TRACE_BEFORE : 0);
    for (uint64_t j = from; j < x->trace_n; j++)
        trace_write_row(o->trace_oom, o->scenario_name, r->algo, vm, &x->trace[j % TRACE_BEFORE]);
    x->trace_written = x->trace_n;
}

/* ---- the loop ---------------------------------------------------------------- */

static void start_stop(Run *r)
{
    for (size_t i = 0; i < r->world.n; i++) {
        SimVm *vm = &r->world.vms[i];
        if (!vm->running && vm->start_us != UINT64_MAX && r->t_us >= vm->start_us &&
            r->t_us < vm->stop_us && vm->started_us == 0) {
            sim_vm_boot(&r->s->model, vm, r->world.now_us, r->algo == SIM_ALGO_STATIC);
            r->rv[i].prev_demand_kib = UINT64_MAX; /* the boot is no step */
            r->rv[i].step_t0_us = UINT64_MAX;
            r->rv[i].mom_n = 0;
            if (r->manager && r->t_us > 0)
                sim_backend_event(r->backend, BACKEND_EVENT_DOMAIN_STARTED, vm);
        } else if (vm->running && r->t_us >= vm->stop_us) {
            vm->running = false;
            if (r->rv[i].step_t0_us != UINT64_MAX) /* censored at the stop */
                g_array_append_val(r->reactions,
                                   (double){(double)(r->t_us - r->rv[i].step_t0_us) / 1e6});
            r->rv[i].step_t0_us = UINT64_MAX;
            if (r->manager)
                sim_backend_event(r->backend, BACKEND_EVENT_DOMAIN_STOPPED, vm);
        }
    }
}

static void plot_row(Run *r, SimResult *res, const SimRunOptions *o)
{
    double row[2 + 2 * 64];
    guint c = 0;
    row[c++] = (double)r->t_us / 3.6e9;
    row[c++] = (double)r->budget_kib / 1048576.0;
    if (r->world.n <= o->plot_max_vm) {
        for (size_t i = 0; i < r->world.n; i++) {
            const SimVm *vm = &r->world.vms[i];
            row[c++] = vm->running ? (double)sim_vm_assigned_kib(vm) / 1048576.0 : NAN;
            row[c++] = vm->running ? (double)(vm->demand_kib + vm->reserve_kib) / 1048576.0 : NAN;
        }
    } else {
        double a = 0, d = 0;
        for (size_t i = 0; i < r->world.n; i++) {
            const SimVm *vm = &r->world.vms[i];
            if (!vm->running)
                continue;
            a += (double)sim_vm_assigned_kib(vm);
            d += (double)(vm->demand_kib + vm->reserve_kib);
        }
        row[c++] = a / 1048576.0;
        row[c++] = d / 1048576.0;
    }
    res->plot_cols = c;
    g_array_append_vals(res->plot, row, c);
}

int sim_run(const SimScenario *s, SimAlgo algo, const SimRunOptions *o, SimResult *ret,
            char **ret_error)
{
    const SimModel *m = &s->model;
    size_t n = s->vms->len;
    Run r = {.s = s, .algo = algo};
    g_autofree SimVm *vms = g_memdup2(s->vms->data, n * sizeof(SimVm));
    g_autofree RunVm *rv = g_new0(RunVm, n ? n : 1);
    g_autoptr(GHashTable) by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GArray) reactions = g_array_new(FALSE, FALSE, sizeof(double));
    SimResult res = {.algo = algo,
                     .short_heavy_pct = -1,
                     .heavy_vm_pct = -1,
                     .vm = g_new0(SimVmResult, n ? n : 1)};
    int rc = 0;

    r.rv = rv;
    r.reactions = reactions;
    r.world = (SimWorld){.model = m,
                         .vms = vms,
                         .n = n,
                         .by_uuid = by_uuid,
                         .now_us = MANAGER_T0_US,
                         .epoch_s = 1800000000};
    r.budget_kib = sub0(s->host_ram_kib, s->host_reserve_kib + s->host_other_kib);
    if (s->host_pool_kib)
        r.budget_kib = MIN(r.budget_kib, s->host_pool_kib);
    double mean_w = 0;
    for (size_t i = 0; i < n; i++) {
        g_hash_table_insert(by_uuid, vms[i].uuid, &vms[i]);
        sim_scenario_vm_policy(s, &vms[i], &rv[i].pol);
        rv[i].step_t0_us = UINT64_MAX;
        if (o->trace_oom)
            rv[i].trace = g_new0(TraceRow, TRACE_BEFORE);
        mean_w += rv[i].pol.weight;
        if (balloon_only(algo)) { /* those peers define the same VM as plain memory */
            vms[i].boot_kib += vms[i].vmem_size_kib;
            vms[i].vmem_size_kib = 0;
            vms[i].dimm_slots = 0;
        }
    }
    mean_w = n ? mean_w / (double)n : 0;
    if (o->plot) {
        res.plot = g_array_new(FALSE, FALSE, sizeof(double));
        res.plot_names = g_ptr_array_new_with_free_func(g_free);
        if (n <= o->plot_max_vm)
            for (size_t i = 0; i < n; i++)
                g_ptr_array_add(res.plot_names, g_strdup(vms[i].name));
        else
            g_ptr_array_add(res.plot_names, g_strdup("all VMs"));
    }

    int64_t wall0 = g_get_monotonic_time();
    start_stop(&r); /* the VMs running at time 0, before dynmemd starts */
    if (algo == SIM_ALGO_DYNMEM) {
        dynmem_log_setup(o->verbose ? LOG_INFO : LOG_ERR);
        rc = dynmem_start(&r, ret_error);
        if (rc < 0)
            goto out;
    }
    uint64_t interval =
        algo == SIM_ALGO_DYNMEM ? manager_get_interval_us(r.manager) : sim_algo_interval_us(algo);
    uint64_t plot_every = MAX(m->tick_us, s->duration_us / 1500 / m->tick_us * m->tick_us);
    double dt = (double)m->tick_us / 1e6, sum_a = 0, sum_d = 0, vm_s = 0;
    double short_all = 0, short_heavy = 0;
    size_t heavy = 0;
    for (size_t i = 0; i < n; i++)
        heavy += rv[i].pol.weight > mean_w;

    while (r.t_us < s->duration_us) {
        r.t_us += m->tick_us;
        r.world.now_us += m->tick_us;
        start_stop(&r);
        uint64_t want_sum = 0, assigned = 0;
        for (size_t i = 0; i < n; i++) {
            SimVm *vm = &vms[i];
            if (!vm->running)
                continue;
            bool killed = sim_vm_tick(m, vm, r.world.now_us, r.t_us);
            if (o->trace_oom)
                trace_tick(&r, o, i, killed);
            SimVmResult *vr = &res.vm[i];
            vr->peak_assigned_kib = MAX(vr->peak_assigned_kib, sim_vm_assigned_kib(vm));
            vr->peak_vmem_kib = MAX(vr->peak_vmem_kib, vm->vmem_current_kib);
            if (vm->vmem_moved && r.manager) /* libvirt's memory-device-size-change */
                sim_backend_event(r.backend, BACKEND_EVENT_DOMAIN_CHANGED, vm);
            uint64_t a = sim_vm_assigned_kib(vm), cap = sim_vm_capacity_kib(vm);
            assigned += a;
            sum_a += (double)a * dt;
            sum_d += (double)(vm->demand_kib + vm->reserve_kib) * dt;
            vm_s += dt;
            RunVm *x = &rv[i];
            if (x->prev_demand_kib == UINT64_MAX)
                x->prev_demand_kib = vm->demand_kib;
            if (x->step_t0_us == UINT64_MAX && vm->demand_kib >= x->prev_demand_kib + STEP_KIB)
                x->step_t0_us = r.t_us - m->tick_us; /* it rose within the last tick */
            /* served: its demand held with a tenth of it free, not merely survived */
            if (x->step_t0_us != UINT64_MAX && cap >= vm->demand_kib + vm->demand_kib / 10) {
                double secs = (double)(r.t_us - m->tick_us - x->step_t0_us) / 1e6;
                g_array_append_val(reactions, secs);
                x->step_t0_us = UINT64_MAX;
            }
            x->prev_demand_kib = vm->demand_kib;
            uint64_t want = vm->demand_kib + vm->reserve_kib;
            want = MIN(want + want / 100 * x->pol.buffer_pct, MAX(x->pol.maximum_kib, a));
            want_sum += want;
            x->shortfall = (double)sub0(want, a); /* this tick's, kept if short */
        }
        if (want_sum > r.budget_kib)
            for (size_t i = 0; i < n; i++)
                if (vms[i].running) {
                    short_all += rv[i].shortfall * dt;
                    if (rv[i].pol.weight > mean_w)
                        short_heavy += rv[i].shortfall * dt;
                }
        if (assigned > r.budget_kib)
            res.over_budget_s += dt;
        if (algo == SIM_ALGO_MOM && r.t_us % (5 * G_USEC_PER_SEC) == 0)
            mom_sample(&r);
        if (r.t_us % interval == 0) {
            size_t running = 0;
            for (size_t i = 0; i < n; i++)
                running += vms[i].running;
            res.domain_cycles += running;
            if (r.manager) {
                rc = write_meminfo(&r);
                if (rc < 0) {
                    *ret_error = g_strdup_printf("cannot write meminfo: %s", g_strerror(-rc));
                    goto out;
                }
                manager_run_cycle(r.manager);
                if (o->trace_oom)
                    trace_note_plans(&r);
            } else if (algo != SIM_ALGO_STATIC) {
                baseline_cycle(&r);
            }
            r.cycle++;
        }
        if (res.plot && r.t_us % plot_every == 0)
            plot_row(&r, &res, o);
    }
    for (size_t i = 0; i < n; i++) {
        if (rv[i].step_t0_us != UINT64_MAX) /* censored at the end */
            g_array_append_val(reactions, (double){(double)(r.t_us - rv[i].step_t0_us) / 1e6});
        res.oom_kills += vms[i].oom_kills;
        res.vm[i].oom_kills = vms[i].oom_kills;
        res.vm[i].dimms = vms[i].dimms;
        if (vms[i].running) {
            res.vm[i].end_assigned_kib = sim_vm_assigned_kib(&vms[i]);
            res.vm[i].end_available_kib = sim_vm_available_kib(&vms[i]);
        }
        res.pressure_s += (double)vms[i].pressure_ticks * dt;
        res.changes_per_vm_hour += (double)vms[i].changes;
    }
    res.wall_s = (double)(g_get_monotonic_time() - wall0) / 1e6;
    res.duration_s = (double)s->duration_us / 1e6;
    res.vm_hours = vm_s / 3600.0;
    res.avg_assigned_kib = sum_a / res.duration_s;
    res.avg_demand_kib = sum_d / res.duration_s;
    res.changes_per_vm_hour = res.vm_hours > 0 ? res.changes_per_vm_hour / res.vm_hours : 0;
    g_array_sort(reactions, cmp_double); /* may be empty, and qsort(NULL, 0) is undefined */
    res.n_steps = reactions->len;
    res.react_p50_s = sim_percentile((double *)(void *)reactions->data, reactions->len, 50);
    res.react_p95_s = sim_percentile((double *)(void *)reactions->data, reactions->len, 95);
    if (heavy > 0 && heavy < n && short_all > 0) {
        res.short_heavy_pct = 100.0 * short_heavy / short_all;
        res.heavy_vm_pct = 100.0 * (double)heavy / (double)n;
    }
out:
    for (size_t i = 0; i < n; i++)
        g_free(rv[i].trace);
    dynmem_stop(&r);
    if (rc < 0) {
        sim_result_clear(&res);
        return rc;
    }
    *ret = res;
    return 0;
}

void sim_results_finish(SimResult *results, size_t n)
{
    const SimResult *st = NULL;
    for (size_t i = 0; i < n; i++)
        if (results[i].algo == SIM_ALGO_STATIC)
            st = &results[i];
    for (size_t i = 0; i < n; i++)
        results[i].saved_pct =
            st && st->avg_assigned_kib > 0
                ? 100.0 * (1.0 - results[i].avg_assigned_kib / st->avg_assigned_kib)
                : NAN;
}
