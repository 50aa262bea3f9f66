/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The e2e stories replayed as scenarios (tests/sim/scenarios/e2e-*.yaml)
 * through dynmemd's own manager on the simulated hypervisor: the same
 * outcome as on real guests (tests/e2e/e2e-spike.sh, e2e-scarcity.sh,
 * e2e-burst-pool.sh):
 * who grows, by which mechanism, no OOM kill, within the stated bounds. */
#include "sim-run.h"

#include <glib.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define MiB 1024ULL

static SimScenario *load(const char *name)
{
    g_autofree char *path =
        g_build_filename(DYNMEM_SOURCE_ROOT, "tests", "sim", "scenarios", name, NULL);
    SimScenario *s = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    if (sim_scenario_load(path, &s, &errors) < 0)
        fail_msg("%s: %s", path, (char *)errors->pdata[0]);
    return s;
}

static void run(const SimScenario *s, SimAlgo algo, SimResult *res)
{
    SimRunOptions o = {.plot_max_vm = 6};
    g_autofree char *err = NULL;
    if (sim_run(s, algo, &o, res, &err) < 0)
        fail_msg("sim_run: %s", err);
}

/* e2e-spike: bal grows by balloon alone, vmem by balloon then virtio-mem,
 * dimm by balloon then a DIMM; nobody is OOM-killed; after the drop memory
 * goes back (virtio-mem unplugged). */
static void test_spike(void **state)
{
    g_autoptr(SimScenario) s = load("e2e-spike.yaml");
    SimResult r;
    run(s, SIM_ALGO_DYNMEM, &r);
    const SimVmResult *bal = &r.vm[0], *vmem = &r.vm[1], *dimm = &r.vm[2];
    assert_int_equal(r.oom_kills, 0);
    assert_true(r.pressure_s <= 5);
    /* bal: 320 MiB of workload in a 640 MiB balloon */
    assert_int_equal(bal->peak_vmem_kib, 0);
    assert_int_equal(bal->dimms, 0);
    assert_true(bal->peak_assigned_kib >= 320 * MiB && bal->peak_assigned_kib <= 640 * MiB);
    /* vmem: 480 MiB on 256 MiB of boot memory */
    assert_true(vmem->peak_vmem_kib >= 256 * MiB);
    assert_int_equal(vmem->dimms, 0);
    /* dimm: 500 MiB on 384 MiB of boot memory */
    assert_int_equal(dimm->peak_vmem_kib, 0);
    assert_true(dimm->dimms >= 1);
    /* at the end (second 600, idle since 550) all trimmed back below
     * their boot size, virtio-mem unplugged */
    assert_true(bal->end_assigned_kib < 640 * MiB);
    assert_true(vmem->end_assigned_kib <= 256 * MiB);
    assert_true(dimm->end_assigned_kib < 384 * MiB + 512 * MiB);
    sim_result_clear(&r);

    /* the same story under static allocation: dimm's 500 MiB cannot fit
     * in its 384 MiB, as on a real guest */
    run(s, SIM_ALGO_STATIC, &r);
    assert_int_equal(r.vm[0].oom_kills, 0);
    assert_int_equal(r.vm[1].oom_kills, 0);
    assert_true(r.vm[2].oom_kills > 0);
    sim_result_clear(&r);
}

/* e2e-scarcity under the 1,100 MiB pool: both workloads get their 300
 * MiB, no OOM kill, the heavier keeps more spare, both above their
 * minimum, together within the pool (the e2e's 4 MiB tolerance). */
static void test_scarcity(void **state)
{
    g_autoptr(SimScenario) s = load("e2e-scarcity.yaml");
    SimResult r;
    run(s, SIM_ALGO_DYNMEM, &r);
    const SimVmResult *heavy = &r.vm[0], *light = &r.vm[1];
    assert_int_equal(r.oom_kills, 0);
    assert_true(heavy->end_assigned_kib >= 160 * MiB && light->end_assigned_kib >= 160 * MiB);
    assert_true(heavy->end_assigned_kib + light->end_assigned_kib <= 1104 * MiB);
    assert_true(heavy->end_available_kib > light->end_available_kib);
    /* the workloads hold 300 MiB: the guests have it */
    assert_true(light->end_available_kib > 0);
    assert_true(r.over_budget_s <= 10);
    sim_result_clear(&r);
}

/* e2e-burst-pool under the 1,800 MiB pool: the two deflate-on-oom guests
 * step up together while the third ramps; no OOM kill, the stepped ones
 * given up to below their 640 MiB for the ramp, all within the pool. */
static void test_burst_pool(void **state)
{
    g_autoptr(SimScenario) s = load("e2e-burst-pool.yaml");
    SimResult r;
    run(s, SIM_ALGO_DYNMEM, &r);
    const SimVmResult *a = &r.vm[0], *b = &r.vm[1], *ramp = &r.vm[2];
    assert_int_equal(r.oom_kills, 0);
    assert_true(a->end_assigned_kib < 640 * MiB && b->end_assigned_kib < 640 * MiB);
    assert_true(a->end_assigned_kib + b->end_assigned_kib + ramp->end_assigned_kib <= 1804 * MiB);
    assert_true(ramp->end_available_kib > 16 * MiB);
    sim_result_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike),
        cmocka_unit_test(test_scarcity),
        cmocka_unit_test(test_burst_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
