/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real backend and manager against libvirt's test driver
 * (DESIGN.md §6.3): six domains under different policies, read back
 * through libvirt after some cycles; a domain undefined while running; a
 * domain destroyed under the daemon.
 */
#include "libvirt-backend-private.h"

#include <libvirt/virterror.h>
#include "manager.h"
#include "test-sizes.h"
#include "test-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain-xml.h"
#include "settings.h"
#include <string.h>

typedef struct {
    char *dir;
    uint64_t now_us;
    Backend *backend; /* borrowed: the manager owns it */
    Manager *m;
} Ctx;

static int setup(void **state)
{
    Ctx *c = g_new0(Ctx, 1);
    c->dir = test_dir_new("dynmem-libvirt-XXXXXX", false);
    test_dir_write(c->dir, "meminfo",
                   "MemTotal:       67108864 kB\n"
                   "MemAvailable:   62914560 kB\n");
    g_autofree char *uri = g_strdup_printf("test://%s/node.xml", DYNMEM_TEST_SRCDIR);
    g_autofree char *policy = g_build_filename(DYNMEM_TEST_SRCDIR, "policy.yaml", NULL);
    c->now_us = 1000000;
    c->backend = backend_libvirt_new();
    ManagerOptions o = {
        .config_path = policy,
        .connect_uri = uri,
        .proc_root = c->dir,
        .clock = test_clock_now_us,
        .clock_userdata = &c->now_us,
        .no_timer = true,
    };
    g_autofree char *err = NULL;
    if (manager_new(&o, c->backend, &c->m, &err) < 0)
        fail_msg("manager_new: %s", err);
    manager_start(c->m);
    assert_true(manager_is_connected(c->m));
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    Ctx *c = *state;
    manager_free(c->m);
    test_dir_remove(c->dir);
    g_free(c->dir);
    g_free(c);
    return 0;
}

static void cycles(Ctx *c, int n)
{
    for (int i = 0; i < n; i++) {
        c->now_us += 1000000;
        while (g_main_context_iteration(NULL, FALSE))
            ;
        int r = manager_run_cycle(c->m);
        if (r < 0)
            fail_msg("cycle %d failed: %s", i, g_strerror(-r));
    }
}

/* The test driver's domain by name; the caller frees it. */
static virDomainPtr lookup(Ctx *c, const char *name)
{
    virConnectPtr conn = backend_libvirt_get_connection(c->backend);
    assert_non_null(conn);
    virDomainPtr dom = virDomainLookupByName(conn, name);
    assert_non_null(dom);
    return dom;
}

/* The balloon figure libvirt holds for a domain, read directly. */
static uint64_t libvirt_memory_kib(Ctx *c, const char *name)
{
    virDomainPtr dom = lookup(c, name);
    virDomainInfo info;
    assert_int_equal(virDomainGetInfo(dom, &info), 0);
    virDomainFree(dom);
    return info.memory;
}

static void test_six_domains_within_bounds(void **state)
{
    Ctx *c = *state;
    cycles(c, 30);
    static const struct {
        const char *name;
        PolicyStatus status;
        uint64_t min_kib, max_kib;
        bool touched;
    } expect[] = {
        {"web1", POLICY_STATUS_OK, 1 * GiB, 4 * GiB, true},
        {"web2", POLICY_STATUS_OK, 2 * GiB, 3 * GiB, true},
        {"vdi-alice", POLICY_STATUS_OK, 512 * MiB, 3 * GiB, true},
        {"vdi-bob", POLICY_STATUS_OK, 512 * MiB, 3 * GiB, true},
        {"db01", POLICY_STATUS_STATIC, 8 * GiB, 8 * GiB, false},
        {"legacy", POLICY_STATUS_UNMANAGED, 2 * GiB, 2 * GiB, false},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
        ManagerDomain *d = manager_find_domain(c->m, expect[i].name);
        assert_non_null(d);
        uint64_t mem = libvirt_memory_kib(c, expect[i].name);
        if (mem < expect[i].min_kib || mem > expect[i].max_kib)
            fail_msg("%s: libvirt says %" G_GUINT64_FORMAT " KiB, bounds %" G_GUINT64_FORMAT
                     "..%" G_GUINT64_FORMAT,
                     expect[i].name, mem, expect[i].min_kib, expect[i].max_kib);
        if (expect[i].touched) {
            /* converged: the plan's target is what libvirt now holds */
            assert_int_equal(d->entry.target_kib, mem);
            assert_true(d->entry.status == POLICY_STATUS_OK ||
                        d->entry.status == POLICY_STATUS_LOW);
        } else {
            assert_int_equal(d->entry.status, expect[i].status);
        }
    }
    /* the synthetic guests always use half of what they have, so they are
     * trimmed down to their minimum (within one minimum step of 32 MiB) */
    assert_true(libvirt_memory_kib(c, "web2") <= 2 * GiB + 32 * MiB);
    assert_true(libvirt_memory_kib(c, "vdi-alice") <= 512 * MiB + 32 * MiB);
    /* vdi-bob had a balloon without a stats period: it was given one */
    ManagerDomain *bob = manager_find_domain(c->m, "vdi-bob");
    assert_true(bob->caps.stats_period_s > 0);
}

static bool domain_gone(Ctx *c, const char *name)
{
    return manager_find_domain(c->m, name) == NULL;
}

static bool domain_booted(Ctx *c, const char *name)
{
    ManagerDomain *d = manager_find_domain(c->m, name);
    return d && d->state.seen_boot;
}

/* Runs the main loop (libvirt's events) until done(c, name), 10 s at most. */
static void loop_until(Ctx *c, bool (*done)(Ctx *c, const char *name), const char *name)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!done(c, name) && g_get_monotonic_time() < deadline)
        g_main_context_iteration(NULL, TRUE);
}

static void test_undefined_while_running_then_destroyed(void **state)
{
    Ctx *c = *state;
    cycles(c, 2);
    virDomainPtr dom = lookup(c, "web1");
    /* undefined while running: it becomes transient and stays managed */
    assert_int_equal(virDomainUndefine(dom), 0);
    cycles(c, 3);
    assert_non_null(manager_find_domain(c->m, "web1"));
    /* destroyed: forgotten by the event, without waiting for a cycle */
    assert_int_equal(virDomainDestroy(dom), 0);
    virDomainFree(dom);
    loop_until(c, domain_gone, "web1");
    assert_null(manager_find_domain(c->m, "web1"));
    cycles(c, 2);
    assert_null(manager_find_domain(c->m, "web1"));
    assert_non_null(manager_find_domain(c->m, "web2"));
}

static void test_domain_started_gets_grace(void **state)
{
    Ctx *c = *state;
    cycles(c, 1);
    virDomainPtr dom = lookup(c, "vdi-alice");
    assert_int_equal(virDomainDestroy(dom), 0);
    assert_int_equal(virDomainCreate(dom), 0);
    virDomainFree(dom);
    loop_until(c, domain_booted, "vdi-alice");
    ManagerDomain *d = manager_find_domain(c->m, "vdi-alice");
    assert_non_null(d);
    assert_true(d->state.seen_boot);
    cycles(c, 1);
    d = manager_find_domain(c->m, "vdi-alice");
    assert_int_equal(d->entry.status, POLICY_STATUS_STARTING);
}

/* The policy a domain carries in its metadata (issue 13): set through
 * libvirt, picked up by the event within a cycle, laid between the YAML
 * rule and a run-time override; invalid metadata is reported and never
 * applies (the last valid layer stays); removing it restores the rule. */
static int set_policy_metadata(Ctx *c, const char *name, const char *xml)
{
    virDomainPtr dom = lookup(c, name);
    int r = virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, xml, xml ? "dynmem" : NULL,
                                 DOMAIN_XML_POLICY_NS, VIR_DOMAIN_AFFECT_LIVE);
    virDomainFree(dom);
    return r;
}

static size_t key_index(const char *key)
{
    size_t i = 0;
    for (const PolicyKey *k = policy_domain_keys; k->name; k++, i++)
        if (strcmp(k->name, key) == 0)
            return i;
    fail_msg("no key %s", key);
    return 0;
}

static void test_policy_metadata(void **state)
{
    Ctx *c = *state;
    cycles(c, 1);
    ManagerDomain *d = manager_find_domain(c->m, "web1");
    /* the rule for web1: buffer 50%; weight from the defaults */
    assert_int_equal(d->policy.buffer_pct, 50);
    assert_int_equal(d->policy.weight, POLICY_WEIGHT_DEFAULT);
    assert_int_equal(d->policy.source[key_index("buffer")], POLICY_SOURCE_RULE);
    assert_int_equal(d->policy.source[key_index("weight")], POLICY_SOURCE_DEFAULT);

    assert_int_equal(set_policy_metadata(c, "web1",
                                         "<policy><weight>8000</weight>"
                                         "<buffer>30%</buffer></policy>"),
                     0);
    cycles(c, 1);
    d = manager_find_domain(c->m, "web1");
    assert_int_equal(d->policy.weight, 8000);
    assert_int_equal(d->policy.buffer_pct, 30);
    assert_true(d->policy.has_metadata);
    assert_int_equal(d->policy.source[key_index("weight")], POLICY_SOURCE_METADATA);
    assert_int_equal(d->policy.source[key_index("minimum")], POLICY_SOURCE_DEFAULT);
    assert_null(manager_domain_metadata_problem(d));

    /* an override beats the metadata, for the key it sets */
    PolicySettings o = {0};
    g_autofree char *err = NULL;
    assert_int_equal(policy_settings_set_key(&o, "weight", "9000", &err), 0);
    assert_int_equal(manager_set_override(c->m, d, &o, false, &err), 0);
    cycles(c, 1);
    assert_int_equal(d->policy.weight, 9000);
    assert_int_equal(d->policy.source[key_index("weight")], POLICY_SOURCE_OVERRIDE);
    assert_int_equal(d->policy.buffer_pct, 30);
    assert_int_equal(manager_reset_override(c->m, d, &err), 0);

    /* invalid: a bad value, an unknown key, nested elements; none applies
     * and the last valid layer stays */
    static const char *const bad[] = {
        "<policy><weight>80000</weight><buffer>10%</buffer></policy>",
        "<policy><wieght>1</wieght></policy>",
        "<policy><minimum><x/></minimum></policy>",
        "<policy><minimum>4GiB</minimum><maximum>1GiB</maximum></policy>",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        assert_int_equal(set_policy_metadata(c, "web1", bad[i]), 0);
        cycles(c, 1);
        d = manager_find_domain(c->m, "web1");
        assert_non_null(manager_domain_metadata_problem(d));
        assert_int_equal(d->policy.weight, 8000);
        assert_int_equal(d->policy.buffer_pct, 30);
    }
    /* valid alone, but above the maximum of web2's rule (3 GiB): ignored */
    assert_int_equal(set_policy_metadata(c, "web2", "<policy><minimum>8GiB</minimum></policy>"), 0);
    cycles(c, 1);
    ManagerDomain *w2 = manager_find_domain(c->m, "web2");
    assert_non_null(manager_domain_metadata_problem(w2));
    assert_false(w2->policy.has_metadata);
    assert_int_equal(w2->policy.minimum.value, 2 * GiB);

    /* removed: the rule again */
    assert_int_equal(set_policy_metadata(c, "web1", NULL), 0);
    cycles(c, 1);
    d = manager_find_domain(c->m, "web1");
    assert_false(d->policy.has_metadata);
    assert_null(manager_domain_metadata_problem(d));
    assert_int_equal(d->policy.buffer_pct, 50);
    assert_int_equal(d->policy.weight, POLICY_WEIGHT_DEFAULT);
}

/* read_sample: one domain's balloon figure asked of the driver now (the
 * backend's way round libvirt's stale figure for DIMM guests). */
static void test_read_sample(void **state)
{
    Ctx *c = *state;
    cycles(c, 1);
    ManagerDomain *d = manager_find_domain(c->m, "web2");
    assert_non_null(d);
    PolicyDomainSample s;
    g_autofree char *err = NULL;
    assert_int_equal(backend_libvirt_read_sample(c->backend, d->uuid, 42, &s, &err), 0);
    assert_null(err);
    assert_int_equal(s.timestamp_us, 42);
    assert_int_equal(s.balloon_kib, libvirt_memory_kib(c, "web2"));
    assert_int_equal(s.assigned_kib, 0);

    g_autofree char *err2 = NULL;
    assert_int_equal(backend_libvirt_read_sample(c->backend, "6d0c3a52-0000-4000-8000-000000000000",
                                                 42, &s, &err2),
                     -ENOENT);
    assert_non_null(err2);
}

/* The backend's complete_sample for a DIMM guest whose figures came from
 * the bulk stats (what a QEMU guest's do; the test driver's never do, so
 * they are made here): libvirt's balloon figure is asked live in the
 * window after its DIMMs change, and after that only while the two
 * figures disagree. A read is seen as BACKEND_SAMPLE_LIVE. */
static void test_dimm_read_window(void **state)
{
    Ctx *c = *state;
    cycles(c, 1);
    ManagerDomain *d = manager_find_domain(c->m, "web2");
    assert_non_null(d);
    uint64_t actual = libvirt_memory_kib(c, "web2");
    PolicyDomainCaps caps = d->caps;
    caps.n_virtio_mem = 0;
    caps.n_dimms = 1;
    BackendDomainMemo memo = {0};
    unsigned live = 0;
    uint64_t now = 1000 * G_USEC_PER_SEC;

    for (int i = 0; i < 60; i++, now += G_USEC_PER_SEC) {
        PolicyDomainSample s = {.has_balloon_stats = true, .assigned_kib = actual};
        g_autofree char *err = NULL;
        int r = c->backend->ops->complete_sample(c->backend, d->uuid, &caps, now, false, &memo, &s,
                                                 &err);
        assert_null(err);
        assert_true(r == BACKEND_SAMPLE_LIVE || r == BACKEND_SAMPLE_COLLECTED);
        live += r == BACKEND_SAMPLE_LIVE;
        assert_int_equal(s.assigned_kib, actual);
    }
    assert_int_equal(live, 6); /* the window's 5 s, one read a second */

    /* a DIMM more, and libvirt's bulk figure short by it: read while
     * they disagree, the driver's figure taken */
    caps.n_dimms = 2;
    caps.balloon_max_kib += 512 * MiB;
    for (int i = 0; i < 20; i++, now += G_USEC_PER_SEC) {
        PolicyDomainSample s = {.has_balloon_stats = true, .assigned_kib = actual - 512 * MiB};
        g_autofree char *err = NULL;
        assert_int_equal(c->backend->ops->complete_sample(c->backend, d->uuid, &caps, now, false,
                                                          &memo, &s, &err),
                         BACKEND_SAMPLE_LIVE);
        assert_int_equal(s.assigned_kib, actual);
    }
}

/* A system error on one domain's action is not a lost connection while
 * the connection is alive (it used to make the manager forget every
 * domain); once the connection is gone, it is. */
static void test_system_error_is_not_a_disconnect(void **state)
{
    Ctx *c = *state;
    assert_int_equal(backend_libvirt_map_error(c->backend, VIR_ERR_SYSTEM_ERROR), -EIO);
    assert_int_equal(backend_libvirt_map_error(c->backend, VIR_ERR_INTERNAL_ERROR), -EIO);
    assert_int_equal(backend_libvirt_map_error(c->backend, VIR_ERR_NO_DOMAIN), -ENOENT);
    assert_int_equal(backend_libvirt_map_error(c->backend, VIR_ERR_RPC), -ENOTCONN);
    c->backend->ops->close(c->backend);
    assert_int_equal(backend_libvirt_map_error(c->backend, VIR_ERR_SYSTEM_ERROR), -ENOTCONN);
}

/* The known domains the stats are asked for follow the events: every
 * record carries the UUID of its own domain whatever the order they are
 * kept in (a stopped one's place is taken by the last), a held domain is
 * not asked but stays known, and a started one is asked again. */
static guint collect_checked(Ctx *c, const char *absent)
{
    g_autoptr(GArray) stats = NULL;
    g_autofree char *err = NULL;
    assert_int_equal(c->backend->ops->collect(c->backend, c->now_us, &stats, &err), 0);
    for (guint i = 0; i < stats->len; i++) {
        const BackendDomainStats *s = &g_array_index(stats, BackendDomainStats, i);
        virDomainPtr dom = lookup(c, s->name);
        char uuid[VIR_UUID_STRING_BUFLEN];
        assert_int_equal(virDomainGetUUIDString(dom, uuid), 0);
        virDomainFree(dom);
        assert_string_equal(s->uuid, uuid);
        if (absent)
            assert_string_not_equal(s->name, absent);
    }
    return stats->len;
}

static void test_known_domains_follow_events(void **state)
{
    Ctx *c = *state;
    cycles(c, 1);
    assert_int_equal(collect_checked(c, NULL), 6);
    const char *names[] = {"web1", "vdi-alice", "db01"};
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        virDomainPtr dom = lookup(c, names[i]);
        assert_int_equal(virDomainDestroy(dom), 0);
        virDomainFree(dom);
        while (g_main_context_iteration(NULL, FALSE))
            ;
        assert_int_equal(collect_checked(c, names[i]), 5 - i);
    }
    ManagerDomain *d = manager_find_domain(c->m, "web2");
    assert_non_null(d);
    g_autofree char *uuid = g_strdup(d->uuid);
    c->backend->ops->hold(c->backend, uuid, true);
    assert_int_equal(collect_checked(c, "web2"), 2);
    assert_int_equal(collect_checked(c, "web2"), 2);
    c->backend->ops->hold(c->backend, uuid, false);
    assert_int_equal(collect_checked(c, NULL), 3);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        virDomainPtr dom = lookup(c, names[i]);
        assert_int_equal(virDomainCreate(dom), 0);
        virDomainFree(dom);
        while (g_main_context_iteration(NULL, FALSE))
            ;
        assert_int_equal(collect_checked(c, NULL), 4 + i);
    }
    cycles(c, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_six_domains_within_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undefined_while_running_then_destroyed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_domain_started_gets_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dimm_read_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_error_is_not_a_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_domains_follow_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
