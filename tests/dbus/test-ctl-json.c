/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemctl's JSON (src/ctl/ctl-json.c): json-glib's document laid out as
 * dynmemctl has always printed it, strings escaped exactly as
 * policy_escape() escapes them (what dynmemctl wrote before json-glib),
 * hostile text included, and keys and values from the property lists.
 */
#include "ctl-json.h"
#include "text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* {"k": s} as dynmemctl prints it. */
static char *one_string(const char *s)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "k");
    ctl_json_add_string(b, s);
    json_builder_end_object(b);
    return ctl_json_text(b);
}

static void test_strings_escaped_as_before(void **state)
{
    static const char *const hostile[] = {
        "plain",
        "",
        "quote\" backslash\\ slash/",
        "evil\rtab\trlo\xe2\x80\xaenel\xc2\x85"
        "csi\xc2\x9b"
        "2J\"q\\b",
        "esc\x1b[2J del\x7f bell\x07 bs\b ff\f nl\n",
        "line sep\xe2\x80\xa8 para\xe2\x80\xa9 zwsp\xe2\x80\x8b bom\xef\xbb\xbf",
        "tag\xf3\xa0\x80\x81 (U+E0001, a format character beyond the BMP)",
        "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 (kept as they are)",
    };
    for (size_t i = 0; i < G_N_ELEMENTS(hostile); i++) {
        g_autofree char *got = one_string(hostile[i]);
        g_autofree char *escaped = policy_escape(hostile[i], 0);
        g_autofree char *want = g_strdup_printf("{\"k\": \"%s\"}\n", escaped);
        assert_string_equal(got, want);
    }
    /* invalid UTF-8 is replaced, never passed on */
    g_autofree char *got = one_string("bad\xff\xfe end");
    assert_true(g_utf8_validate(got, -1, NULL));
    assert_non_null(strstr(got, "bad\xef\xbf\xbd"));
}

/* The layout alone, on the shapes dynmemctl prints. */
static void test_layout(void **state)
{
    static const struct {
        const char *compact;
        const char *want;
    } cases[] = {
        {"{}", "{}"},
        {"{\"a\":1,\"b\":true,\"c\":[\"x\",\"y\"],\"d\":[]}",
         "{\"a\": 1, \"b\": true, \"c\": [\"x\", \"y\"], \"d\": []}"},
        {"{\"v\":\"0\",\"domains\":[]}", "{\"v\": \"0\", \"domains\": []}"},
        {"{\"v\":\"0\",\"domains\":[{\"n\":\"a\",\"m\":[\"b\"]},{\"n\":\"b\",\"m\":[]}]}",
         "{\"v\": \"0\", \"domains\": [\n  {\"n\": \"a\", \"m\": [\"b\"]},\n  {\"n\": \"b\", "
         "\"m\": "
         "[]}\n]}"},
        /* structure inside strings is text */
        {"{\"k\":\"a,b:{c}[d]\\\"e\"}", "{\"k\": \"a,b:{c}[d]\\\"e\"}"},
        /* json-glib's lower-case escapes in policy_escape()'s upper case */
        {"{\"k\":\"\\u001b\\u007f\\n\"}", "{\"k\": \"\\u001B\\u007F\\n\"}"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = ctl_json_layout(cases[i].compact);
        assert_string_equal(got, cases[i].want);
    }
}

static void test_props_keys_order_values(void **state)
{
    static const char *const mechanisms[] = {"balloon", "virtio-mem", NULL};
    BusDomainProps d = {
        .name = "web01",
        .uuid = "u",
        .mode = "dynamic",
        .status = "ok",
        .reason = NULL, /* not set: "" */
        .assigned = UINT64_C(34359738368),
        .maximum = UINT64_C(9223372036854775807),
        .pressure = 4294967295u,
        .weight = 5000,
        .mechanisms = mechanisms,
        .overridden = true,
        .protection = "none",
    };
    static const char *const lead[] = {"Status", "Name", NULL};
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    ctl_json_add_props(b, &bus_domain_props, lead, &d);
    json_builder_end_object(b);
    g_autofree char *got = ctl_json_text(b);
    assert_string_equal(
        got, "{\"status\": \"ok\", \"name\": \"web01\", \"uuid\": \"u\", \"mode\": \"dynamic\", "
             "\"reason\": \"\", \"assigned\": 34359738368, \"demand\": 0, \"target\": 0, "
             "\"pressure\": 4294967295, \"minimum\": 0, \"startup\": 0, "
             "\"maximum\": 9223372036854775807, \"buffer\": 0, \"weight\": 5000, "
             "\"mechanisms\": [\"balloon\", \"virtio-mem\"], \"overridden\": true, "
             "\"protection\": \"none\", \"absorbable\": 0, \"headroom\": 0, "
             "\"policy_sources\": [], \"policy_problem\": \"\"}\n");

    /* Manager keys: DryRun -> dry_run, HostTotal -> host_total ... */
    BusManagerProps m = {.version = "0.1.0", .dry_run = true, .host_total = 1};
    g_autoptr(JsonBuilder) mb = json_builder_new();
    json_builder_begin_object(mb);
    ctl_json_add_props(mb, &bus_manager_props, NULL, &m);
    json_builder_end_object(mb);
    g_autofree char *mgot = ctl_json_text(mb);
    assert_non_null(strstr(mgot, "\"dry_run\": true, \"interval\": 0, \"host_total\": 1, "
                                 "\"host_available\": 0,"));
    assert_non_null(strstr(mgot, "\"deflate_reserve\": 0, \"unprotected\": 0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_escaped_as_before),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_props_keys_order_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
