/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model (see config.h, DESIGN.md §4): per-domain settings and
 * their text forms, the built-in defaults, and how a domain's effective
 * policy is resolved. The YAML schema is in config-load.c, the printout in
 * config-describe.c.
 */
#include "config-private.h"
#include "text.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

/* ---- the model ------------------------------------------------------------ */

const char *const policy_settings_keys[] = {
    "mode",   "minimum",        "startup",    "maximum", "buffer",
    "weight", "burst-headroom", "buffer-min", NULL,
};

const char *policy_mode_to_string(PolicyMode mode)
{
    switch (mode) {
    case POLICY_MODE_DYNAMIC:
        return "dynamic";
    case POLICY_MODE_STATIC:
        return "static";
    case POLICY_MODE_LAST:
    default:
        return NULL;
    }
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

/* A headroom size: 0 .. POLICY_HEADROOM_MAX_KIB. */
static int parse_headroom_size(const char *text, uint64_t *ret_kib, char **ret_detail)
{
    uint64_t kib;
    int r = policy_parse_size_kib(text, &kib, ret_detail);

    if (r < 0)
        return r;
    if (kib > POLICY_HEADROOM_MAX_KIB) {
        g_autofree char *q = policy_quote(text); /* "000...0002TiB" parses */

        *ret_detail = g_strdup_printf("%s is more than the most allowed, 1024GiB", q);
        return -ERANGE;
    }
    *ret_kib = kib;
    return 0;
}

/* "learn" (at least the default floor), "learn SIZE" or a SIZE. */
static int parse_burst_headroom(const char *text, PolicyBurstHeadroom *ret, char **ret_detail)
{
    PolicyBurstHeadroom b = {.learn = false};
    int r;

    if (g_str_has_prefix(text, "learn")) {
        const char *rest = text + 5;

        b.learn = true;
        b.kib = POLICY_BURST_FLOOR_DEFAULT_KIB;
        if (*rest != '\0') {
            if (*rest != ' ') {
                g_autofree char *q = policy_quote(text);

                *ret_detail = g_strdup_printf(
                    "expected \"learn\", \"learn SIZE\" or a size such as 256MiB, found \"%s\"", q);
                return -EINVAL;
            }
            while (*rest == ' ')
                rest++;
            r = parse_headroom_size(rest, &b.kib, ret_detail);
            if (r < 0)
                return r;
        }
    } else {
        r = parse_headroom_size(text, &b.kib, ret_detail);
        if (r < 0)
            return r;
    }
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

/* Set one per-domain key; on failure *ret_detail says what was wrong with the
 * value (without naming the key) and *s is unchanged. -ENOENT: no such key. */
int policy_settings_set_detail(PolicySettings *s, const char *key, const char *value,
                               char **ret_detail)
{
    PolicySettings n = *s;
    int r;

    if (strcmp(key, "mode") == 0) {
        if (strcmp(value, "dynamic") == 0)
            n.mode = POLICY_MODE_DYNAMIC;
        else if (strcmp(value, "static") == 0)
            n.mode = POLICY_MODE_STATIC;
        else {
            g_autofree char *q = policy_quote(value);

            *ret_detail = g_strdup_printf("expected \"dynamic\" or \"static\", found \"%s\"", q);
            return -EINVAL;
        }
        n.set |= POLICY_FIELD_MODE;
    } else if (strcmp(key, "minimum") == 0 || strcmp(key, "startup") == 0 ||
               strcmp(key, "maximum") == 0) {
        PolicyAmount a;

        r = policy_parse_amount(value, 100, &a, ret_detail);
        if (r < 0)
            return r;
        if (strcmp(key, "minimum") == 0) {
            n.minimum = a;
            n.set |= POLICY_FIELD_MINIMUM;
        } else if (strcmp(key, "startup") == 0) {
            n.startup = a;
            n.set |= POLICY_FIELD_STARTUP;
        } else {
            /* A maximum of nothing would stop the domain entirely; that is
             * what mode: static or shutting it down is for. */
            if (a.value == 0) {
                g_autofree char *q = policy_quote(value);

                *ret_detail = g_strdup_printf("must be above 0, found \"%s\"", q);
                return -ERANGE;
            }
            n.maximum = a;
            n.set |= POLICY_FIELD_MAXIMUM;
        }
    } else if (strcmp(key, "buffer") == 0) {
        r = policy_parse_percent(value, POLICY_BUFFER_MAX_PCT, &n.buffer_pct, ret_detail);
        if (r < 0)
            return r;
        n.set |= POLICY_FIELD_BUFFER;
    } else if (strcmp(key, "burst-headroom") == 0) {
        r = parse_burst_headroom(value, &n.burst_headroom, ret_detail);
        if (r < 0)
            return r;
        n.set |= POLICY_FIELD_BURST_HEADROOM;
    } else if (strcmp(key, "buffer-min") == 0) {
        r = parse_headroom_size(value, &n.buffer_min_kib, ret_detail);
        if (r < 0)
            return r;
        n.set |= POLICY_FIELD_BUFFER_MIN;
    } else if (strcmp(key, "weight") == 0) {
        uint64_t w;

        r = policy_parse_uint(value, 0, POLICY_WEIGHT_MAX, &w, ret_detail);
        if (r < 0)
            return r;
        n.weight = (uint32_t)w;
        n.set |= POLICY_FIELD_WEIGHT;
    } else {
        const char *hint = policy_nearest_key(key, policy_settings_keys);
        g_autofree char *q = policy_quote(key);

        if (hint)
            *ret_detail = g_strdup_printf("unknown key \"%s\"; did you mean \"%s\"?", q, hint);
        else
            *ret_detail = g_strdup_printf("unknown key \"%s\"", q);
        return -ENOENT;
    }
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
    if (top->set & POLICY_FIELD_MODE)
        base->mode = top->mode;
    if (top->set & POLICY_FIELD_MINIMUM)
        base->minimum = top->minimum;
    if (top->set & POLICY_FIELD_STARTUP)
        base->startup = top->startup;
    if (top->set & POLICY_FIELD_MAXIMUM)
        base->maximum = top->maximum;
    if (top->set & POLICY_FIELD_BUFFER)
        base->buffer_pct = top->buffer_pct;
    if (top->set & POLICY_FIELD_WEIGHT)
        base->weight = top->weight;
    if (top->set & POLICY_FIELD_BURST_HEADROOM)
        base->burst_headroom = top->burst_headroom;
    if (top->set & POLICY_FIELD_BUFFER_MIN)
        base->buffer_min_kib = top->buffer_min_kib;
    base->set |= top->set;
}

PolicyConfig *policy_config_new_default(void)
{
    PolicyConfig *cfg = g_new0(PolicyConfig, 1);

    cfg->connect_uri = g_strdup("qemu:///system");
    cfg->interval_us = POLICY_USEC_PER_SEC;

    cfg->reserve = (PolicyAmount){POLICY_AMOUNT_KIB, 2 * POLICY_KIB_PER_GIB};
    cfg->pool_kib = 0;
    cfg->overhead_kib = 64 * POLICY_KIB_PER_MIB;
    cfg->psi_threshold_pct = 10;
    cfg->deflate_reserve_guests = POLICY_DEFLATE_RESERVE_DEFAULT;

    cfg->tuning = (PolicyTuning){
        .grace_us = 60 * POLICY_USEC_PER_SEC,
        .demand_half_life_us = 60 * POLICY_USEC_PER_SEC,
        .min_step_kib = 32 * POLICY_KIB_PER_MIB,
        .min_step_pct = 1,
        .max_shrink_kib = 256 * POLICY_KIB_PER_MIB,
        .uncooperative_timeout_us = 30 * POLICY_USEC_PER_SEC,
        .uncooperative_retry_us = 5 * 60 * POLICY_USEC_PER_SEC,
        .stale_periods = 3,
        .pressure_swap_in_kib_s = POLICY_KIB_PER_MIB,
        .pressure_major_faults_s = 100,
        .pressure_boost_pct = 10,
    };

    /* startup stays unset: a domain boots with its own configured memory. */
    cfg->defaults = (PolicySettings){
        .set = POLICY_FIELD_MODE | POLICY_FIELD_MINIMUM | POLICY_FIELD_MAXIMUM |
               POLICY_FIELD_BUFFER | POLICY_FIELD_WEIGHT | POLICY_FIELD_BURST_HEADROOM |
               POLICY_FIELD_BUFFER_MIN,
        .mode = POLICY_MODE_DYNAMIC,
        .minimum = {POLICY_AMOUNT_KIB, 512 * POLICY_KIB_PER_MIB},
        .startup = {POLICY_AMOUNT_UNSET, 0},
        .maximum = {POLICY_AMOUNT_PERCENT, 100},
        .buffer_pct = POLICY_BUFFER_DEFAULT_PCT,
        .weight = POLICY_WEIGHT_DEFAULT,
        .burst_headroom = {.learn = true, .kib = POLICY_BURST_FLOOR_DEFAULT_KIB},
        .buffer_min_kib = POLICY_BUFFER_MIN_DEFAULT_KIB,
    };
    return cfg;
}

void policy_config_free(PolicyConfig *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_rules; i++)
        g_free(cfg->rules[i].pattern);
    g_free(cfg->rules);
    g_free(cfg->connect_uri);
    g_free(cfg);
}

static bool rule_matches(const PolicyRule *rule, const char *name, const char *uuid)
{
    switch (rule->kind) {
    case POLICY_MATCH_NAME:
        return name && strcmp(rule->pattern, name) == 0;
    case POLICY_MATCH_GLOB:
        return name && fnmatch(rule->pattern, name, 0) == 0;
    case POLICY_MATCH_UUID:
        return uuid && g_ascii_strcasecmp(rule->pattern, uuid) == 0;
    case POLICY_MATCH_LAST:
    default:
        return false;
    }
}

void policy_config_resolve(const PolicyConfig *cfg, const char *name, const char *uuid,
                           const PolicySettings *override, PolicyEffective *ret)
{
    PolicySettings s;
    int rule_index = -1;

    g_return_if_fail(cfg && ret);

    s = cfg->defaults;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        if (rule_matches(&cfg->rules[i], name, uuid)) {
            policy_settings_merge(&s, &cfg->rules[i].settings);
            rule_index = (int)MIN(i, (size_t)INT_MAX);
            break;
        }
    }
    if (override)
        policy_settings_merge(&s, override);

    *ret = (PolicyEffective){
        .mode = s.mode,
        .minimum = s.minimum,
        .startup = (s.set & POLICY_FIELD_STARTUP) ? s.startup : (PolicyAmount){0},
        .maximum = s.maximum,
        .buffer_pct = s.buffer_pct,
        .weight = s.weight,
        .burst_headroom = s.burst_headroom,
        .buffer_min_kib = s.buffer_min_kib,
        .rule_index = rule_index,
        .overridden = override && override->set != 0,
    };
}
