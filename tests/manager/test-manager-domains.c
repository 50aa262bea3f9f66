/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's domain table (manager-domains.c) on the fake backend:
 * the name index against renames, shared names and removals, and the
 * engine input a domain gives.
 */
#include "fake-backend.h"
#include "manager-private.h"

#include <glib/gstdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#define MiB 1024ULL
#define GiB (1024ULL * 1024)

typedef struct {
    char *dir;
    FakeBackend *fb;
    Manager *m;
} Ctx;

static Ctx *ctx_new(void)
{
    Ctx *c = g_new0(Ctx, 1);
    c->dir = g_dir_make_tmp("dynmem-domains-XXXXXX", NULL);
    assert_non_null(c->dir);
    g_autofree char *mi = g_build_filename(c->dir, "meminfo", NULL);
    assert_true(g_file_set_contents(mi,
                                    "MemTotal: 67108864 kB\nMemFree: 62914560 kB\n"
                                    "MemAvailable: 62914560 kB\n",
                                    -1, NULL));
    c->fb = fake_backend_new();
    ManagerOptions o = {.connect_uri = "fake:///", .proc_root = c->dir, .no_timer = true};
    g_autofree char *err = NULL;
    if (manager_new(&o, fake_backend_base(c->fb), &c->m, &err) < 0)
        fail_msg("manager_new: %s", err);
    manager_start(c->m);
    return c;
}

static void ctx_free(Ctx *c)
{
    manager_free(c->m);
    g_autofree char *mi = g_build_filename(c->dir, "meminfo", NULL);
    g_unlink(mi);
    g_rmdir(c->dir);
    g_free(c->dir);
    g_free(c);
}

static void cycle(Ctx *c)
{
    int r = manager_run_cycle(c->m);
    if (r < 0)
        fail_msg("cycle failed: %s", g_strerror(-r));
}

/* Two domains of one name: the name reaches the lower UUID, whichever was
 * found first; each UUID reaches its own. */
static void test_shared_name_lowest_uuid(void **state)
{
    Ctx *c = ctx_new();
    FakeDomain *a = fake_backend_add(c->fb, "other", 1 * GiB, 256 * MiB); /* ...001 */
    FakeDomain *b = fake_backend_add(c->fb, "dup", 1 * GiB, 256 * MiB);   /* ...002 */
    cycle(c);
    assert_string_equal(manager_find_domain(c->m, "dup")->uuid, b->uuid);
    g_strlcpy(a->name, "dup", sizeof(a->name));
    cycle(c);
    assert_string_equal(manager_find_domain(c->m, "dup")->uuid, a->uuid);
    assert_null(manager_find_domain(c->m, "other"));
    assert_string_equal(manager_find_domain(c->m, b->uuid)->uuid, b->uuid);
    ctx_free(c);
}

/* A rename is seen at the next collection: the new name answers, the old
 * one no longer does, and the label follows. */
static void test_rename_and_removal(void **state)
{
    Ctx *c = ctx_new();
    FakeDomain *a = fake_backend_add(c->fb, "web", 1 * GiB, 256 * MiB);
    fake_backend_add(c->fb, "db", 1 * GiB, 256 * MiB);
    cycle(c);
    ManagerDomain *d = manager_find_domain(c->m, "web");
    assert_non_null(d);
    g_strlcpy(a->name, "web\nnew", sizeof(a->name));
    cycle(c);
    assert_null(manager_find_domain(c->m, "web"));
    assert_ptr_equal(manager_find_domain(c->m, "web\nnew"), d);
    assert_string_equal(d->label, "web\\nnew");

    fake_backend_destroy(c->fb, a);
    assert_null(manager_find_domain(c->m, "web\nnew"));
    assert_null(manager_find_domain(c->m, a->uuid));
    assert_non_null(manager_find_domain(c->m, "db"));
    ctx_free(c);
}

/* A UUID in any case is a UUID; the lookup never takes it as a name. */
static void test_uuid_any_case(void **state)
{
    Ctx *c = ctx_new();
    FakeDomain *a = fake_backend_add(c->fb, "web", 1 * GiB, 256 * MiB);
    g_strlcpy(a->uuid, "0000000a-0000-4000-8000-00000000abcd", sizeof(a->uuid));
    cycle(c);
    ManagerDomain *d = manager_find_domain(c->m, "0000000A-0000-4000-8000-00000000ABCD");
    assert_non_null(d);
    assert_string_equal(d->name, "web");
    assert_null(manager_find_domain(c->m, "0000000A-0000-4000-8000-00000000ABCE"));
    assert_null(manager_find_domain(c->m, NULL));
    assert_null(manager_find_domain_by_uuid(c->m, NULL));
    ctx_free(c);
}

/* The engine's view of a domain points into the domain; no sample this
 * cycle is no sample for the engine. */
static void test_domain_input(void **state)
{
    Ctx *c = ctx_new();
    FakeDomain *a = fake_backend_add(c->fb, "web", 1 * GiB, 256 * MiB);
    cycle(c);
    ManagerDomain *d = manager_find_domain(c->m, a->uuid);
    PolicyDomainInput in;
    manager_domain_input(d, &in);
    assert_ptr_equal(in.name, d->name);
    assert_ptr_equal(in.uuid, d->uuid);
    assert_ptr_equal(in.policy, &d->policy);
    assert_ptr_equal(in.caps, &d->caps);
    assert_ptr_equal(in.sample, &d->sample);
    assert_ptr_equal(in.state, &d->state);
    d->has_sample = false;
    manager_domain_input(d, &in);
    assert_null(in.sample);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_name_lowest_uuid),
        cmocka_unit_test(test_rename_and_removal),
        cmocka_unit_test(test_uuid_any_case),
        cmocka_unit_test(test_domain_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
