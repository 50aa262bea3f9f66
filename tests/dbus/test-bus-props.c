/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The property description shared by dynmemd and dynmemctl
 * (src/bus-common/bus-props.h): what the daemon appends, the client reads
 * back unchanged; what it does not know, it skips; PropertiesChanged names
 * only EMITS rows that changed; and every property of dynmemd's vtables is
 * a row of the list, in order, with its signature and change flag.
 */
#include "bus.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* sd-bus creates messages only for a bus that has been started; one end of
 * a socketpair that nobody reads is enough. */
static sd_bus *message_bus(void)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    sd_bus *bus = NULL;
    assert_true(sd_bus_new(&bus) >= 0);
    assert_true(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
    assert_true(sd_bus_start(bus) >= 0);
    close(fds[1]);
    return bus;
}

typedef struct {
    const char *name;
    const char *signature;
    const char *value; /* a string value of that signature, or NULL for "t" 7 */
} Extra;

/* An a{sv} as GetAll sends it: every row of the table from `snapshot`,
 * then the extras (what another daemon version might send). Sealed and
 * rewound, ready to read. */
static sd_bus_message *getall_reply(sd_bus *bus, const BusPropTable *t, const void *snapshot,
                                    const Extra *extras, size_t n_extras)
{
    sd_bus_message *m = NULL;
    assert_true(sd_bus_message_new_signal(bus, &m, "/t", "t.T", "GetAll") >= 0);
    assert_true(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
    for (size_t i = 0; i < t->n; i++) {
        const BusProp *p = &t->props[i];
        assert_true(sd_bus_message_open_container(m, 'e', "sv") >= 0);
        assert_true(sd_bus_message_append(m, "s", p->name) >= 0);
        assert_true(sd_bus_message_open_container(m, 'v', bus_prop_signature(p->type)) >= 0);
        assert_true(bus_prop_append(m, p, snapshot) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
        assert_true(sd_bus_message_close_container(m) >= 0);
    }
    for (size_t i = 0; i < n_extras; i++) {
        if (extras[i].value)
            assert_true(sd_bus_message_append(m, "{sv}", extras[i].name, extras[i].signature,
                                              extras[i].value) >= 0);
        else
            assert_true(sd_bus_message_append(m, "{sv}", extras[i].name, extras[i].signature,
                                              (uint64_t)7) >= 0);
    }
    assert_true(sd_bus_message_close_container(m) >= 0);
    assert_true(sd_bus_message_seal(m, 1, 0) >= 0);
    assert_true(sd_bus_message_rewind(m, true) >= 0);
    return m;
}

static const char *const two_mechanisms[] = {"balloon", "dimm", NULL};
static const char *const two_sources[] = {"weight=metadata", "buffer=rule", NULL};

static BusDomainProps example_domain(void)
{
    return (BusDomainProps){
        .name = "web\"01\n",
        .uuid = "0d5b2f6e-1111-4a4a-9b9b-000000000001",
        .mode = "dynamic",
        .status = "ok",
        .reason = "trim idle",
        .assigned = UINT64_C(1) << 40,
        .demand = 2,
        .target = 3,
        .pressure = 50,
        .minimum = 4,
        .startup = 5,
        .maximum = UINT64_MAX,
        .buffer = 20,
        .weight = 10000,
        .mechanisms = two_mechanisms,
        .overridden = true,
        .protection = "headroom",
        .absorbable = 6,
        .headroom = 7,
        .policy_sources = two_sources,
        .policy_problem = "weight: 80000 is out of range",
    };
}

static void assert_same_domain(const BusDomainProps *a, const BusDomainProps *b)
{
    /* every row compared, whatever its CHANGE */
    for (size_t i = 0; i < bus_domain_props.n; i++) {
        BusProp row = bus_domain_props.props[i];
        row.change = BUS_CHANGE_EMITS;
        const BusPropTable one = {&row, 1};
        char **diff = bus_props_changed(&one, a, b);
        if (diff)
            fail_msg("%s differs", row.name);
    }
}

static void test_round_trip(void **state)
{
    sd_bus *bus = message_bus();
    BusDomainProps sent = example_domain();
    sd_bus_message *m = getall_reply(bus, &bus_domain_props, &sent, NULL, 0);
    BusDomainProps got = {0};
    assert_int_equal(bus_props_read(m, &bus_domain_props, &got), 0);
    assert_same_domain(&sent, &got);
    assert_string_equal(got.name, "web\"01\n");
    assert_true(got.maximum == UINT64_MAX);
    assert_string_equal(got.mechanisms[1], "dimm");
    assert_null(got.mechanisms[2]);
    bus_props_clear(&bus_domain_props, &got);
    assert_null(got.name);
    assert_null(got.mechanisms);
    sd_bus_message_unref(m);
    sd_bus_flush_close_unref(bus);
}

/* A property the client does not know, or one of another type, is
 * skipped; the rest is still read. */
static void test_unknown_and_mistyped_skipped(void **state)
{
    sd_bus *bus = message_bus();
    BusManagerProps sent = {.version = "9.9", .state = "ok", .budget = 42, .unprotected = 3};
    const Extra extras[] = {
        {"FutureProperty", "s", "x"},
        {"Budget", "t", NULL},  /* a second Budget, well typed: it wins */
        {"Paused", "s", "yes"}, /* wrong type: skipped, stays false */
    };
    sd_bus_message *m = getall_reply(bus, &bus_manager_props, &sent, extras, G_N_ELEMENTS(extras));
    BusManagerProps got = {.paused = false};
    assert_int_equal(bus_props_read(m, &bus_manager_props, &got), 0);
    assert_string_equal(got.version, "9.9");
    assert_string_equal(got.state, "ok");
    assert_true(got.budget == 7);
    assert_int_equal(got.unprotected, 3);
    assert_false(got.paused);
    bus_props_clear(&bus_manager_props, &got);
    sd_bus_message_unref(m);
    sd_bus_flush_close_unref(bus);
}

static void test_changed_names_emits_only(void **state)
{
    BusDomainProps a = example_domain();
    BusDomainProps b = a;
    assert_null(bus_props_changed(&bus_domain_props, &a, &b));
    /* CONST and QUIET rows never appear */
    b.name = "renamed";
    b.reason = "another reason";
    assert_null(bus_props_changed(&bus_domain_props, &a, &b));
    static const char *const one_mechanism[] = {"balloon", NULL};
    b.mechanisms = one_mechanism;
    b.assigned++;
    b.overridden = false;
    char **names = bus_props_changed(&bus_domain_props, &a, &b);
    assert_non_null(names);
    /* in the list's order */
    assert_string_equal(names[0], "Assigned");
    assert_string_equal(names[1], "Mechanisms");
    assert_string_equal(names[2], "Overridden");
    assert_null(names[3]);
    g_strfreev(names);
    /* a NULL list is an empty one */
    static const char *const none[] = {NULL};
    b = a;
    a.mechanisms = NULL;
    b.mechanisms = none;
    assert_null(bus_props_changed(&bus_domain_props, &a, &b));
}

/* The daemon's vtables hold the rows' properties, in order, each with
 * its signature and change flag: the check that replaces a comment. */
static void assert_vtable_matches(const sd_bus_vtable *vtable, const BusPropTable *t)
{
    size_t n = 0;
    for (const sd_bus_vtable *v = vtable; v->type != _SD_BUS_VTABLE_END; v++) {
        if (v->type != _SD_BUS_VTABLE_PROPERTY)
            continue;
        assert_true(n < t->n);
        const BusProp *p = &t->props[n++];
        assert_string_equal(v->x.property.member, p->name);
        assert_string_equal(v->x.property.signature, bus_prop_signature(p->type));
        uint64_t flags =
            v->flags & (SD_BUS_VTABLE_PROPERTY_CONST | SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE |
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION);
        uint64_t want = p->change == BUS_CHANGE_CONST   ? SD_BUS_VTABLE_PROPERTY_CONST
                        : p->change == BUS_CHANGE_EMITS ? SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
                                                        : 0;
        if (flags != want)
            fail_msg("%s: vtable flags %#" PRIx64 ", the list says %#" PRIx64, p->name, flags,
                     want);
    }
    assert_int_equal(n, t->n);
}

static void test_vtables_match_lists(void **state)
{
    assert_vtable_matches(bus_manager_vtable, &bus_manager_props);
    assert_vtable_matches(bus_domain_vtable, &bus_domain_props);
    assert_null(bus_prop_find(&bus_manager_props, "NoSuchProperty"));
    assert_ptr_equal(bus_prop_find(&bus_domain_props, "PolicyProblem"),
                     &bus_domain_props.props[bus_domain_props.n - 1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_unknown_and_mistyped_skipped),
        cmocka_unit_test(test_changed_names_emits_only),
        cmocka_unit_test(test_vtables_match_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
