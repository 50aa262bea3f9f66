/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The one escaping helper for outside text in messages, logs and tables. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glib.h>
#include <string.h>

#include "text.h"

static void test_escape_table(void **state)
{
    static const struct {
        const char *in;
        size_t max;
        const char *out;
    } cases[] = {
        {"web01", 0, "web01"},
        {"", 0, ""},
        {"caf\xc3\xa9 \xe6\x9d\xb1", 0, "caf\xc3\xa9 \xe6\x9d\xb1"}, /* readable UTF-8 */
        {"a\"b\\c", 0, "a\\\"b\\\\c"},
        {"cr\rlf\ntab\tbs\bff\f", 0, "cr\\rlf\\ntab\\tbs\\bff\\f"},
        {"esc\x1b[31m", 0, "esc\\u001B[31m"},
        {"del\x7f", 0, "del\\u007F"},
        {"nel\xc2\x85", 0, "nel\\u0085"},                     /* C1 NEL ends a line for some */
        {"csi\xc2\x9b", 0, "csi\\u009B"},                     /* C1 CSI starts a terminal command */
        {"evil\xe2\x80\xaegnp.exe", 0, "evil\\u202Egnp.exe"}, /* right-to-left override */
        {"ls\xe2\x80\xa8ps\xe2\x80\xa9", 0, "ls\\u2028ps\\u2029"},
        {"zw\xe2\x80\x8bj", 0, "zw\\u200Bj"},
        {"tag\xf3\xa0\x80\x81", 0, "tag\\uDB40\\uDC01"}, /* U+E0001, a format character */
        {"\xff\xfe", 0, "\\377\\376"},                   /* not UTF-8: byte by byte */
        {"a\xff\n", 0, "a\\377\\n"},
        {"abcdef", 3, "abc..."},
        {"abc", 3, "abc"},
        {"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 2, "\xc3\xa9\xc3\xa9..."}, /* characters, not bytes */
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *out = policy_escape(cases[i].in, cases[i].max);

        if (strcmp(out, cases[i].out) != 0)
            fail_msg("case %zu: \"%s\", expected \"%s\"", i, out, cases[i].out);
    }
    g_autofree char *null = policy_escape(NULL, 0);
    assert_string_equal(null, "");
}

/* Whatever goes in, what comes out is one printable line, and for UTF-8
 * input valid JSON string contents. */
static void test_escape_every_byte(void **state)
{
    (void)state;
    for (unsigned c = 1; c < 0x110000; c++) {
        char buf[8];
        if (c >= 0xd800 && c < 0xe000)
            continue;
        buf[g_unichar_to_utf8(c, buf)] = '\0';
        g_autofree char *out = policy_escape(buf, 0);
        for (const char *p = out; *p; p = g_utf8_next_char(p)) {
            gunichar u = g_utf8_get_char(p);
            GUnicodeType t = g_unichar_type(u);
            if (t == G_UNICODE_CONTROL || t == G_UNICODE_FORMAT || t == G_UNICODE_LINE_SEPARATOR ||
                t == G_UNICODE_PARAGRAPH_SEPARATOR)
                fail_msg("U+%04X: escaped text still holds U+%04X", c, u);
        }
        if (strcmp(out, buf) != 0)
            assert_int_equal(out[0], '\\');
    }
}

static void test_quote_is_bounded(void **state)
{
    g_autofree char *big = g_malloc(32 << 20);
    (void)state;
    memset(big, 'x', (32 << 20) - 1);
    big[(32 << 20) - 1] = '\0';
    g_autofree char *q = policy_quote(big);
    assert_int_equal(strlen(q), POLICY_QUOTE_MAX_CHARS + 3);
}

/* The YAML spelling of the same escaping: what differs from JSON. The
 * overrides tests read it back through libyaml. */
static void test_yaml_quote(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"web01", "\"web01\""},
        {"", "\"\""},
        {"a\"b\\c\nd: e", "\"a\\\"b\\\\c\\nd: e\""},
        {"\xc2\x85\xe2\x80\xa8", "\"\\u0085\\u2028\""}, /* NEL, U+2028 */
        {"\xf3\xa0\x80\x81", "\"\\U000E0001\""},        /* a tag, beyond U+FFFF */
        {"\xef\xbf\xbe", "\"\\uFFFE\""},                /* libyaml refuses it raw */
        {"x\xff", "\"x\xef\xbf\xbd\""},                 /* invalid: U+FFFD */
        {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""},   /* printable: kept */
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *q = policy_yaml_quote(cases[i].in);

        assert_string_equal(q, cases[i].out);
    }
    g_autofree char *null = policy_yaml_quote(NULL);
    assert_string_equal(null, "\"\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_quote_is_bounded),
        cmocka_unit_test(test_yaml_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
