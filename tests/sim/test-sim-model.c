/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dynmem-sim's pure parts: the guest model, the demand traces, the CSV
 * parser and the scenario loader, with hostile input. */
#include "sim-model.h"
#include "sim-scenario.h"
#include "sim-trace.h"

#include <glib.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define MiB 1024ULL
#define GiB (1024 * MiB)
#define SEC ((uint64_t)G_USEC_PER_SEC)

static SimVm guest(const SimModel *m, uint64_t boot, const SimTrace *t)
{
    SimVm vm = {.boot_kib = boot, .vmem_block_kib = 2 * MiB, .trace = t, .seed = 1};
    sim_vm_boot(m, &vm, SEC, false);
    return vm;
}

static void run(const SimModel *m, SimVm *vm, uint64_t *now, int ticks)
{
    for (int i = 0; i < ticks; i++) {
        *now += m->tick_us;
        sim_vm_tick(m, vm, *now, *now);
    }
}

/* 512 MiB guest: MemTotal 457 MiB (docs/e2e-guest.md), the model's reserve
 * 47 MiB + 1.6 % of 512. */
static void test_reserve(void **state)
{
    SimModel m;
    sim_model_defaults(&m);
    SimVm vm = guest(&m, 512 * MiB, NULL);
    assert_int_equal(vm.reserve_kib, 47 * MiB + 524288 / 1000 * 16);
    uint64_t memtotal_mib = sim_vm_capacity_kib(&vm) / MiB;
    assert_true(memtotal_mib >= 455 && memtotal_mib <= 459);
    SimVm small = guest(&m, 256 * MiB, NULL);
    assert_true(sim_vm_capacity_kib(&small) / MiB >= 203 &&
                sim_vm_capacity_kib(&small) / MiB <= 207);
}

/* Inflation at 96 MiB/s, stalling above the workload; deflation at once. */
static void test_balloon_speed_and_stall(void **state)
{
    SimModel m;
    sim_model_defaults(&m);
    SimTrace t = {.kind = SIM_TRACE_CONSTANT, .level_kib = 100 * MiB};
    SimVm vm = guest(&m, 1 * GiB, &t);
    uint64_t now = SEC;
    run(&m, &vm, &now, 1);
    assert_int_equal(sim_vm_set_balloon(&vm, 256 * MiB), 0);
    run(&m, &vm, &now, 4); /* one second */
    assert_int_equal(vm.balloon_kib, 1 * GiB - 96 * MiB);
    assert_int_equal(sim_vm_set_balloon(&vm, 64 * MiB), 0);
    run(&m, &vm, &now, 40);
    /* stalled: the workload, the reserve and 5 MiB stay */
    assert_int_equal(vm.balloon_kib, 100 * MiB + vm.reserve_kib + 5 * MiB);
    assert_int_equal(vm.oom_kills, 0);
    assert_true(vm.pressure_ticks > 0);
    assert_int_equal(sim_vm_set_balloon(&vm, 1 * GiB), 0);
    run(&m, &vm, &now, 4); /* 1,280 MiB/s */
    assert_int_equal(vm.balloon_kib, 1 * GiB);
    assert_int_equal(sim_vm_set_balloon(&vm, 1 * GiB + 1), -EINVAL);
}

/* A step beyond what it has: one OOM kill a tick; with deflate-on-oom the
 * balloon gives it back instead. */
static void test_oom_and_deflate(void **state)
{
    SimModel m;
    sim_model_defaults(&m);
    SimTrace t = {.kind = SIM_TRACE_STEPS,
                  .points = g_array_new(FALSE, FALSE, sizeof(SimTracePoint))};
    SimTracePoint p[] = {{0, 50 * MiB}, {30 * SEC, 400 * MiB}};
    g_array_append_vals(t.points, p, 2);
    for (int ad = 0; ad < 2; ad++) {
        SimVm vm = guest(&m, 1 * GiB, &t);
        vm.autodeflate = ad;
        uint64_t now = SEC;
        run(&m, &vm, &now, 8);
        sim_vm_set_balloon(&vm, 200 * MiB);
        run(&m, &vm, &now, 40);
        assert_int_equal(vm.balloon_kib, 200 * MiB);
        run(&m, &vm, &now, 4 * 30); /* to 43 s: the step came at 30 s */
        if (ad) {
            assert_int_equal(vm.oom_kills, 0);
            assert_true(sim_vm_capacity_kib(&vm) >= 400 * MiB);
        } else {
            assert_true(vm.oom_kills >= 4 * 12); /* one a tick */
            assert_int_equal(vm.used_kib, sim_vm_capacity_kib(&vm));
        }
    }
    sim_trace_clear(&t);
}

/* virtio-mem plugs at 512 MiB/s in blocks; a DIMM is online after 1 s. */
static void test_vmem_and_dimm(void **state)
{
    SimModel m;
    sim_model_defaults(&m);
    SimVm vm = {.boot_kib = 256 * MiB,
                .vmem_size_kib = 1 * GiB,
                .vmem_block_kib = 2 * MiB,
                .dimm_slots = 2,
                .max_memory_kib = 4 * GiB};
    sim_vm_boot(&m, &vm, SEC, false);
    uint64_t now = SEC;
    assert_int_equal(sim_vm_set_vmem(&vm, 1 * MiB), -EINVAL);
    assert_int_equal(sim_vm_set_vmem(&vm, 2 * GiB), -EINVAL);
    assert_int_equal(sim_vm_set_vmem(&vm, 512 * MiB), 0);
    run(&m, &vm, &now, 2);
    assert_int_equal(vm.vmem_current_kib, 256 * MiB);
    assert_true(vm.vmem_moved);
    run(&m, &vm, &now, 2);
    assert_int_equal(vm.vmem_current_kib, 512 * MiB);
    PolicyDomainCaps caps;
    uint64_t before = sim_vm_capacity_kib(&vm);
    assert_int_equal(sim_vm_attach_dimm(&m, &vm, 100 * MiB, now), -EINVAL);
    assert_int_equal(sim_vm_attach_dimm(&m, &vm, 512 * MiB, now), 0);
    assert_int_equal(sim_vm_capacity_kib(&vm), before);
    run(&m, &vm, &now, 4);
    assert_int_equal(sim_vm_capacity_kib(&vm), before + 512 * MiB);
    sim_vm_caps(&vm, &caps);
    assert_int_equal(caps.balloon_max_kib, 768 * MiB);
    assert_int_equal(caps.free_dimm_slots, 1);
    assert_int_equal(caps.n_virtio_mem, 1);
    assert_int_equal(caps.virtio_mem[0].current_kib, 512 * MiB);
    assert_int_equal(caps.total_memory_kib, 768 * MiB + 1 * GiB);
}

static void test_traces(void **state)
{
    SimTraceState st = {0};
    SimTrace ramp = {.kind = SIM_TRACE_RAMP,
                     .level_kib = 100 * MiB,
                     .peak_kib = 500 * MiB,
                     .rate_kib_s = 16 * MiB,
                     .start_us = 10 * SEC};
    assert_int_equal(sim_trace_demand_kib(&ramp, &st, 1, 5 * SEC, 0), 100 * MiB);
    assert_int_equal(sim_trace_demand_kib(&ramp, &st, 1, 20 * SEC, 0), 260 * MiB);
    assert_int_equal(sim_trace_demand_kib(&ramp, &st, 1, 60 * SEC, 0), 500 * MiB);
    SimTrace b = {.kind = SIM_TRACE_BURSTS,
                  .level_kib = 1,
                  .peak_kib = 9,
                  .period_us = 100 * SEC,
                  .duration_us = 10 * SEC};
    assert_int_equal(sim_trace_demand_kib(&b, &st, 1, 105 * SEC, 0), 9);
    assert_int_equal(sim_trace_demand_kib(&b, &st, 1, 115 * SEC, 0), 1);
    SimTrace boot = {.kind = SIM_TRACE_BOOT, .level_kib = 1, .peak_kib = 5, .duration_us = SEC};
    assert_int_equal(sim_trace_demand_kib(&boot, &st, 1, 999 * SEC, 0), 5);
    assert_int_equal(sim_trace_demand_kib(&boot, &st, 1, 999 * SEC, 2 * SEC), 1);
    SimTrace w = {.kind = SIM_TRACE_WALK,
                  .level_kib = 100,
                  .peak_kib = 200,
                  .period_us = SEC,
                  .step_kib = 30};
    SimTraceState ws = {0};
    for (uint64_t t = 0; t < 10000; t++) {
        uint64_t v = sim_trace_demand_kib(&w, &ws, 7, t * SEC, 0);
        assert_true(v >= 100 && v <= 200);
    }
    /* the office day: night at the level, the afternoon busy */
    SimTrace o = {.kind = SIM_TRACE_OFFICE, .level_kib = 600 * MiB, .peak_kib = 2 * GiB};
    assert_int_equal(sim_trace_demand_kib(&o, &st, 3, 3 * 3600 * SEC, 0), 600 * MiB);
    assert_int_equal(sim_trace_demand_kib(&o, &st, 3, 15 * 3600 * SEC, 0), 2 * GiB);
    SimTraceKind k;
    assert_int_equal(sim_trace_kind_from_string("office-day", &k), 0);
    assert_int_equal(k, SIM_TRACE_OFFICE);
    assert_int_not_equal(sim_trace_kind_from_string("Office", &k), 0);
}

static void test_csv(void **state)
{
    static const struct {
        const char *text;
        bool ok;
        unsigned n;
    } cases[] = {
        {"seconds,MiB\n0,100\n1.5,200\n", true, 2},
        {"# recorded\n0, 100\n\n10,50\r\n", true, 2},
        {"0,100\n5,x\n", false, 0},
        {"5,100\n1,100\n", false, 0},
        {"0,-1\n", false, 0},
        {"0;100\n", false, 0},
        {"", false, 0},
        {"0,1e300\n", false, 0},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GArray *pts = NULL;
        g_autofree char *err = NULL;
        int r = sim_trace_parse_csv_buf(cases[i].text, &pts, &err);
        if (cases[i].ok) {
            assert_int_equal(r, 0);
            assert_int_equal(pts->len, cases[i].n);
            g_array_unref(pts);
        } else {
            assert_int_equal(r, -EINVAL);
            assert_non_null(err);
        }
    }
}

static int read_csv(const char *path, char **ret_text, char **ret_error, void *userdata)
{
    if (strcmp(path, "t.csv") != 0) {
        *ret_error = g_strdup("no such file");
        return -ENOENT;
    }
    *ret_text = g_strdup("0,100\n60,300\n");
    return 0;
}

static void test_scenario(void **state)
{
    static const char good[] =
        "name: s\nduration: 1h\nhost: {ram: 16GiB, reserve: 1GiB, pool: 8GiB}\n"
        "model: {tick: 500ms, inflate-rate: 50MiB}\n"
        "policy: {defaults: {buffer: 30%}, tuning: {grace: 5s}}\n"
        "vms:\n"
        "  - {name: a, count: 3, memory: 2GiB, start-every: 10s,\n"
        "     policy: {weight: 8000, minimum: 512MiB}, demand: {kind: csv, file: t.csv}}\n"
        "  - {name: b, memory: 1GiB, virtio-mem: 2GiB, demand: 300MiB}\n"
        "events:\n  - {at: 30min, stop: a-002}\n";
    g_autoptr(SimScenario) s = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    int r = sim_scenario_parse_buf(good, strlen(good), read_csv, NULL, &s, &errors);
    if (r < 0)
        fail_msg("%s", (char *)errors->pdata[0]);
    assert_int_equal(s->vms->len, 4);
    SimVm *a2 = &g_array_index(s->vms, SimVm, 1);
    assert_string_equal(a2->name, "a-002");
    assert_int_equal(a2->start_us, 10 * SEC);
    assert_int_equal(a2->stop_us, 1800 * SEC);
    assert_int_equal(s->model.tick_us, 500000);
    assert_int_equal(s->model.inflate_kib_s, 50 * MiB);
    assert_int_equal(s->host_pool_kib, 8 * GiB);
    SimVmPolicy p;
    sim_scenario_vm_policy(s, a2, &p);
    assert_int_equal(p.weight, 8000);
    assert_int_equal(p.minimum_kib, 512 * MiB);
    assert_int_equal(p.buffer_pct, 30);
    sim_scenario_vm_policy(s, &g_array_index(s->vms, SimVm, 3), &p);
    assert_int_equal(p.weight, 5000);
    assert_int_equal(p.maximum_kib, 3 * GiB);
    assert_non_null(strstr(s->policy_text, "pool: 8GiB"));

    static const char *const bad[] = {
        "vms: []\nfoo: 1\n",                                     /* unknown key */
        "vms:\n  - {memory: 1GiB}\n",                            /* no name */
        "vms:\n  - {name: a, memory: 1}\n",                      /* size without unit */
        "vms:\n  - {name: a, demand: {kind: bursts}}\n",         /* no period */
        "vms:\n  - {name: a, demand: {kind: csv, file: x}}\n",   /* unreadable */
        "vms:\n  - {name: a, policy: {weight: 99999}}\n",        /* policy refuses */
        "vms:\n  - {name: a, policy: {wieght: 1}}\n",            /* policy refuses */
        "vms:\n  - {name: a}\nevents:\n  - {at: 1s, stop: b}\n", /* no such VM */
        "vms:\n  - {name: a}\nmodel: {tick: 1us}\n",
        "vms:\n  - {name: a}\npolicy: {domains: []}\n",
        "[1, 2]\n",
        "vms: &x [*x]\n",
        "",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(SimScenario) b = NULL;
        g_autoptr(GPtrArray) e = NULL;
        assert_int_equal(sim_scenario_parse_buf(bad[i], strlen(bad[i]), read_csv, NULL, &b, &e),
                         -EINVAL);
        assert_null(b);
        assert_true(e->len > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve),         cmocka_unit_test(test_balloon_speed_and_stall),
        cmocka_unit_test(test_oom_and_deflate), cmocka_unit_test(test_vmem_and_dimm),
        cmocka_unit_test(test_traces),          cmocka_unit_test(test_csv),
        cmocka_unit_test(test_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
