/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sizes, percentages and durations (see units.h).
 *
 * The number syntax is deliberately narrow: ASCII digits, optionally one '.'
 * followed by digits, then a unit with no space in between. No sign, no
 * exponent, no surrounding whitespace (YAML has already stripped it, and
 * dynmemctl passes argv as is). All arithmetic is checked, so text such as
 * "18446744073709551616KiB" is reported as too large instead of wrapping.
 */
#include "units.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* What a malformed value is compared against in messages. */
#define EXPECT_SIZE     "a size such as 512MiB or 2GiB"
#define EXPECT_AMOUNT   "a size such as 512MiB or a percentage such as 50%"
#define EXPECT_PERCENT  "a percentage such as 20%"
#define EXPECT_DURATION "a duration such as 500ms, 1s or 2min"

typedef struct {
    const char *name;
    uint64_t factor; /* in the result's unit (KiB or µs) */
} Unit;

/* Binary multiples, as libvirt reads them; "B" is handled on its own. */
static const Unit size_units[] = {
    {"KiB", 1},
    {"K", 1},
    {"MiB", UINT64_C(1) << 10},
    {"M", UINT64_C(1) << 10},
    {"GiB", UINT64_C(1) << 20},
    {"G", UINT64_C(1) << 20},
    {"TiB", UINT64_C(1) << 30},
    {"T", UINT64_C(1) << 30},
};

static const Unit duration_units[] = {
    {"us", 1},
    {"ms", 1000},
    {"s", POLICY_USEC_PER_SEC},
    {"min", 60 * POLICY_USEC_PER_SEC},
    {"h", 3600 * POLICY_USEC_PER_SEC},
};

/* Decimal units that libvirt accepts with a different meaning (powers of
 * 1000), mapped to the binary unit the operator most likely meant. */
static const struct {
    const char *decimal;
    const char *binary;
} decimal_units[] = {
    {"KB", "KiB"}, {"kB", "KiB"}, {"kb", "KiB"}, {"MB", "MiB"}, {"mb", "MiB"},
    {"GB", "GiB"}, {"gb", "GiB"}, {"TB", "TiB"}, {"tb", "TiB"},
};

/* policy_set_error() with one argument, %s (or %1$s, used more than once): the text,
 * quoted and cut short. */
#define fail_quoted(ret_error, err, fmt, text)                                                     \
    ({                                                                                             \
        g_autofree char *q_ = policy_quote(text);                                                  \
        policy_set_error(ret_error, err, fmt, q_);                                                 \
    })

static int fail_expected(char **ret_error, const char *expected, const char *text)
{
    g_autofree char *q = policy_quote(text);

    return policy_set_error(ret_error, -EINVAL, "expected %s, found \"%s\"", expected, q);
}

/* A number split into its parts; points into the parsed text. */
typedef struct {
    const char *int_digits;
    size_t n_int;
    const char *frac_digits; /* NULL when there is no '.' */
    size_t n_frac;
    const char *unit; /* rest of the text after the number */
} Number;

/* Split "1.5GiB" into digits and unit. Rejects a sign, a lone '.', ".5",
 * "5." and anything that is not ASCII. */
static bool split_number(const char *text, Number *ret)
{
    const char *p = text;
    Number n = {0};

    n.int_digits = p;
    while (g_ascii_isdigit(*p))
        p++;
    n.n_int = (size_t)(p - n.int_digits);
    if (n.n_int == 0)
        return false;
    if (*p == '.') {
        p++;
        n.frac_digits = p;
        while (g_ascii_isdigit(*p))
            p++;
        n.n_frac = (size_t)(p - n.frac_digits);
        if (n.n_frac == 0)
            return false;
    }
    n.unit = p;
    for (; *p; p++)
        if (!g_ascii_isalpha(*p) && *p != '%')
            return false;
    *ret = n;
    return true;
}

/* floor((int_part + fraction) * factor), or false on overflow. The
 * fractional part is folded in from its last digit towards the first with
 * integer division, which gives the exact floor however many digits there
 * are (floor((a + floor(q)) / 10) == floor((a + q) / 10) for integer a). */
static bool number_scale(const Number *n, uint64_t factor, uint64_t *ret)
{
    uint64_t whole = 0, frac = 0, result;

    for (size_t i = 0; i < n->n_int; i++) {
        unsigned d = (unsigned)(n->int_digits[i] - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return false;
        whole = whole * 10 + d;
    }
    for (size_t i = n->n_frac; i > 0; i--) {
        uint64_t d = (uint64_t)(n->frac_digits[i - 1] - '0');
        /* factor <= 3.6e9, so d * factor + frac < 10 * factor fits easily */
        frac = (d * factor + frac) / 10;
    }
    if (factor != 0 && whole > UINT64_MAX / factor)
        return false;
    result = whole * factor;
    if (result > UINT64_MAX - frac)
        return false;
    *ret = result + frac;
    return true;
}

static const Unit *find_unit(const Unit *units, size_t n_units, const char *name)
{
    for (size_t i = 0; i < n_units; i++)
        if (strcmp(units[i].name, name) == 0)
            return &units[i];
    return NULL;
}

/* The size parser behind both policy_parse_size_kib() and
 * policy_parse_amount(); `expected` is the phrase used for malformed text. */
static int parse_size(const char *text, const char *expected, uint64_t *ret_kib, char **ret_error)
{
    Number n;
    const Unit *unit;
    uint64_t kib;

    if (!text || !split_number(text, &n))
        return fail_expected(ret_error, expected, text ? text : "");

    if (n.unit[0] == '\0') {
        /* "0" needs no unit; any other bare number is ambiguous (bytes?
         * KiB as in libvirt's XML?), so it is refused. */
        if (strcmp(text, "0") == 0) {
            *ret_kib = 0;
            return 0;
        }
        return fail_quoted(ret_error, -EINVAL, "size \"%1$s\" has no unit; write e.g. \"%1$sMiB\"",
                           text);
    }

    if (strcmp(n.unit, "B") == 0) {
        uint64_t bytes;

        /* Balloon and memory-device sizes are whole KiB; refuse to guess. */
        if (n.frac_digits)
            return fail_quoted(ret_error, -EINVAL, "size \"%s\" is not a whole number of KiB",
                               text);
        if (!number_scale(&n, 1, &bytes))
            return fail_quoted(ret_error, -ERANGE, "size \"%s\" is too large", text);
        if (bytes % 1024 != 0)
            return fail_quoted(ret_error, -EINVAL, "size \"%s\" is not a whole number of KiB",
                               text);
        *ret_kib = bytes / 1024;
        return 0;
    }

    unit = find_unit(size_units, G_N_ELEMENTS(size_units), n.unit);
    if (!unit) {
        for (size_t i = 0; i < G_N_ELEMENTS(decimal_units); i++)
            if (strcmp(decimal_units[i].decimal, n.unit) == 0) {
                g_autofree char *q = policy_quote(text);

                return policy_set_error(
                    ret_error, -EINVAL,
                    "size \"%s\": \"%s\" is a decimal unit in libvirt and is not "
                    "accepted here; did you mean \"%s\"?",
                    q, n.unit, decimal_units[i].binary);
            }
        for (size_t i = 0; i < G_N_ELEMENTS(size_units); i++)
            if (g_ascii_strcasecmp(size_units[i].name, n.unit) == 0) {
                g_autofree char *q = policy_quote(text);

                /* the unit matched a known one: it is short */
                return policy_set_error(ret_error, -EINVAL,
                                        "size \"%s\": unknown unit \"%s\"; did you mean \"%s\"?", q,
                                        n.unit, size_units[i].name);
            }
        return fail_expected(ret_error, expected, text);
    }

    if (!number_scale(&n, unit->factor, &kib))
        return fail_quoted(ret_error, -ERANGE, "size \"%s\" is too large", text);
    *ret_kib = kib;
    return 0;
}

int policy_parse_size_kib(const char *text, uint64_t *ret_kib, char **ret_error)
{
    return parse_size(text, EXPECT_SIZE, ret_kib, ret_error);
}

int policy_parse_percent(const char *text, uint32_t max_pct, uint32_t *ret_pct, char **ret_error)
{
    Number n;
    uint64_t pct;

    if (!text || !split_number(text, &n) || strcmp(n.unit, "%") != 0)
        return fail_expected(ret_error, EXPECT_PERCENT, text ? text : "");
    if (n.frac_digits)
        return fail_quoted(ret_error, -EINVAL, "percentage \"%s\" is not a whole number", text);
    if (!number_scale(&n, 1, &pct) || pct > max_pct) {
        g_autofree char *q = policy_quote(text);

        return policy_set_error(ret_error, -ERANGE,
                                "percentage \"%s\" is out of range 0..%" PRIu32 "%%", q, max_pct);
    }
    *ret_pct = (uint32_t)pct;
    return 0;
}

int policy_parse_amount(const char *text, uint32_t max_pct, PolicyAmount *ret, char **ret_error)
{
    PolicyAmount a = {0};
    int r;

    if (text && text[0] != '\0' && text[strlen(text) - 1] == '%') {
        uint32_t pct;

        r = policy_parse_percent(text, max_pct, &pct, ret_error);
        if (r < 0)
            return r;
        a.kind = POLICY_AMOUNT_PERCENT;
        a.value = pct;
    } else {
        uint64_t kib;

        r = parse_size(text, EXPECT_AMOUNT, &kib, ret_error);
        if (r < 0)
            return r;
        a.kind = POLICY_AMOUNT_KIB;
        a.value = kib;
    }
    *ret = a;
    return 0;
}

int policy_parse_duration_us(const char *text, uint64_t *ret_us, char **ret_error)
{
    Number n;
    const Unit *unit;
    uint64_t us;

    if (!text || !split_number(text, &n))
        return fail_expected(ret_error, EXPECT_DURATION, text ? text : "");
    if (n.unit[0] == '\0') {
        if (strcmp(text, "0") == 0) {
            *ret_us = 0;
            return 0;
        }
        return fail_quoted(ret_error, -EINVAL,
                           "duration \"%1$s\" has no unit; write e.g. \"%1$ss\"", text);
    }
    unit = find_unit(duration_units, G_N_ELEMENTS(duration_units), n.unit);
    if (!unit)
        return fail_expected(ret_error, EXPECT_DURATION, text);
    if (!number_scale(&n, unit->factor, &us))
        return fail_quoted(ret_error, -ERANGE, "duration \"%s\" is too large", text);
    *ret_us = us;
    return 0;
}

uint64_t policy_amount_resolve_kib(const PolicyAmount *amount, uint64_t reference_kib,
                                   uint64_t fallback_kib)
{
    if (!amount)
        return fallback_kib;
    switch (amount->kind) {
    case POLICY_AMOUNT_KIB:
        return amount->value;
    case POLICY_AMOUNT_PERCENT: {
        /* 128-bit product: reference * percent cannot overflow, and the
         * result saturates for percentages above 100 of huge references. */
        unsigned __int128 v = (unsigned __int128)reference_kib * amount->value / 100;
        return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
    }
    case POLICY_AMOUNT_UNSET:
    case POLICY_AMOUNT_LAST:
    default:
        return fallback_kib;
    }
}

/* "whole" or "whole.tenth" followed by the unit; tenths are rounded down so
 * that a value never reads as more than it is. */
static char *format_scaled(uint64_t value, const Unit *units, size_t n_units, const char *sep)
{
    const Unit *u = &units[0];

    for (size_t i = n_units; i > 0; i--) {
        if (value >= units[i - 1].factor) {
            u = &units[i - 1];
            break;
        }
    }
    if (value % u->factor == 0)
        return g_strdup_printf("%" PRIu64 "%s%s", value / u->factor, sep, u->name);
    return g_strdup_printf("%" PRIu64 ".%" PRIu64 "%s%s", value / u->factor,
                           (value % u->factor) * 10 / u->factor, sep, u->name);
}

static size_t put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0, k = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        p[k++] = tmp[--n];
    return k;
}

char *policy_size_to_buf(uint64_t kib, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    char tmp[48];
    uint64_t scale = 1, tenths;
    size_t u = 0, n = 0;

    if (len == 0)
        return buf;
    while (kib / scale >= 1024 && u + 1 < G_N_ELEMENTS(units)) {
        scale *= 1024;
        u++;
    }
    /* tenths rounded down, so a size never reads as more than it is; in
     * integers, no printf (called per domain per cycle for the reasons) */
    tenths = (uint64_t)((unsigned __int128)kib * 10 / scale);
    if (u == 0) {
        n += put_u64(tmp, kib);
    } else {
        n += put_u64(tmp, tenths / 10);
        if (tenths % 10) {
            tmp[n++] = '.';
            tmp[n++] = (char)('0' + tenths % 10);
        }
    }
    tmp[n++] = ' ';
    for (const char *p = units[u]; *p; p++)
        tmp[n++] = *p;
    if (n >= len)
        n = len - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return buf;
}

char *policy_format_size_kib(uint64_t kib)
{
    char buf[48];
    return g_strdup(policy_size_to_buf(kib, buf, sizeof(buf)));
}

char *policy_format_size_kib_exact(uint64_t kib)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;

    while (kib != 0 && kib % 1024 == 0 && u + 1 < G_N_ELEMENTS(units)) {
        kib /= 1024;
        u++;
    }
    return g_strdup_printf("%" PRIu64 "%s", kib, units[u]);
}

char *policy_format_amount(const PolicyAmount *amount)
{
    if (!amount)
        return g_strdup("unset");
    switch (amount->kind) {
    case POLICY_AMOUNT_KIB:
        return policy_format_size_kib(amount->value);
    case POLICY_AMOUNT_PERCENT:
        return g_strdup_printf("%" PRIu64 "%%", amount->value);
    case POLICY_AMOUNT_UNSET:
    case POLICY_AMOUNT_LAST:
    default:
        return g_strdup("unset");
    }
}

char *policy_format_duration_us(uint64_t us)
{
    /* Durations are shown exactly: the largest unit in which the value has at
     * most one decimal ("1.5s", "90s" stays "1.5min", 1234567us stays us). */
    for (size_t i = G_N_ELEMENTS(duration_units); i > 0; i--) {
        const Unit *u = &duration_units[i - 1];

        if (us >= u->factor && (u->factor < 10 || us % (u->factor / 10) == 0))
            return format_scaled(us, u, 1, "");
    }
    return g_strdup("0s");
}
