/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dynmem-sim --from-recording (src/sim/sim-recording.c): a small
 * recording checked in (tests/sim/recordings/small.csv, made by dynmemd's
 * own recorder under dynmem-sim) turned into a scenario, checked VM by VM
 * and trace point by trace point, and run; hostile recordings refused
 * with their line. */
#include "sim-recording.h"
#include "sim-run.h"

#include <errno.h>
#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define MiB 1024ULL
#define GiB (1024ULL * 1024)
#define SEC 1000000ULL

#define COLUMNS                                                                                    \
    "time_s,uuid,status,mode,assigned_kib,balloon_kib,usable_kib,memtotal_kib,swap_in_kib,"        \
    "demand_kib,target_kib,balloon_max_kib,virtio_mem_kib,virtio_mem_block_kib,max_memory_kib,"    \
    "dimm_slots,autodeflate,minimum_kib,maximum_kib,buffer_pct,weight,name\n"
#define UUID1 "5e000000-0000-4000-8000-000000000001"
#define UUID2 "5e000000-0000-4000-8000-000000000002"

static int read_converted(const char *path, char **ret_text, char **ret_error, void *userdata)
{
    const SimRecordingScenario *r = userdata;
    for (guint i = 0; i < r->files->len; i++)
        if (r->texts->pdata[i] && strcmp(path, r->files->pdata[i]) == 0) {
            *ret_text = g_strdup(r->texts->pdata[i]);
            return 0;
        }
    *ret_error = g_strdup("not in the recording");
    return -ENOENT;
}

static SimRecordingScenario *convert_ok(const char *text)
{
    SimRecordingScenario *r = NULL;
    g_autofree char *err = NULL;
    if (sim_recording_convert_buf(text, strlen(text), "rec", &r, &err) < 0)
        fail_msg("convert: %s", err);
    return r;
}

static SimScenario *scenario_of(SimRecordingScenario *r)
{
    SimScenario *s = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    if (sim_scenario_parse_buf(r->yaml, strlen(r->yaml), read_converted, r, &s, &errors) < 0)
        fail_msg("the scenario made: %s\n%s", (char *)errors->pdata[0], r->yaml);
    return s;
}

static const SimVm *vm_named(const SimScenario *s, const char *name)
{
    for (guint i = 0; i < s->vms->len; i++)
        if (strcmp(g_array_index(s->vms, SimVm, i).name, name) == 0)
            return &g_array_index(s->vms, SimVm, i);
    fail_msg("no VM %s", name);
    return NULL;
}

static void assert_points(const SimVm *vm, const SimTracePoint *want, guint n)
{
    assert_int_equal(vm->trace->kind, SIM_TRACE_CSV);
    if (vm->trace->points->len != n)
        fail_msg("%s: %u points, expected %u", vm->name, vm->trace->points->len, n);
    for (guint i = 0; i < n; i++) {
        const SimTracePoint *p = &g_array_index(vm->trace->points, SimTracePoint, i);
        if (p->t_us != want[i].t_us || p->kib != want[i].kib)
            fail_msg("%s point %u: (%" G_GUINT64_FORMAT " us, %" G_GUINT64_FORMAT
                     " KiB), expected (%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
                     vm->name, i, p->t_us, p->kib, want[i].t_us, want[i].kib);
    }
}

/* The checked-in recording: two sessions (the second 100 s after the
 * first), four domains, one static, one autodeflate with virtio-mem, one
 * with DIMM slots and a comma in its name, one that stopped. */
static void test_small_recording(void **state)
{
    g_autofree char *path =
        g_build_filename(DYNMEM_SOURCE_ROOT, "tests", "sim", "recordings", "small.csv", NULL);
    g_autofree char *text = NULL;
    assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_autoptr(SimRecordingScenario) r = convert_ok(text);
    assert_int_equal(r->n_vms, 4);
    assert_int_equal(r->n_samples, 107);
    assert_false(r->truncated);
    assert_int_equal(r->files->len, 4);
    assert_string_equal(r->files->pdata[0], "rec.1.csv");

    g_autoptr(SimScenario) s = scenario_of(r);
    assert_int_equal(s->vms->len, 4);
    assert_int_equal(s->host_ram_kib, 8 * GiB);
    assert_int_equal(s->host_reserve_kib, 1 * GiB);
    assert_int_equal(s->host_other_kib, 512 * MiB);
    assert_int_equal(s->host_pool_kib, 0);
    assert_int_equal(s->policy->overhead_kib, 64 * MiB);
    /* the last line at 100 + 9 s, one interval after it */
    assert_int_equal(s->duration_us, 110 * SEC);

    const SimVm *build = vm_named(s, "build");
    assert_int_equal(build->boot_kib, 512 * MiB);
    assert_int_equal(build->vmem_size_kib, 1 * GiB);
    assert_int_equal(build->vmem_block_kib, 2 * MiB);
    assert_true(build->autodeflate);
    assert_int_equal(build->start_us, 0);
    assert_int_equal(build->stop_us, UINT64_MAX);
    /* no MemTotal (autodeflate): assigned − MemAvailable less the kernel
     * reserve the model adds, 47 MiB + 1.6 % of 512 MiB */
    assert_int_equal(sim_recording_kernel_reserve_kib(512 * MiB), 47 * MiB + 524 * 16);
    const SimTracePoint *first = &g_array_index(build->trace->points, SimTracePoint, 0);
    assert_int_equal(first->t_us, 0);
    assert_int_equal(first->kib, 524288 - 365376 - (47 * MiB + 524 * 16)); /* 100 MiB */

    const SimVm *legacy = vm_named(s, "legacy");
    assert_int_equal(legacy->boot_kib, 768 * MiB);
    assert_int_equal(legacy->stop_us, 19 * SEC);
    SimVmPolicy vp;
    sim_scenario_vm_policy(s, legacy, &vp);
    assert_false(vp.dynamic);
    const SimTracePoint legacy_pts[] = {{0, 400 * MiB}};
    assert_points(legacy, legacy_pts, 1);

    const SimVm *web = vm_named(s, "web");
    assert_int_equal(web->boot_kib, 1 * GiB);
    assert_int_equal(web->vmem_size_kib, 0);
    assert_int_equal(web->dimm_slots, 0);
    assert_false(web->autodeflate);
    sim_scenario_vm_policy(s, web, &vp);
    assert_true(vp.dynamic);
    assert_int_equal(vp.weight, 8000);
    assert_int_equal(vp.minimum_kib, 256 * MiB);
    assert_int_equal(vp.buffer_pct, 20);
    /* MemTotal − MemAvailable, a point where it changes; the second
     * session from 100 s */
    const SimTracePoint web_pts[] = {
        {0, 200 * MiB},        {10 * SEC, 328 * MiB}, {11 * SEC, 600 * MiB},
        {20 * SEC, 300 * MiB}, {105 * SEC, 590464},   {106 * SEC, 700 * MiB},
    };
    assert_points(web, web_pts, G_N_ELEMENTS(web_pts));

    const SimVm *db = vm_named(s, "db,main");
    assert_int_equal(db->boot_kib, 2 * GiB);
    assert_int_equal(db->dimm_slots, 2);
    assert_int_equal(db->max_memory_kib, 4 * GiB);
    assert_int_equal(db->start_us, 102 * SEC);
    const SimTracePoint db_pts[] = {{103 * SEC, 1 * GiB}};
    assert_points(db, db_pts, 1);

    /* replayed like any scenario, by dynmem and a baseline */
    SimRunOptions o = {.plot_max_vm = 6};
    SimResult res[2] = {0};
    g_autofree char *err = NULL;
    if (sim_run(s, SIM_ALGO_DYNMEM, &o, &res[0], &err) < 0 ||
        sim_run(s, SIM_ALGO_STATIC, &o, &res[1], &err) < 0)
        fail_msg("sim_run: %s", err);
    sim_results_finish(res, 2);
    assert_true(res[0].domain_cycles > 0);
    assert_true(res[0].avg_assigned_kib < res[1].avg_assigned_kib);
    assert_true(res[0].saved_pct > 0);
    sim_result_clear(&res[0]);
    sim_result_clear(&res[1]);
}

/* A line cut short at the end (the daemon stopped mid-write) is left out
 * and said; a name met twice under two UUIDs becomes two VMs; a quoted
 * name loses its quotes; CRLF line ends are read. */
static void test_truncated_names_crlf(void **state)
{
    const char text[] = "# session start=x unix=100 interval-ms=500\r\n" COLUMNS "0.000," UUID1
                        ",ok,dynamic,1048576,1048576,524288,1000000,0,,,1048576,"
                        "0,0,0,0,0,,,20,5000,\"a \"\"b\"\"\"\r\n"
                        "0.500," UUID2 ",ok,dynamic,1048576,1048576,524288,1000000,0,,,1048576,"
                        "0,0,0,0,0,,,20,5000,\"a \"\"b\"\"\"\n"
                        "1.000," UUID1 ",ok,dynamic,1048576,1048576,5";
    g_autoptr(SimRecordingScenario) r = convert_ok(text);
    assert_true(r->truncated);
    assert_int_equal(r->n_samples, 2);
    g_autoptr(SimScenario) s = scenario_of(r);
    assert_int_equal(s->vms->len, 2);
    assert_string_equal(g_array_index(s->vms, SimVm, 0).name, "a \"b\"");
    assert_string_equal(g_array_index(s->vms, SimVm, 1).name, "a \"b\"~2");
    assert_int_equal(g_array_index(s->vms, SimVm, 1).start_us, SEC / 2);
    /* no host line: the scenario's default host; the interval from the
     * session line; 1000000 − 524288 KiB used */
    assert_int_equal(s->duration_us, SEC);
    const SimTracePoint pts[] = {{0, 1000000 - 524288}};
    assert_points(&g_array_index(s->vms, SimVm, 0), pts, 1);
    assert_non_null(strstr(r->yaml, "interval: 500ms"));
}

/* The first host line gives the host, its pool and dynmem's overhead; a
 * later session's host line does not change them. */
static void test_host_line(void **state)
{
    const char text[] =
        "# session unix=100 interval-ms=2000\n"
        "# host mem-total-kib=16777216 reserve-kib=2097152 other-kib=1048576 pool-kib=8388608 "
        "overhead-kib=32768\n" COLUMNS "0.000," UUID1
        ",ok,dynamic,1048576,1048576,524288,1000000,0,,,1048576,0,0,0,0,0,,,20,5000,vm\n"
        "# session unix=50 interval-ms=1000\n"
        "# host mem-total-kib=1048576 reserve-kib=0 other-kib=0\n" COLUMNS "0.000," UUID1
        ",ok,dynamic,1048576,1048576,624288,1000000,0,,,1048576,0,0,0,0,0,,,20,5000,vm\n";
    g_autoptr(SimRecordingScenario) r = convert_ok(text);
    g_autoptr(SimScenario) s = scenario_of(r);
    assert_int_equal(s->host_ram_kib, 16 * GiB);
    assert_int_equal(s->host_reserve_kib, 2 * GiB);
    assert_int_equal(s->host_other_kib, 1 * GiB);
    assert_int_equal(s->host_pool_kib, 8 * GiB);
    assert_int_equal(s->policy->overhead_kib, 32 * MiB);
    assert_int_equal(s->policy->interval_us, 2 * SEC);
    /* the second session, whose start is before the first's, comes one
     * interval after the first's last line */
    const SimTracePoint pts[] = {{0, 1000000 - 524288}, {2 * SEC, 1000000 - 624288}};
    assert_points(&g_array_index(s->vms, SimVm, 0), pts, 2);
    assert_int_equal(s->duration_us, 4 * SEC);
}

typedef struct {
    const char *name;
    const char *text;
    const char *error;
} Hostile;

#define LINE(t, rest) t "," UUID1 "," rest "\n"
#define GOOD_REST     "ok,dynamic,1048576,1048576,524288,,0,,,1048576,0,0,0,0,0,,,20,5000,vm"

static void test_hostile_recordings(void **state)
{
    g_autofree char *longline = g_strnfill(20000, 'x');
    g_autofree char *too_long = g_strconcat(COLUMNS, longline, "\n", NULL);
    const Hostile cases[] = {
        {"empty", "", "no samples"},
        {"comments only", "# dynmem recording\n" COLUMNS, "no samples"},
        {"no column line", LINE("0.000", GOOD_REST), "1: a sample before the column line"},
        {"other columns", "time_s,uuid,name\n", "1: not the columns of a format 1 recording"},
        {"too few fields", COLUMNS "0.000," UUID1 ",ok,dynamic,1\n", "2: expected 22 fields"},
        {"time not a number", COLUMNS LINE("soon", GOOD_REST),
         "2: time_s: expected seconds, found \"soon\""},
        {"time negative", COLUMNS LINE("-1", GOOD_REST), "2: time_s: expected seconds"},
        {"time NaN", COLUMNS LINE("nan", GOOD_REST), "2: time_s: expected seconds"},
        {"time backwards", COLUMNS LINE("5.000", GOOD_REST) LINE("4.000", GOOD_REST),
         "3: time goes backwards"},
        {"not a UUID", COLUMNS "0.000,not-a-uuid," GOOD_REST "\n",
         "2: uuid: not a UUID: \"not-a-uuid\""},
        {"bad mode", COLUMNS LINE("0.000", "ok,frozen,1,1,1,,0,,,1,0,0,0,0,0,,,20,5000,vm"),
         "2: mode: expected dynamic or static"},
        {"size not a number",
         COLUMNS LINE("0.000", "ok,dynamic,1G,1,1,,0,,,1,0,0,0,0,0,,,20,5000,vm"),
         "2: assigned_kib: expected a whole number, found \"1G\""},
        {"size negative", COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,-1,0,0,0,0,0,,,20,5000,vm"),
         "2: balloon_max_kib: expected a whole number"},
        {"size absurd",
         COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,99999999999999999999,0,0,0,0,0,,,20,5000,vm"),
         "2: balloon_max_kib: expected a whole number"},
        {"a required field empty",
         COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,,0,0,0,0,0,,,20,5000,vm"),
         "2: balloon_max_kib: expected a whole number, found \"\""},
        {"weight out of range",
         COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,1,0,0,0,0,0,,,20,99999,vm"),
         "2: autodeflate, buffer_pct, weight or dimm_slots out of range"},
        {"empty name", COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,1,0,0,0,0,0,,,20,5000,"),
         "2: name: empty"},
        {"empty quoted name",
         COLUMNS LINE("0.000", "ok,dynamic,1,1,1,,0,,,1,0,0,0,0,0,,,20,5000,\"\""),
         "2: name: empty"},
        {"a year and more", COLUMNS LINE("31622400.000", GOOD_REST),
         "2: more than a year after the first sample"},
        {"a host figure too large", "# host mem-total-kib=999999999999999 reserve-kib=0\n" COLUMNS,
         "1: a host line needs mem-total-kib= and reserve-kib="},
        {"bad interval", "# session unix=1 interval-ms=5\n" COLUMNS, "1: interval-ms out of range"},
        {"host line without figures", "# host mem-total-kib=lots\n" COLUMNS,
         "1: a host line needs mem-total-kib= and reserve-kib="},
        {"a very long line", too_long, "2: longer than 16384 bytes"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        SimRecordingScenario *r = NULL;
        g_autofree char *err = NULL;
        int rc = sim_recording_convert_buf(cases[i].text, strlen(cases[i].text), "rec", &r, &err);
        if (rc != -EINVAL || !err || !g_str_has_prefix(err, cases[i].error))
            fail_msg("%s: rc %d, error \"%s\", expected \"%s\"", cases[i].name, rc,
                     err ? err : "(none)", cases[i].error);
        assert_null(r);
    }
    /* a NUL byte anywhere */
    const char nul[] = COLUMNS "0.000\0,";
    SimRecordingScenario *r = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(sim_recording_convert_buf(nul, sizeof(nul) - 1, "rec", &r, &err), -EINVAL);
    assert_string_equal(err, "a NUL byte: not a recording");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_recording),
        cmocka_unit_test(test_truncated_names_crlf),
        cmocka_unit_test(test_host_line),
        cmocka_unit_test(test_hostile_recordings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
