/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy keys (settings.h): one row each, and what each kind of value
 * means in text. Also the per-domain layer operations that go by key:
 * set_key, merge, validate.
 */
#include "config-private.h"
#include "settings.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#define SEC    POLICY_USEC_PER_SEC
#define DAY    (24 * 3600 * POLICY_USEC_PER_SEC)
#define NO_MAX UINT64_MAX

static const char *const mode_names[] = {"dynamic", "static", NULL};
static const char *const admission_names[] = {"enforce", "warn", "off", NULL};
static const char *const unreachable_names[] = {"allow", "refuse", NULL};

/* A row of daemon:, host: or tuning:. */
#define GLOBAL(sec, key, type_, member, min_, max_, def, unit_, doc_)                              \
    {                                                                                              \
        .section = sec, .name = key, .type = type_, .offset = offsetof(PolicyConfig, member),      \
        .size = sizeof(((PolicyConfig *)0)->member), .min = min_, .max = max_,                     \
        .default_text = def, .unit = unit_, .doc = doc_,                                           \
    }

/* A row whose value is one of a list of names (an enum member). */
#define GLOBAL_CHOICE(sec, key, member, names, def, doc_)                                          \
    {                                                                                              \
        .section = sec, .name = key, .type = POLICY_VALUE_CHOICE,                                  \
        .offset = offsetof(PolicyConfig, member), .size = sizeof(((PolicyConfig *)0)->member),     \
        .default_text = def, .choices = names, .doc = doc_,                                        \
    }

/* A per-domain row: the member has one name in PolicySettings and in
 * PolicyEffective. */
#define DOMAIN(key, type_, member, field_, min_, max_, def, unset, doc_)                           \
    {                                                                                              \
        .name = key, .type = type_, .offset = offsetof(PolicySettings, member),                    \
        .size = sizeof(((PolicySettings *)0)->member), .min = min_, .max = max_,                   \
        .default_text = def, .unset_text = unset, .field = field_,                                 \
        .effective_offset = offsetof(PolicyEffective, member), .doc = doc_,                        \
    }

/* Ranges: faster than 100ms is more libvirt traffic than information,
 * slower than an hour is not balancing; reserving more than 90% of the host
 * leaves nothing to balance; a psi-threshold of 0% would block growth even
 * on an idle host; the engine reads a max-shrink of 0 as "no cap" (the
 * invariant tests use that), but a policy file always bounds how fast a
 * domain is shrunk. */
const PolicyKey policy_global_keys[] = {
    GLOBAL("daemon", "connect", POLICY_VALUE_STRING, connect_uri, 0, 0, "qemu:///system", NULL,
           "libvirt connection URI"),
    GLOBAL("daemon", "interval", POLICY_VALUE_DURATION, interval_us, 100 * 1000, 3600 * SEC, "1s",
           NULL, "time between two balancing cycles"),
    GLOBAL("daemon", "metrics-file", POLICY_VALUE_PATH, metrics_file, 0, 0, "none", NULL,
           "Prometheus text file written for node_exporter's textfile collector"),
    GLOBAL("daemon", "metrics-interval", POLICY_VALUE_DURATION, metrics_interval_us, SEC,
           3600 * SEC, "15s", NULL, "how often the metrics file is rewritten"),
    GLOBAL("daemon", "record-file", POLICY_VALUE_PATH, record_file, 0, 0, "none", NULL,
           "every domain's figures appended each cycle, for dynmem-sim --from-recording"),
    GLOBAL("daemon", "record-max-size", POLICY_VALUE_SIZE, record_max_kib, 1024, NO_MAX, "256MiB",
           NULL, "the record file's size at which recording stops"),
    GLOBAL("host", "reserve", POLICY_VALUE_AMOUNT, reserve, 0, 90, "2GiB", " of MemTotal",
           "memory kept for the host: a size, or a percentage of MemTotal"),
    GLOBAL("host", "pool", POLICY_VALUE_POOL, pool_kib, 0, 0, "unlimited", NULL,
           "the most all managed domains hold together"),
    GLOBAL("host", "overhead", POLICY_VALUE_SIZE, overhead_kib, 0, NO_MAX, "64MiB", NULL,
           "QEMU's own memory, per managed domain"),
    GLOBAL("host", "psi-threshold", POLICY_VALUE_PERCENT, psi_threshold_pct, 1, 100, "10%", NULL,
           "host memory PSI some avg10 at which net growth stops"),
    GLOBAL("host", "deflate-reserve", POLICY_VALUE_UINT, deflate_reserve_guests, 0, 64,
           G_STRINGIFY(POLICY_DEFLATE_RESERVE_DEFAULT), " guests",
           "autodeflate guests whose take-back the budget keeps free"),
    GLOBAL_CHOICE("host", "admission", admission, admission_names, "enforce",
                  "a start is admitted with its startup memory secured (enforce), only logged "
                  "when it would not be (warn), or not checked (off)"),
    GLOBAL("host", "admission-wait", POLICY_VALUE_DURATION, admission_wait_us, 0, 300 * SEC, "30s",
           NULL, "longest a start waits while room is made for it"),
    GLOBAL_CHOICE("host", "admission-unreachable", unreachable, unreachable_names, "allow",
                  "the libvirt hook without an answer from dynmemd: allow or refuse the start"),
    GLOBAL("tuning", "grace", POLICY_VALUE_DURATION, tuning.grace_us, 0, DAY, "60s", NULL,
           "after boot, desired memory is at least startup"),
    GLOBAL("tuning", "demand-half-life", POLICY_VALUE_DURATION, tuning.demand_half_life_us,
           100 * 1000, DAY, "60s", NULL, "how fast the demand peak decays"),
    GLOBAL("tuning", "min-step", POLICY_VALUE_SIZE, tuning.min_step_kib, 0, NO_MAX, "32MiB", NULL,
           "changes smaller than this are skipped"),
    GLOBAL("tuning", "min-step-percent", POLICY_VALUE_PERCENT, tuning.min_step_pct, 0, 100, "1%",
           NULL, "... or smaller than this share of the domain's memory"),
    GLOBAL("tuning", "max-shrink", POLICY_VALUE_SIZE, tuning.max_shrink_kib, 1, NO_MAX, "256MiB",
           NULL, "the most one domain is shrunk per cycle"),
    GLOBAL("tuning", "trim-hold", POLICY_VALUE_PERCENT, tuning.trim_hold_pct, 0, 1000, "100%", NULL,
           "a settling guest's trim is held this share of the demand half-life, then made "
           "at once (0%: trimmed as the peak decays)"),
    GLOBAL("tuning", "uncooperative-timeout", POLICY_VALUE_DURATION,
           tuning.uncooperative_timeout_us, SEC, 3600 * SEC, "30s", NULL,
           "a shrink that does not move within this is given up"),
    GLOBAL("tuning", "uncooperative-retry", POLICY_VALUE_DURATION, tuning.uncooperative_retry_us,
           SEC, DAY, "5min", NULL, "... and tried again after this"),
    GLOBAL("tuning", "stale-periods", POLICY_VALUE_UINT, tuning.stale_periods, 1, 100, "3", NULL,
           "guest stats older than this many stats periods are stale"),
    GLOBAL("tuning", "pressure-swap-in", POLICY_VALUE_SIZE, tuning.pressure_swap_in_kib_s, 0,
           NO_MAX, "1MiB", "/s", "a guest swap-in rate that means it needs more"),
    GLOBAL("tuning", "pressure-major-faults", POLICY_VALUE_UINT, tuning.pressure_major_faults_s, 0,
           UINT32_MAX, "100", "/s", "a guest major-fault rate that means it needs more"),
    GLOBAL("tuning", "pressure-boost", POLICY_VALUE_PERCENT, tuning.pressure_boost_pct, 0, 1000,
           "10%", NULL, "demand correction of a guest under pressure"),
    {.name = NULL},
};

/* A maximum of nothing would stop the domain entirely; that is what mode:
 * static or shutting it down is for (hence its min 1). */
const PolicyKey policy_domain_keys[] = {
    {
        .name = "mode",
        .type = POLICY_VALUE_CHOICE,
        .offset = offsetof(PolicySettings, mode),
        .size = sizeof(PolicyMode),
        .default_text = "dynamic",
        .field = POLICY_FIELD_MODE,
        .effective_offset = offsetof(PolicyEffective, mode),
        .choices = mode_names,
        .doc = "dynamic (balanced) or static (left alone)",
    },
    DOMAIN("minimum", POLICY_VALUE_AMOUNT, minimum, POLICY_FIELD_MINIMUM, 0, 100, "512MiB", NULL,
           "never shrunk below this"),
    DOMAIN("startup", POLICY_VALUE_AMOUNT, startup, POLICY_FIELD_STARTUP, 0, 100, NULL,
           "unset (the domain's own memory at boot)", "during the grace period, at least this"),
    DOMAIN("maximum", POLICY_VALUE_AMOUNT, maximum, POLICY_FIELD_MAXIMUM, 1, 100, "100%", NULL,
           "never grown above this"),
    DOMAIN("buffer", POLICY_VALUE_PERCENT, buffer_pct, POLICY_FIELD_BUFFER, 0,
           POLICY_BUFFER_MAX_PCT, G_STRINGIFY(POLICY_BUFFER_DEFAULT_PCT) "%", NULL,
           "free memory kept above demand, in percent of it"),
    DOMAIN("weight", POLICY_VALUE_UINT, weight, POLICY_FIELD_WEIGHT, 0, POLICY_WEIGHT_MAX,
           G_STRINGIFY(POLICY_WEIGHT_DEFAULT), NULL, "share of memory when it is scarce"),
    DOMAIN("burst-headroom", POLICY_VALUE_BURST_HEADROOM, burst_headroom,
           POLICY_FIELD_BURST_HEADROOM, 0, POLICY_HEADROOM_MAX_KIB, "learn", NULL,
           "free memory kept for an instant step: learn, learn SIZE or a SIZE"),
    DOMAIN("buffer-min", POLICY_VALUE_SIZE, buffer_min_kib, POLICY_FIELD_BUFFER_MIN, 0,
           POLICY_HEADROOM_MAX_KIB, "64MiB", NULL, "the buffer is at least this"),
    {.name = NULL},
};
/* PolicyEffective.source has a slot per key */
G_STATIC_ASSERT(G_N_ELEMENTS(policy_domain_keys) - 1 <= POLICY_MAX_DOMAIN_KEYS);

static const char *choice_name(const char *const *names, unsigned n, unsigned v)
{
    return v < n ? names[v] : NULL;
}

const char *policy_mode_to_string(PolicyMode mode)
{
    return choice_name(mode_names, POLICY_MODE_LAST, mode);
}

const char *policy_admission_to_string(PolicyAdmission a)
{
    return choice_name(admission_names, POLICY_ADMISSION_LAST, a);
}

const char *policy_unreachable_to_string(PolicyUnreachable u)
{
    return choice_name(unreachable_names, POLICY_UNREACHABLE_LAST, u);
}

/* "expected "a", "b" or "c", found "x"" */
static char *choice_error(const char *const *names, const char *text)
{
    g_autoptr(GString) s = g_string_new("expected ");
    g_autofree char *q = policy_quote(text);

    for (size_t i = 0; names[i]; i++)
        g_string_append_printf(s, "%s\"%s\"", i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
    g_string_append_printf(s, ", found \"%s\"", q);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

const PolicyKey *policy_domain_key_find(const char *name)
{
    for (const PolicyKey *k = policy_domain_keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

const PolicyKey *policy_domain_key_by_field(PolicyField field)
{
    for (const PolicyKey *k = policy_domain_keys; k->name; k++)
        if (k->field == field)
            return k;
    return NULL;
}

size_t policy_key_names(const char *section, const char **ret_names, size_t n_first)
{
    const PolicyKey *table = section ? policy_global_keys : policy_domain_keys;
    size_t n = n_first;

    for (const PolicyKey *k = table; k->name; k++)
        if (g_strcmp0(k->section, section) == 0 && n < POLICY_MAX_SECTION_KEYS)
            ret_names[n++] = k->name;
    ret_names[n] = NULL;
    return n - n_first;
}

/* Edit distance with adjacent transpositions (optimal string alignment), so
 * that "wieght" is one step from "weight". Keys are short; inputs longer
 * than the buffer are simply not close to anything. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 32 };
    size_t la = strlen(a), lb = strlen(b);
    size_t d[MAXLEN + 1][MAXLEN + 1];

    if (la > MAXLEN || lb > MAXLEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);

            best = MIN(best, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = MIN(best, d[i - 2][j - 2] + 1);
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The closest of `keys` to `word`, or NULL when nothing is plausibly meant. */
const char *policy_nearest_key(const char *word, const char *const *keys)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;

    for (size_t i = 0; keys[i]; i++) {
        size_t d = edit_distance(word, keys[i]);

        if (d < best_d) {
            best_d = d;
            best = keys[i];
        }
    }
    /* A third of the key's length, at least 2: "buffr", "wieght", "maximun"
     * are caught, "foo" for "mode" is not. */
    if (best && best_d <= MAX((size_t)2, strlen(best) / 3))
        return best;
    return NULL;
}

/* A whole number in [min, max]; detail messages as for settings. */
int policy_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *ret,
                      char **ret_detail)
{
    uint64_t v = 0;
    bool overflow = false;
    const char *p;

    for (p = text; g_ascii_isdigit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (p == text || *p != '\0') {
        g_autofree char *q = policy_quote(text);

        *ret_detail = g_strdup_printf(
            "expected a whole number %" PRIu64 "..%" PRIu64 ", found \"%s\"", min, max, q);
        return -EINVAL;
    }
    if (overflow || v < min || v > max) {
        g_autofree char *q = policy_quote(text);

        *ret_detail = g_strdup_printf("%s is out of range %" PRIu64 "..%" PRIu64, q, min, max);
        return -ERANGE;
    }
    *ret = v;
    return 0;
}

/* ---- values ---------------------------------------------------------------- */

static uint64_t get_uint_member(const void *p, size_t size)
{
    if (size == sizeof(uint32_t))
        return *(const uint32_t *)p;
    return *(const uint64_t *)p;
}

static void set_uint_member(void *p, size_t size, uint64_t v)
{
    if (size == sizeof(uint32_t))
        *(uint32_t *)p = (uint32_t)v;
    else
        *(uint64_t *)p = v;
}

/* A limit in a message, as the man page writes it ("1024GiB"). */
static char *limit_text(uint64_t kib)
{
    if (kib % POLICY_KIB_PER_GIB == 0)
        return g_strdup_printf("%" PRIu64 "GiB", kib / POLICY_KIB_PER_GIB);
    return policy_format_size_kib_exact(kib);
}

/* A size in [min_kib, max_kib]. */
static int parse_size(const char *text, uint64_t min_kib, uint64_t max_kib, uint64_t *ret_kib,
                      char **ret_detail)
{
    uint64_t kib;
    int r = policy_parse_size_kib(text, &kib, ret_detail);

    if (r < 0)
        return r;
    if (kib < min_kib) {
        g_autofree char *q = policy_quote(text);
        g_autofree char *least = limit_text(min_kib);

        if (min_kib <= 1)
            *ret_detail = g_strdup_printf("must be above 0, found \"%s\"", q);
        else
            *ret_detail = g_strdup_printf("%s is less than the least allowed, %s", q, least);
        return -ERANGE;
    }
    if (kib > max_kib) {
        g_autofree char *q = policy_quote(text); /* "000...0002TiB" parses */
        g_autofree char *most = limit_text(max_kib);

        *ret_detail = g_strdup_printf("%s is more than the most allowed, %s", q, most);
        return -ERANGE;
    }
    *ret_kib = kib;
    return 0;
}

/* "learn" (at least the default floor), "learn SIZE" or a SIZE. */
static int parse_burst_headroom(const char *text, uint64_t max_kib, PolicyBurstHeadroom *ret,
                                char **ret_detail)
{
    PolicyBurstHeadroom b = {.learn = false};
    const char *size = text;
    int r;

    if (g_str_has_prefix(text, "learn")) {
        b.learn = true;
        b.kib = POLICY_BURST_FLOOR_DEFAULT_KIB;
        size = text + 5;
        if (*size == '\0') {
            *ret = b;
            return 0;
        }
        if (*size != ' ') {
            g_autofree char *q = policy_quote(text);

            *ret_detail = g_strdup_printf(
                "expected \"learn\", \"learn SIZE\" or a size such as 256MiB, found \"%s\"", q);
            return -EINVAL;
        }
        while (*size == ' ')
            size++;
    }
    r = parse_size(size, 0, max_kib, &b.kib, ret_detail);
    if (r < 0)
        return r;
    *ret = b;
    return 0;
}

char *policy_burst_headroom_format(const PolicyBurstHeadroom *b)
{
    g_autofree char *size = policy_format_size_kib(b->kib);

    if (b->learn)
        return g_strdup_printf("learn %s", size);
    return g_steal_pointer(&size);
}

/* A file the daemon writes: an absolute path to a file (no directory, no
 * control characters), or "none" (also spelt as an empty string). */
static int check_path(const char *text, char **ret_detail)
{
    g_autofree char *q = policy_quote(text);

    if (strcmp(text, "none") == 0 || text[0] == '\0')
        return 0;
    if (text[0] != '/' || g_str_has_suffix(text, "/")) {
        *ret_detail =
            g_strdup_printf("expected an absolute file path or \"none\", found \"%s\"", q);
        return -EINVAL;
    }
    if (strlen(text) >= PATH_MAX) {
        *ret_detail = g_strdup_printf("path \"%s\" is longer than %d bytes", q, PATH_MAX - 1);
        return -ERANGE;
    }
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *ret_detail = g_strdup_printf("path \"%s\" has a control character", q);
            return -EINVAL;
        }
    return 0;
}

int policy_key_parse(const PolicyKey *k, const char *text, void *base, char **ret_detail)
{
    void *member = (char *)base + k->offset;
    union {
        PolicyAmount amount;
        PolicyBurstHeadroom burst;
        uint32_t u32;
        uint64_t u64;
    } v;
    uint64_t u = 0;
    int r = 0;

    g_return_val_if_fail(k && text && base && k->size <= sizeof(v), -EINVAL);
    memset(&v, 0, sizeof(v)); /* no stack bytes in a struct's padding */

    switch (k->type) {
    case POLICY_VALUE_STRING:
        g_free(*(char **)member);
        *(char **)member = g_strdup(text);
        return 0;
    case POLICY_VALUE_PATH:
        r = check_path(text, ret_detail);
        if (r < 0)
            return r;
        g_free(*(char **)member);
        *(char **)member = strcmp(text, "none") == 0 || !*text ? NULL : g_strdup(text);
        return 0;
    case POLICY_VALUE_CHOICE:
        while (k->choices[u] && strcmp(k->choices[u], text) != 0)
            u++;
        if (!k->choices[u]) {
            *ret_detail = choice_error(k->choices, text);
            return -EINVAL;
        }
        break;
    case POLICY_VALUE_UINT:
        r = policy_parse_uint(text, k->min, k->max, &u, ret_detail);
        break;
    case POLICY_VALUE_PERCENT: {
        uint32_t pct = 0;

        r = policy_parse_percent(text, (uint32_t)k->max, &pct, ret_detail);
        if (r == 0 && pct < k->min) {
            g_autofree char *q = policy_quote(text);

            *ret_detail = g_strdup_printf(
                "percentage \"%s\" is out of range %" PRIu64 "..%" PRIu64 "%%", q, k->min, k->max);
            return -ERANGE;
        }
        u = pct;
        break;
    }
    case POLICY_VALUE_SIZE:
        r = parse_size(text, k->min, k->max, &u, ret_detail);
        break;
    case POLICY_VALUE_POOL:
        if (strcmp(text, "unlimited") == 0)
            break; /* u = 0 */
        r = policy_parse_size_kib(text, &u, ret_detail);
        if (r < 0) {
            char *d = g_strdup_printf("%s, or \"unlimited\"", *ret_detail);

            g_free(*ret_detail);
            *ret_detail = d;
        } else if (u == 0) {
            g_autofree char *q = policy_quote(text);

            *ret_detail = g_strdup_printf(
                "must be above 0, found \"%s\" (write \"unlimited\" for no cap)", q);
            r = -ERANGE;
        }
        break;
    case POLICY_VALUE_DURATION:
        r = policy_parse_duration_us(text, &u, ret_detail);
        if (r == 0 && (u < k->min || u > k->max)) {
            g_autofree char *lo = policy_format_duration_us(k->min);
            g_autofree char *hi = policy_format_duration_us(k->max);
            g_autofree char *q = policy_quote(text);

            *ret_detail = g_strdup_printf("%s is out of range %s..%s", q, lo, hi);
            r = -ERANGE;
        }
        break;
    case POLICY_VALUE_AMOUNT:
        r = policy_parse_amount(text, (uint32_t)k->max, &v.amount, ret_detail);
        if (r == 0 && k->min > 0 && v.amount.value == 0) {
            g_autofree char *q = policy_quote(text);

            *ret_detail = g_strdup_printf("must be above 0, found \"%s\"", q);
            r = -ERANGE;
        }
        break;
    case POLICY_VALUE_BURST_HEADROOM:
        r = parse_burst_headroom(text, k->max, &v.burst, ret_detail);
        break;
    case POLICY_VALUE_LAST:
    default:
        g_return_val_if_reached(-EINVAL);
    }
    if (r < 0)
        return r;
    if (k->type == POLICY_VALUE_UINT || k->type == POLICY_VALUE_CHOICE ||
        k->type == POLICY_VALUE_PERCENT || k->type == POLICY_VALUE_SIZE ||
        k->type == POLICY_VALUE_POOL || k->type == POLICY_VALUE_DURATION)
        set_uint_member(member, k->size, u);
    else
        memcpy(member, &v, k->size);
    return 0;
}

char *policy_key_format(const PolicyKey *k, const void *base, bool exact)
{
    const void *member = (const char *)base + k->offset;
    const char *unit = exact || !k->unit ? "" : k->unit;
    g_autofree char *text = NULL;

    g_return_val_if_fail(k && base, NULL);

    switch (k->type) {
    case POLICY_VALUE_STRING:
        return g_strdup(*(char *const *)member);
    case POLICY_VALUE_PATH:
        return g_strdup(*(char *const *)member ? *(char *const *)member : "none");
    case POLICY_VALUE_CHOICE: {
        uint64_t i = get_uint_member(member, k->size), n = 0;

        while (k->choices[n])
            n++;
        return g_strdup(i < n ? k->choices[i] : "invalid");
    }
    case POLICY_VALUE_UINT:
        return g_strdup_printf("%" PRIu64 "%s", get_uint_member(member, k->size), unit);
    case POLICY_VALUE_PERCENT:
        return g_strdup_printf("%" PRIu64 "%%%s", get_uint_member(member, k->size), unit);
    case POLICY_VALUE_POOL:
        if (get_uint_member(member, k->size) == 0)
            return g_strdup("unlimited");
        /* fall through */
    case POLICY_VALUE_SIZE: {
        uint64_t kib = get_uint_member(member, k->size);

        text = exact ? policy_format_size_kib_exact(kib) : policy_format_size_kib(kib);
        return g_strdup_printf("%s%s", text, unit);
    }
    case POLICY_VALUE_DURATION:
        text = policy_format_duration_us(get_uint_member(member, k->size));
        return g_strdup_printf("%s%s", text, unit);
    case POLICY_VALUE_AMOUNT: {
        const PolicyAmount *a = member;

        if (exact && a->kind == POLICY_AMOUNT_KIB)
            return policy_format_size_kib_exact(a->value);
        text = policy_format_amount(a);
        return g_strdup_printf("%s%s", text, a->kind == POLICY_AMOUNT_PERCENT ? unit : "");
    }
    case POLICY_VALUE_BURST_HEADROOM: {
        const PolicyBurstHeadroom *b = member;

        if (!exact)
            return policy_burst_headroom_format(b);
        text = policy_format_size_kib_exact(b->kib);
        return b->learn ? g_strdup_printf("learn %s", text) : g_steal_pointer(&text);
    }
    case POLICY_VALUE_LAST:
    default:
        g_return_val_if_reached(NULL);
    }
}

char *policy_domain_key_integer_text(const char *name, uint64_t value)
{
    const PolicyKey *k = policy_domain_key_find(name);

    switch (k ? k->type : POLICY_VALUE_LAST) {
    case POLICY_VALUE_PERCENT:
        return g_strdup_printf("%" PRIu64 "%%", value);
    case POLICY_VALUE_SIZE:
    case POLICY_VALUE_POOL:
    case POLICY_VALUE_AMOUNT:
    case POLICY_VALUE_BURST_HEADROOM:
        return g_strdup_printf("%" PRIu64 "B", value);
    default:
        return g_strdup_printf("%" PRIu64, value);
    }
}

/* ---- per-domain layers ---------------------------------------------------- */

bool policy_settings_equal(const PolicySettings *a, const PolicySettings *b)
{
    if (a->set != b->set)
        return false;
    for (const PolicyKey *k = policy_domain_keys; k->name; k++) {
        if (!(a->set & k->field))
            continue;
        g_autofree char *x = policy_key_format(k, a, true);
        g_autofree char *y = policy_key_format(k, b, true);
        if (g_strcmp0(x, y) != 0)
            return false;
    }
    return true;
}

int policy_settings_set_detail(PolicySettings *s, const char *key, const char *value,
                               char **ret_detail)
{
    const PolicyKey *k = policy_domain_key_find(key);
    PolicySettings n = *s;
    int r;

    if (!k) {
        const char *names[POLICY_MAX_SECTION_KEYS + 1];
        const char *hint;
        g_autofree char *q = policy_quote(key);

        policy_key_names(NULL, names, 0);
        hint = policy_nearest_key(key, names);
        if (hint)
            *ret_detail = g_strdup_printf("unknown key \"%s\"; did you mean \"%s\"?", q, hint);
        else
            *ret_detail = g_strdup_printf("unknown key \"%s\"", q);
        return -ENOENT;
    }
    r = policy_key_parse(k, value, &n, ret_detail);
    if (r < 0)
        return r;
    n.set |= k->field;
    *s = n;
    return 0;
}

int policy_settings_set_key(PolicySettings *s, const char *key, const char *value, char **ret_error)
{
    g_autofree char *detail = NULL;
    int r;

    g_return_val_if_fail(s && key && value, -EINVAL);

    r = policy_settings_set_detail(s, key, value, &detail);
    if (r == -ENOENT) {
        if (ret_error)
            *ret_error = g_steal_pointer(&detail);
        return -EINVAL;
    }
    if (r < 0) {
        if (ret_error)
            *ret_error = g_strdup_printf("%s: %s", key, detail);
        return r;
    }
    return 0;
}

/* a > b for two amounts of the same kind; false when they are not
 * comparable (a size against a percentage of something unknown yet). */
static bool amount_above(const PolicyAmount *a, const PolicyAmount *b)
{
    if (a->kind != b->kind || a->kind == POLICY_AMOUNT_UNSET)
        return false;
    return a->value > b->value;
}

int policy_settings_validate(const PolicySettings *s, char **ret_error)
{
    static const struct {
        PolicyField low_field, high_field;
        const char *low_name, *high_name;
        size_t low_off, high_off;
    } pairs[] = {
        {POLICY_FIELD_MINIMUM, POLICY_FIELD_MAXIMUM, "minimum", "maximum",
         offsetof(PolicySettings, minimum), offsetof(PolicySettings, maximum)},
        {POLICY_FIELD_MINIMUM, POLICY_FIELD_STARTUP, "minimum", "startup",
         offsetof(PolicySettings, minimum), offsetof(PolicySettings, startup)},
        {POLICY_FIELD_STARTUP, POLICY_FIELD_MAXIMUM, "startup", "maximum",
         offsetof(PolicySettings, startup), offsetof(PolicySettings, maximum)},
    };

    g_return_val_if_fail(s, -EINVAL);

    for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
        const PolicyAmount *low = (const void *)((const char *)s + pairs[i].low_off);
        const PolicyAmount *high = (const void *)((const char *)s + pairs[i].high_off);

        if (!(s->set & pairs[i].low_field) || !(s->set & pairs[i].high_field))
            continue;
        if (amount_above(low, high)) {
            if (ret_error) {
                g_autofree char *l = policy_format_amount(low);
                g_autofree char *h = policy_format_amount(high);

                *ret_error = g_strdup_printf("%s %s is above %s %s", pairs[i].low_name, l,
                                             pairs[i].high_name, h);
            }
            return -ERANGE;
        }
    }
    return 0;
}

void policy_settings_merge(PolicySettings *base, const PolicySettings *top)
{
    g_return_if_fail(base);
    if (!top)
        return;
    for (const PolicyKey *k = policy_domain_keys; k->name; k++)
        if (top->set & k->field)
            memcpy((char *)base + k->offset, (const char *)top + k->offset, k->size);
    base->set |= top->set;
}
