/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sizes, percentages and durations: the valid forms and hostile text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <glib.h>
#include <string.h>

#include "units.h"
#include "test-sizes.h"

#define US UINT64_C(1)
#define MS (US * 1000)

typedef struct {
    const char *text;
    int ret;
    uint64_t value;      /* when ret == 0 */
    const char *message; /* when ret < 0 */
} Case;

static const Case size_cases[] = {
    {"0", 0, 0, NULL},
    {"512MiB", 0, 512 * MiB, NULL},
    {"2GiB", 0, 2 * GiB, NULL},
    {"2G", 0, 2 * GiB, NULL},
    {"4096KiB", 0, 4096, NULL},
    {"4096K", 0, 4096, NULL},
    {"1M", 0, MiB, NULL},
    {"1TiB", 0, TiB, NULL},
    {"3T", 0, 3 * TiB, NULL},
    {"0MiB", 0, 0, NULL},
    {"1.5GiB", 0, GiB + GiB / 2, NULL},
    {"0.5KiB", 0, 0, NULL}, /* rounded down to whole KiB */
    {"1.0009765625MiB", 0, 1025, NULL},
    {"1.0009765624MiB", 0, 1024, NULL}, /* just below: rounded down */
    {"0.1G", 0, 104857, NULL},          /* 104857.6 KiB */
    {"2048B", 0, 2, NULL},
    {"0B", 0, 0, NULL},
    {"007MiB", 0, 7 * MiB, NULL},
    /* a fraction with many digits is folded in exactly */
    {"1.99999999999999999999999999999999999999999999GiB", 0, 2 * GiB - 1, NULL},
    /* the largest size there is, and one KiB beyond it */
    {"18446744073709551615KiB", 0, UINT64_MAX, NULL},
    {"18446744073709551616KiB", -ERANGE, 0, "size \"18446744073709551616KiB\" is too large"},
    {"17179869184TiB", -ERANGE, 0, "size \"17179869184TiB\" is too large"},
    {"17179869183.99999TiB", 0, UINT64_C(18446744073709540878), NULL},
    {"99999999999999999999999999999999999999GiB", -ERANGE, 0,
     "size \"99999999999999999999999999999999999999GiB\" is too large"},
    {"18446744073709551616B", -ERANGE, 0, "size \"18446744073709551616B\" is too large"},
    {"-1GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"-1GiB\""},
    {"+1GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"+1GiB\""},
    {"1e30", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1e30\""},
    {"1e3GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1e3GiB\""},
    {"", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"\""},
    {"GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"GiB\""},
    {"1 GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1 GiB\""},
    {" 1GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \" 1GiB\""},
    {"1GiB ", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1GiB \""},
    {"1GiB\n", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1GiB\\n\""},
    {"1\tGiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1\\tGiB\""},
    {"1GiBx", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1GiBx\""},
    {"1GiB2", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1GiB2\""},
    {".5GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \".5GiB\""},
    {"5.GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"5.GiB\""},
    {"1.2.3GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1.2.3GiB\""},
    {"0x10MiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"0x10MiB\""},
    {"1PiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1PiB\""},
    {"20%", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"20%\""},
    {"1\xc2\xb5GiB", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"1\xc2\xb5GiB\""},
    {"\xff", -EINVAL, 0, "expected a size such as 512MiB or 2GiB, found \"\\377\""},
    {"\xef\xbc\x91GiB", -EINVAL, 0, /* a full-width digit one */
     "expected a size such as 512MiB or 2GiB, found \"\xef\xbc\x91GiB\""},
    /* junk is cut short in the message */
    {"1GiB-and-then-a-very-long-tail-of-text-that-nobody-would-write-in-a-policy", -EINVAL, 0,
     "expected a size such as 512MiB or 2GiB, found "
     "\"1GiB-and-then-a-very-long-tail-of-text-that-nobody-would-write-i...\""},
    {"512", -EINVAL, 0, "size \"512\" has no unit; write e.g. \"512MiB\""},
    {"1.5", -EINVAL, 0, "size \"1.5\" has no unit; write e.g. \"1.5MiB\""},
    {"00", -EINVAL, 0, "size \"00\" has no unit; write e.g. \"00MiB\""},
    {"1000B", -EINVAL, 0, "size \"1000B\" is not a whole number of KiB"},
    {"1.5B", -EINVAL, 0, "size \"1.5B\" is not a whole number of KiB"},
    {"2GB", -EINVAL, 0,
     "size \"2GB\": \"GB\" is a decimal unit in libvirt and is not accepted here; did you mean "
     "\"GiB\"?"},
    {"512MB", -EINVAL, 0,
     "size \"512MB\": \"MB\" is a decimal unit in libvirt and is not accepted here; did you "
     "mean \"MiB\"?"},
    {"4KB", -EINVAL, 0,
     "size \"4KB\": \"KB\" is a decimal unit in libvirt and is not accepted here; did you mean "
     "\"KiB\"?"},
    {"1TB", -EINVAL, 0,
     "size \"1TB\": \"TB\" is a decimal unit in libvirt and is not accepted here; did you mean "
     "\"TiB\"?"},
    {"2gib", -EINVAL, 0, "size \"2gib\": unknown unit \"gib\"; did you mean \"GiB\"?"},
    {"2g", -EINVAL, 0, "size \"2g\": unknown unit \"g\"; did you mean \"G\"?"},
    {"2MIB", -EINVAL, 0, "size \"2MIB\": unknown unit \"MIB\"; did you mean \"MiB\"?"},
};

static const Case duration_cases[] = {
    {"0", 0, 0, NULL},
    {"500ms", 0, 500 * MS, NULL},
    {"1s", 0, SEC, NULL},
    {"0.5s", 0, SEC / 2, NULL},
    {"1.5s", 0, SEC + SEC / 2, NULL},
    {"2min", 0, 120 * SEC, NULL},
    {"1h", 0, 3600 * SEC, NULL},
    {"250us", 0, 250, NULL},
    {"0.5us", 0, 0, NULL}, /* rounded down to whole µs */
    {"0.0000001h", 0, 360, NULL},
    {"5124095576h", 0, UINT64_C(5124095576) * 3600 * SEC, NULL},
    {"0.33333333333333333333333333h", 0, 1199999999, NULL},
    {"18446744073709551615us", 0, UINT64_MAX, NULL},
    {"18446744073709551616us", -ERANGE, 0, "duration \"18446744073709551616us\" is too large"},
    {"5124095577h", -ERANGE, 0, "duration \"5124095577h\" is too large"},
    {"1e30", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"1e30\""},
    {"-1s", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"-1s\""},
    {"1 s", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"1 s\""},
    {"", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"\""},
    {"1sec", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"1sec\""},
    {"1m", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"1m\""},
    {"1d", -EINVAL, 0, "expected a duration such as 500ms, 1s or 2min, found \"1d\""},
    {"1\xc2\xb5s", -EINVAL, 0,
     "expected a duration such as 500ms, 1s or 2min, found \"1\xc2\xb5s\""},
    {"10", -EINVAL, 0, "duration \"10\" has no unit; write e.g. \"10s\""},
};

/* A hostile value is echoed at most once and cut short, whatever the
 * error (issue 9: a multi-MiB value echoed in full made a D-Bus reply too
 * big for the bus). */
static void test_long_input_bounded(void **state)
{
    enum { LEN = 1 << 20 };
    g_autofree char *digits = g_malloc(LEN + 8);
    uint64_t u64;
    uint32_t u32;
    PolicyAmount a;

    memset(digits, '1', LEN);
    digits[LEN] = '\0';
    struct {
        const char *suffix;
        int which; /* 0 size, 1 duration, 2 percent, 3 amount */
    } cases[] = {
        {"", 0},    /* no unit */
        {"MiB", 0}, /* too large */
        {"B", 0},   /* too large in bytes */
        {".5B", 0}, /* not whole KiB */
        {"xyz", 0}, /* unknown unit */
        {"", 1},    /* no unit */
        {"s", 1},   /* too large */
        {"%", 2},   /* out of range */
        {".5%", 2}, /* not whole */
        {"Q", 3},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *text = g_strconcat(digits, cases[i].suffix, NULL);
        g_autofree char *err = NULL;
        int r = cases[i].which == 0   ? policy_parse_size_kib(text, &u64, &err)
                : cases[i].which == 1 ? policy_parse_duration_us(text, &u64, &err)
                : cases[i].which == 2 ? policy_parse_percent(text, 100, &u32, &err)
                                      : policy_parse_amount(text, 100, &a, &err);
        assert_true(r < 0);
        assert_non_null(err);
        if (strlen(err) > 300)
            fail_msg("case %zu (%s): a %zu-byte message", i, cases[i].suffix, strlen(err));
        assert_non_null(strstr(err, "..."));
    }
}

/* Checks a parser's answer against its table row: the return value; on
 * success no message and the value expected; on failure the output still
 * `poison` (untouched) and exactly the message expected. */
static void check_answer(const char *text, int r, const char *error, uint64_t got, uint64_t poison,
                         int want_ret, uint64_t want, const char *want_message)
{
    if (r != want_ret)
        fail_msg("\"%s\": returned %d, expected %d (%s)", text, r, want_ret,
                 error ? error : "no message");
    if (r == 0) {
        assert_null(error);
        if (got != want)
            fail_msg("\"%s\": %" PRIu64 ", expected %" PRIu64, text, got, want);
    } else {
        if (got != poison)
            fail_msg("\"%s\": output changed on failure (%" PRIu64 ")", text, got);
        assert_non_null(error);
        assert_string_equal(error, want_message);
    }
}

/* Runs a table of cases through a parser with a 64-bit output. */
static void check_table(const Case *cases, size_t n,
                        int (*parse)(const char *text, uint64_t *ret, char **ret_error))
{
    for (size_t i = 0; i < n; i++) {
        const Case *c = &cases[i];
        uint64_t value = UINT64_C(0xdeadbeef);
        g_autofree char *error = NULL;
        int r = parse(c->text, &value, &error);

        check_answer(c->text, r, error, value, UINT64_C(0xdeadbeef), c->ret, c->value, c->message);
    }
}

static void test_size_table(void **state)
{
    (void)state;
    check_table(size_cases, G_N_ELEMENTS(size_cases), policy_parse_size_kib);
}

static void test_duration_table(void **state)
{
    (void)state;
    check_table(duration_cases, G_N_ELEMENTS(duration_cases), policy_parse_duration_us);
}

static void test_percent(void **state)
{
    static const struct {
        const char *text;
        uint32_t max;
        int ret;
        uint32_t value;
        const char *message;
    } cases[] = {
        {"0%", 100, 0, 0, NULL},
        {"20%", 100, 0, 20, NULL},
        {"100%", 100, 0, 100, NULL},
        {"2000%", 2000, 0, 2000, NULL},
        {"101%", 100, -ERANGE, 0, "percentage \"101%\" is out of range 0..100%"},
        {"2001%", 2000, -ERANGE, 0, "percentage \"2001%\" is out of range 0..2000%"},
        {"99999999999999999999999%", 100, -ERANGE, 0,
         "percentage \"99999999999999999999999%\" is out of range 0..100%"},
        {"12.5%", 100, -EINVAL, 0, "percentage \"12.5%\" is not a whole number"},
        {"20 %", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"20 %\""},
        {"-5%", 2000, -EINVAL, 0, "expected a percentage such as 20%, found \"-5%\""},
        {"20", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"20\""},
        {"%", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"%\""},
        {"20%%", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"20%%\""},
        {"", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"\""},
        {"1e2%", 100, -EINVAL, 0, "expected a percentage such as 20%, found \"1e2%\""},
        {"20\xef\xbc\x85", 100, -EINVAL, 0, /* a full-width per cent sign */
         "expected a percentage such as 20%, found \"20\xef\xbc\x85\""},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint32_t pct = 4242;
        g_autofree char *error = NULL;
        int r = policy_parse_percent(cases[i].text, cases[i].max, &pct, &error);

        check_answer(cases[i].text, r, error, pct, 4242, cases[i].ret, cases[i].value,
                     cases[i].message);
    }
}

static void test_amount(void **state)
{
    static const struct {
        const char *text;
        int ret;
        PolicyAmountKind kind;
        uint64_t value;
        const char *message;
    } cases[] = {
        {"50%", 0, POLICY_AMOUNT_PERCENT, 50, NULL},
        {"0%", 0, POLICY_AMOUNT_PERCENT, 0, NULL},
        {"2GiB", 0, POLICY_AMOUNT_KIB, 2 * GiB, NULL},
        {"0", 0, POLICY_AMOUNT_KIB, 0, NULL},
        {"91%", -ERANGE, 0, 0, "percentage \"91%\" is out of range 0..90%"},
        {"20 %", -EINVAL, 0, 0, "expected a percentage such as 20%, found \"20 %\""},
        {"-1GiB", -EINVAL, 0, 0,
         "expected a size such as 512MiB or a percentage such as 50%, found \"-1GiB\""},
        {"half", -EINVAL, 0, 0,
         "expected a size such as 512MiB or a percentage such as 50%, found \"half\""},
        {"", -EINVAL, 0, 0,
         "expected a size such as 512MiB or a percentage such as 50%, found \"\""},
        {"18446744073709551616KiB", -ERANGE, 0, 0, "size \"18446744073709551616KiB\" is too large"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicyAmount a = {POLICY_AMOUNT_LAST, 77};
        g_autofree char *error = NULL;
        int r = policy_parse_amount(cases[i].text, 90, &a, &error);

        check_answer(cases[i].text, r, error, a.value, 77, cases[i].ret, cases[i].value,
                     cases[i].message);
        assert_int_equal(a.kind, r == 0 ? cases[i].kind : POLICY_AMOUNT_LAST);
    }
}

/* A NULL ret_error is allowed: callers that only want a yes/no. */
static void test_null_error_pointer(void **state)
{
    uint64_t v = 1;
    uint32_t p = 1;
    PolicyAmount a = {0};

    (void)state;
    assert_int_equal(policy_parse_size_kib("-1GiB", &v, NULL), -EINVAL);
    assert_int_equal(policy_parse_duration_us("1e30", &v, NULL), -EINVAL);
    assert_int_equal(policy_parse_percent("101%", 100, &p, NULL), -ERANGE);
    assert_int_equal(policy_parse_amount("x", 100, &a, NULL), -EINVAL);
    assert_int_equal(v, 1);
    assert_int_equal(p, 1);
}

static void test_resolve(void **state)
{
    static const struct {
        PolicyAmount amount;
        uint64_t reference, fallback, expected;
    } cases[] = {
        {{POLICY_AMOUNT_KIB, 512 * MiB}, 8 * GiB, 1, 512 * MiB},
        {{POLICY_AMOUNT_PERCENT, 50}, 8 * GiB, 1, 4 * GiB},
        {{POLICY_AMOUNT_PERCENT, 100}, 8 * GiB, 1, 8 * GiB},
        {{POLICY_AMOUNT_PERCENT, 33}, 100, 1, 33},
        {{POLICY_AMOUNT_PERCENT, 33}, 101, 1, 33}, /* 33.33: rounded down */
        {{POLICY_AMOUNT_PERCENT, 0}, 8 * GiB, 1, 0},
        {{POLICY_AMOUNT_UNSET, 0}, 8 * GiB, 1234, 1234},
        /* no overflow in reference * percent; saturates above 100% */
        {{POLICY_AMOUNT_PERCENT, 100}, UINT64_MAX, 1, UINT64_MAX},
        {{POLICY_AMOUNT_PERCENT, 50}, UINT64_MAX, 1, UINT64_MAX / 2},
        {{POLICY_AMOUNT_PERCENT, 2000}, UINT64_MAX, 1, UINT64_MAX},
        {{POLICY_AMOUNT_PERCENT, UINT64_MAX}, UINT64_MAX, 1, UINT64_MAX},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
        assert_int_equal(
            policy_amount_resolve_kib(&cases[i].amount, cases[i].reference, cases[i].fallback),
            cases[i].expected);
    assert_int_equal(policy_amount_resolve_kib(NULL, 1, 99), 99);
}

static void test_format(void **state)
{
    static const struct {
        uint64_t kib;
        const char *text;
    } sizes[] = {
        {0, "0 KiB"},           {1, "1 KiB"},
        {1023, "1023 KiB"},     {MiB, "1 MiB"},
        {512 * MiB, "512 MiB"}, {GiB + GiB / 2, "1.5 GiB"},
        {2 * GiB, "2 GiB"},     {GiB - 1, "1023.9 MiB"}, /* rounded down, never up to "1024.0" */
        {3 * TiB, "3 TiB"},     {UINT64_MAX, "16383.9 EiB"},
    };
    static const struct {
        uint64_t us;
        const char *text;
    } durations[] = {
        {0, "0s"},
        {1, "1us"},
        {500 * MS, "500ms"},
        {SEC, "1s"},
        {SEC + SEC / 2, "1.5s"},
        {60 * SEC, "1min"},
        {90 * SEC, "1.5min"},
        {61 * SEC, "61s"},
        {3600 * SEC, "1h"},
        {1234567, "1234567us"},
    };
    static const struct {
        PolicyAmount amount;
        const char *text;
    } amounts[] = {
        {{POLICY_AMOUNT_KIB, 2 * GiB}, "2 GiB"},
        {{POLICY_AMOUNT_PERCENT, 20}, "20%"},
        {{POLICY_AMOUNT_UNSET, 0}, "unset"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autofree char *t = policy_format_size_kib(sizes[i].kib);
        assert_string_equal(t, sizes[i].text);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(durations); i++) {
        g_autofree char *t = policy_format_duration_us(durations[i].us);
        assert_string_equal(t, durations[i].text);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(amounts); i++) {
        g_autofree char *t = policy_format_amount(&amounts[i].amount);
        assert_string_equal(t, amounts[i].text);
    }
}

/* Every duration we print can be read back to the same value. */
static void test_duration_round_trip(void **state)
{
    static const uint64_t values[] = {0,
                                      1,
                                      999,
                                      1000,
                                      1500,
                                      SEC,
                                      SEC / 2,
                                      90 * SEC,
                                      61 * SEC,
                                      3600 * SEC,
                                      7 * 3600 * SEC + 30 * 60 * SEC,
                                      1234567};

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
        g_autofree char *t = policy_format_duration_us(values[i]);
        uint64_t back = 0;

        assert_int_equal(policy_parse_duration_us(t, &back, NULL), 0);
        assert_int_equal(back, values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_table),
        cmocka_unit_test(test_duration_table),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_amount),
        cmocka_unit_test(test_null_error_pointer),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_duration_round_trip),
        cmocka_unit_test(test_long_input_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
