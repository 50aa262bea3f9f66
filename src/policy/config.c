/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model and its YAML loader (see config.h, DESIGN.md §4).
 *
 * Loading happens in two passes. libyaml's event API feeds a small tree of
 * our own (scalars, lists, mappings with their positions); the tree is then
 * checked against the schema. Building our own tree rather than using
 * libyaml's document API lets us refuse anchors and aliases outright (so an
 * alias bomb cannot expand) and stop at a fixed nesting depth (so 10,000 '['
 * cannot exhaust memory or the stack of the recursive schema walk).
 */
#include "config.h"
#include "text.h"
#include "yaml-tree.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

/* Our schema nests three levels (root, domains list, rule). */
#define MAX_DEPTH POLICY_YAML_MAX_DEPTH
/* Beyond this many errors a file is clearly not a policy file; keep the
 * output (and memory) bounded and say how many were left out. */
#define MAX_ERRORS 1000

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_parser_t, yaml_parser_delete)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_event_t, yaml_event_delete)

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
static const char *nearest_key(const char *word, const char *const *keys)
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
static int parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *ret,
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
static int settings_set_detail(PolicySettings *s, const char *key, const char *value,
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

        r = parse_uint(value, 0, POLICY_WEIGHT_MAX, &w, ret_detail);
        if (r < 0)
            return r;
        n.weight = (uint32_t)w;
        n.set |= POLICY_FIELD_WEIGHT;
    } else {
        const char *hint = nearest_key(key, policy_settings_keys);
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

    r = settings_set_detail(s, key, value, &detail);
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

/* ---- describe ----------------------------------------------------------- */

static void describe_settings(GString *out, const char *indent, const PolicySettings *s)
{
    g_autofree char *min = policy_format_amount(&s->minimum);
    g_autofree char *max = policy_format_amount(&s->maximum);
    g_autofree char *startup = (s->set & POLICY_FIELD_STARTUP)
                                   ? policy_format_amount(&s->startup)
                                   : g_strdup("unset (the domain's own memory at boot)");

    g_string_append_printf(out, "%smode: %s\n", indent, policy_mode_to_string(s->mode));
    g_string_append_printf(out, "%sminimum: %s\n", indent, min);
    g_string_append_printf(out, "%sstartup: %s\n", indent, startup);
    g_string_append_printf(out, "%smaximum: %s\n", indent, max);
    g_string_append_printf(out, "%sbuffer: %" PRIu32 "%%\n", indent, s->buffer_pct);
    g_string_append_printf(out, "%sweight: %" PRIu32 "\n", indent, s->weight);
    {
        g_autofree char *burst = policy_burst_headroom_format(&s->burst_headroom);
        g_autofree char *bmin = policy_format_size_kib(s->buffer_min_kib);

        g_string_append_printf(out, "%sburst-headroom: %s\n", indent, burst);
        g_string_append_printf(out, "%sbuffer-min: %s\n", indent, bmin);
    }
}

static void append_size(GString *out, const char *key, uint64_t kib)
{
    g_autofree char *t = policy_format_size_kib(kib);

    g_string_append_printf(out, "  %s: %s\n", key, t);
}

static void append_duration(GString *out, const char *key, uint64_t us)
{
    g_autofree char *t = policy_format_duration_us(us);

    g_string_append_printf(out, "  %s: %s\n", key, t);
}

char *policy_config_describe(const PolicyConfig *cfg)
{
    static const char *const match_keys[] = {"name", "match", "uuid"};
    GString *out;
    const PolicyTuning *t;
    g_autofree char *reserve = NULL;

    g_return_val_if_fail(cfg, NULL);

    out = g_string_new(NULL);
    t = &cfg->tuning;
    reserve = policy_format_amount(&cfg->reserve);

    g_string_append(out, "daemon:\n");
    g_string_append_printf(out, "  connect: %s\n", cfg->connect_uri);
    append_duration(out, "interval", cfg->interval_us);

    g_string_append(out, "host:\n");
    g_string_append_printf(out, "  reserve: %s%s\n", reserve,
                           cfg->reserve.kind == POLICY_AMOUNT_PERCENT ? " of MemTotal" : "");
    if (cfg->pool_kib == 0)
        g_string_append(out, "  pool: unlimited\n");
    else
        append_size(out, "pool", cfg->pool_kib);
    append_size(out, "overhead", cfg->overhead_kib);
    g_string_append_printf(out, "  psi-threshold: %" PRIu32 "%%\n", cfg->psi_threshold_pct);
    g_string_append_printf(out, "  deflate-reserve: %" PRIu32 " guests\n",
                           cfg->deflate_reserve_guests);

    g_string_append(out, "tuning:\n");
    append_duration(out, "grace", t->grace_us);
    append_duration(out, "demand-half-life", t->demand_half_life_us);
    append_size(out, "min-step", t->min_step_kib);
    g_string_append_printf(out, "  min-step-percent: %" PRIu32 "%%\n", t->min_step_pct);
    append_size(out, "max-shrink", t->max_shrink_kib);
    append_duration(out, "uncooperative-timeout", t->uncooperative_timeout_us);
    append_duration(out, "uncooperative-retry", t->uncooperative_retry_us);
    g_string_append_printf(out, "  stale-periods: %" PRIu32 "\n", t->stale_periods);
    {
        g_autofree char *swap = policy_format_size_kib(t->pressure_swap_in_kib_s);

        g_string_append_printf(out, "  pressure-swap-in: %s/s\n", swap);
    }
    g_string_append_printf(out, "  pressure-major-faults: %" PRIu64 "/s\n",
                           t->pressure_major_faults_s);
    g_string_append_printf(out, "  pressure-boost: %" PRIu32 "%%\n", t->pressure_boost_pct);

    g_string_append(out, "defaults:\n");
    describe_settings(out, "  ", &cfg->defaults);

    if (cfg->n_rules == 0) {
        g_string_append(out, "domains: no rules; every domain uses the defaults\n");
        return g_string_free(out, FALSE);
    }
    g_string_append_printf(out, "domains: %zu rule%s, first match wins\n", cfg->n_rules,
                           cfg->n_rules == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const PolicyRule *rule = &cfg->rules[i];
        PolicySettings eff = cfg->defaults;
        g_autofree char *pattern = policy_quote(rule->pattern);

        g_string_append_printf(out, "  domains[%zu] (line %u): %s \"%s\"\n", i, rule->line,
                               rule->kind < POLICY_MATCH_LAST ? match_keys[rule->kind] : "?",
                               pattern);
        g_string_append(out, "    sets:");
        if (rule->settings.set == 0)
            g_string_append(out, " nothing (the defaults apply)");
        for (size_t k = 0, n = 0; policy_settings_keys[k]; k++)
            if (rule->settings.set & (1u << k))
                g_string_append_printf(out, "%s %s", n++ ? "," : "", policy_settings_keys[k]);
        g_string_append_c(out, '\n');
        policy_settings_merge(&eff, &rule->settings);
        describe_settings(out, "    ", &eff);
    }
    return g_string_free(out, FALSE);
}

/* ---- the YAML tree -------------------------------------------------------- */

/* The tree's types are shared with the overrides reader (yaml-tree.h). */
typedef struct PolicyYamlNode Node;
typedef PolicyYamlKind NodeKind;
#define NODE_SCALAR  POLICY_YAML_SCALAR
#define NODE_LIST    POLICY_YAML_LIST
#define NODE_MAPPING POLICY_YAML_MAPPING

void policy_yaml_node_free(Node *n)
{
    if (!n)
        return;
    g_free(n->value);
    if (n->items)
        g_ptr_array_unref(n->items);
    g_free(n);
}
#define node_free policy_yaml_node_free

static const char *node_kind_name(const Node *n)
{
    switch (n->kind) {
    case NODE_LIST:
        return "a list";
    case NODE_MAPPING:
        return "a mapping";
    case NODE_SCALAR:
    default:
        return n->is_null ? "nothing" : "a single value";
    }
}

typedef struct {
    unsigned line, column;
    char *message;
} LoadError;

typedef struct {
    const char *filename;
    GArray *errors; /* LoadError */
    size_t n_dropped;
    const char *what; /* "a policy file", for the tree's messages */
} Loader;

static void load_error_clear(gpointer p)
{
    LoadError *e = p;

    g_free(e->message);
}

static void add_error(Loader *ld, unsigned line, unsigned column, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static void add_error(Loader *ld, unsigned line, unsigned column, const char *fmt, ...)
{
    LoadError e = {line, column, NULL};
    va_list ap;

    if (ld->errors->len >= MAX_ERRORS) {
        ld->n_dropped++;
        return;
    }
    va_start(ap, fmt);
    e.message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_array_append_val(ld->errors, e);
}

/* Line and column (1-based, counted in characters) of a byte offset. */
static void offset_position(const char *buf, size_t len, size_t offset, unsigned *ret_line,
                            unsigned *ret_column)
{
    unsigned line = 1, column = 1;

    for (size_t i = 0; i < offset && i < len; i++) {
        if (buf[i] == '\n') {
            line++;
            column = 1;
        } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
            column++;
        }
    }
    *ret_line = line;
    *ret_column = column;
}

/* The byte at a libyaml mark (0-based line and character column), or -1. */
static int byte_at_mark(const char *buf, size_t len, const yaml_mark_t *mark)
{
    size_t i = 0, line = 0, column = 0;

    while (i < len && line < mark->line)
        if (buf[i++] == '\n')
            line++;
    while (i < len && column < mark->column && buf[i] != '\n') {
        i++;
        while (i < len && ((unsigned char)buf[i] & 0xc0) == 0x80)
            i++;
        column++;
    }
    return i < len ? (unsigned char)buf[i] : -1;
}

static void report_yaml_error(Loader *ld, const yaml_parser_t *parser, const char *buf, size_t len)
{
    const char *problem = parser->problem ? parser->problem : "unknown error";
    unsigned line, column;

    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        add_error(ld, 0, 0, "out of memory while parsing");
        return;
    case YAML_READER_ERROR:
        /* Reader errors (bad UTF-8, control characters) carry a byte
         * offset rather than a mark. */
        offset_position(buf, len, parser->problem_offset, &line, &column);
        if (parser->problem_value >= 0)
            add_error(ld, line, column, "invalid text: %s (byte 0x%02X)", problem,
                      (unsigned)parser->problem_value);
        else
            add_error(ld, line, column, "invalid text: %s", problem);
        return;
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    default:
        line = (unsigned)MIN(parser->problem_mark.line, (size_t)UINT_MAX - 1) + 1;
        column = (unsigned)MIN(parser->problem_mark.column, (size_t)UINT_MAX - 1) + 1;
        /* libyaml's problem text does not say why a tab cannot start a
         * token; say it, since it is the most common mistake. */
        add_error(ld, line, column, "YAML syntax error%s%s: %s%s", parser->context ? " " : "",
                  parser->context ? parser->context : "", problem,
                  byte_at_mark(buf, len, &parser->problem_mark) == '\t'
                      ? " (a tab; indent with spaces)"
                      : "");
        return;
    }
}

static Node *node_new(NodeKind kind, const yaml_mark_t *mark)
{
    Node *n = g_new0(Node, 1);

    n->kind = kind;
    n->line = (unsigned)MIN(mark->line, (size_t)UINT_MAX - 1) + 1;
    n->column = (unsigned)MIN(mark->column, (size_t)UINT_MAX - 1) + 1;
    if (kind != NODE_SCALAR)
        n->items = g_ptr_array_new_with_free_func((GDestroyNotify)node_free);
    return n;
}

/* Anchors and tags are YAML features a policy never needs; refusing them
 * keeps the accepted language small and alias expansion impossible. */
static void check_anchor_tag(Loader *ld, const Node *n, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    if (anchor) {
        g_autofree char *q = policy_quote((const char *)anchor);

        add_error(ld, n->line, n->column, "anchor &%s: anchors and aliases are not supported in %s",
                  q, ld->what);
    }
    if (tag) {
        g_autofree char *q = policy_quote((const char *)tag);

        add_error(ld, n->line, n->column, "YAML tags (%s) are not supported in %s", q, ld->what);
    }
}

static bool scalar_is_null(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Parse the buffer into a tree. Returns false when the text is not usable
 * YAML (errors added); *ret_root is NULL for an empty stream. */
static bool build_tree(Loader *ld, const char *buf, size_t len, Node **ret_root)
{
    g_auto(yaml_parser_t) parser = {0};
    g_autoptr(GPtrArray) stack = g_ptr_array_new();
    g_autoptr(PolicyYamlNode) root = NULL;
    unsigned n_documents = 0;

    if (!yaml_parser_initialize(&parser)) {
        add_error(ld, 0, 0, "out of memory while parsing");
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    for (;;) {
        g_auto(yaml_event_t) ev = {0};
        Node *n = NULL;

        if (!yaml_parser_parse(&parser, &ev)) {
            report_yaml_error(ld, &parser, buf, len);
            return false;
        }

        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            *ret_root = g_steal_pointer(&root);
            return true;
        case YAML_DOCUMENT_START_EVENT:
            if (++n_documents > 1) {
                add_error(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                          "%s holds one YAML document; found a second one", ld->what);
                return false;
            }
            continue;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (stack->len > 0)
                g_ptr_array_set_size(stack, stack->len - 1);
            continue;
        case YAML_SCALAR_EVENT:
            n = node_new(NODE_SCALAR, &ev.start_mark);
            n->value = g_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->is_null = scalar_is_null(&ev);
            check_anchor_tag(ld, n, ev.data.scalar.anchor, ev.data.scalar.tag);
            if (strlen(n->value) != ev.data.scalar.length) {
                add_error(ld, n->line, n->column, "a value contains a NUL character");
                n->bad = true;
            }
            break;
        case YAML_ALIAS_EVENT: {
            g_autofree char *q = policy_quote((const char *)ev.data.alias.anchor);

            n = node_new(NODE_SCALAR, &ev.start_mark);
            n->value = g_strdup("");
            n->bad = true;
            add_error(ld, n->line, n->column,
                      "alias *%s: anchors and aliases are not supported in %s", q, ld->what);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (stack->len >= MAX_DEPTH) {
                add_error(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                          "nesting is deeper than %d levels; %s needs 3", MAX_DEPTH, ld->what);
                return false;
            }
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                n = node_new(NODE_LIST, &ev.start_mark);
                check_anchor_tag(ld, n, ev.data.sequence_start.anchor, ev.data.sequence_start.tag);
            } else {
                n = node_new(NODE_MAPPING, &ev.start_mark);
                check_anchor_tag(ld, n, ev.data.mapping_start.anchor, ev.data.mapping_start.tag);
            }
            break;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
        default:
            continue;
        }

        /* Attach the new node to its parent (or make it the root), then
         * descend into it if it is a container. */
        if (stack->len > 0)
            g_ptr_array_add(((Node *)g_ptr_array_index(stack, stack->len - 1))->items, n);
        else {
            node_free(root);
            root = n;
        }
        if (n->kind != NODE_SCALAR)
            g_ptr_array_add(stack, n);
    }
}

/* ---- the schema ------------------------------------------------------------ */

static const char *const top_keys[] = {"daemon", "host", "tuning", "defaults", "domains", NULL};
static const char *const daemon_keys[] = {"connect", "interval", NULL};
static const char *const host_keys[] = {"reserve",         "pool", "overhead", "psi-threshold",
                                        "deflate-reserve", NULL};
static const char *const tuning_keys[] = {
    "grace",
    "demand-half-life",
    "min-step",
    "min-step-percent",
    "max-shrink",
    "uncooperative-timeout",
    "uncooperative-retry",
    "stale-periods",
    "pressure-swap-in",
    "pressure-major-faults",
    "pressure-boost",
    NULL,
};
static const char *const rule_keys[] = {
    "name",    "match",  "uuid",   "mode",           "minimum",    "startup",
    "maximum", "buffer", "weight", "burst-headroom", "buffer-min", NULL,
};

#define MAX_SECTION_KEYS 16

/* Check a mapping's keys against `keys`: report keys that are not scalars,
 * unknown keys (with the nearest known one) and duplicates. ret_values[i]
 * is the value node of keys[i], or NULL when the key is absent. */
static void mapping_fields(Loader *ld, const Node *map, const char *where, const char *const *keys,
                           const Node **ret_values)
{
    const Node *key_nodes[MAX_SECTION_KEYS] = {0};

    for (size_t i = 0; keys[i]; i++)
        ret_values[i] = NULL;

    for (size_t i = 0; i + 1 < map->items->len; i += 2) {
        const Node *k = g_ptr_array_index(map->items, i);
        const Node *v = g_ptr_array_index(map->items, i + 1);
        size_t idx;

        if (k->bad)
            continue;
        if (k->kind != NODE_SCALAR || k->is_null) {
            add_error(ld, k->line, k->column, "keys in %s must be names, found %s", where,
                      node_kind_name(k));
            continue;
        }
        for (idx = 0; keys[idx]; idx++)
            if (strcmp(keys[idx], k->value) == 0)
                break;
        if (!keys[idx]) {
            const char *hint = nearest_key(k->value, keys);
            g_autofree char *q = policy_quote(k->value);

            if (hint)
                add_error(ld, k->line, k->column, "unknown key \"%s\" in %s; did you mean \"%s\"?",
                          q, where, hint);
            else
                add_error(ld, k->line, k->column, "unknown key \"%s\" in %s", q, where);
            continue;
        }
        if (key_nodes[idx]) {
            /* k->value is one of `keys` here */
            add_error(ld, k->line, k->column, "duplicate key \"%s\" in %s (first set on line %u)",
                      k->value, where, key_nodes[idx]->line);
            continue;
        }
        key_nodes[idx] = k;
        ret_values[idx] = v;
    }
}

/* The text of a value that must be a single scalar, or NULL (error added). */
static const char *scalar_value(Loader *ld, const Node *v, const char *key, const char *where)
{
    if (v->bad)
        return NULL;
    if (v->kind != NODE_SCALAR) {
        add_error(ld, v->line, v->column, "%s in %s must be a single value, found %s", key, where,
                  node_kind_name(v));
        return NULL;
    }
    if (v->is_null) {
        add_error(ld, v->line, v->column, "%s in %s has no value", key, where);
        return NULL;
    }
    return v->value;
}

/* A section that must be a mapping; a missing or empty one is fine. */
static bool section_mapping(Loader *ld, const Node *v, const char *where)
{
    if (!v || v->bad || (v->kind == NODE_SCALAR && v->is_null))
        return false;
    if (v->kind != NODE_MAPPING) {
        add_error(ld, v->line, v->column, "%s must be a mapping of settings, found %s", where,
                  node_kind_name(v));
        return false;
    }
    return true;
}

/* Report a value error from a units parser as "key in where: detail". */
static void value_error(Loader *ld, const Node *v, const char *key, const char *where,
                        const char *detail)
{
    add_error(ld, v->line, v->column, "%s in %s: %s", key, where, detail);
}

static void get_duration(Loader *ld, const Node *v, const char *key, const char *where,
                         uint64_t min_us, uint64_t max_us, uint64_t *ret_us)
{
    g_autofree char *detail = NULL;
    const char *text;
    uint64_t us;

    if (!v || !(text = scalar_value(ld, v, key, where)))
        return;
    if (policy_parse_duration_us(text, &us, &detail) < 0) {
        value_error(ld, v, key, where, detail);
        return;
    }
    if (us < min_us || us > max_us) {
        g_autofree char *lo = policy_format_duration_us(min_us);
        g_autofree char *hi = policy_format_duration_us(max_us);
        g_autofree char *q = policy_quote(text);

        add_error(ld, v->line, v->column, "%s in %s: %s is out of range %s..%s", key, where, q, lo,
                  hi);
        return;
    }
    *ret_us = us;
}

static void get_size(Loader *ld, const Node *v, const char *key, const char *where,
                     uint64_t min_kib, uint64_t *ret_kib)
{
    g_autofree char *detail = NULL;
    const char *text;
    uint64_t kib;

    if (!v || !(text = scalar_value(ld, v, key, where)))
        return;
    if (policy_parse_size_kib(text, &kib, &detail) < 0) {
        value_error(ld, v, key, where, detail);
        return;
    }
    if (kib < min_kib) {
        g_autofree char *q = policy_quote(text);

        add_error(ld, v->line, v->column, "%s in %s: must be above 0, found \"%s\"", key, where, q);
        return;
    }
    *ret_kib = kib;
}

static void get_percent(Loader *ld, const Node *v, const char *key, const char *where,
                        uint32_t min_pct, uint32_t max_pct, uint32_t *ret_pct)
{
    g_autofree char *detail = NULL;
    const char *text;
    uint32_t pct;

    if (!v || !(text = scalar_value(ld, v, key, where)))
        return;
    if (policy_parse_percent(text, max_pct, &pct, &detail) < 0) {
        value_error(ld, v, key, where, detail);
        return;
    }
    if (pct < min_pct) {
        g_autofree char *q = policy_quote(text);

        add_error(ld, v->line, v->column,
                  "%s in %s: percentage \"%s\" is out of range %" PRIu32 "..%" PRIu32 "%%", key,
                  where, q, min_pct, max_pct);
        return;
    }
    *ret_pct = pct;
}

static void get_uint(Loader *ld, const Node *v, const char *key, const char *where, uint64_t min,
                     uint64_t max, uint64_t *ret)
{
    g_autofree char *detail = NULL;
    const char *text;

    if (!v || !(text = scalar_value(ld, v, key, where)))
        return;
    if (parse_uint(text, min, max, ret, &detail) < 0)
        value_error(ld, v, key, where, detail);
}

static void load_daemon(Loader *ld, const Node *map, PolicyConfig *cfg)
{
    const Node *v[G_N_ELEMENTS(daemon_keys)];
    const char *text;

    mapping_fields(ld, map, "daemon", daemon_keys, v);
    if (v[0] && (text = scalar_value(ld, v[0], "connect", "daemon"))) {
        g_free(cfg->connect_uri);
        cfg->connect_uri = g_strdup(text);
    }
    /* Faster than 100ms is more libvirt traffic than information; slower
     * than an hour is not balancing. */
    get_duration(ld, v[1], "interval", "daemon", 100 * 1000, 3600 * POLICY_USEC_PER_SEC,
                 &cfg->interval_us);
}

static void load_host(Loader *ld, const Node *map, PolicyConfig *cfg)
{
    const Node *v[G_N_ELEMENTS(host_keys)];
    const char *text;

    mapping_fields(ld, map, "host", host_keys, v);
    if (v[0] && (text = scalar_value(ld, v[0], "reserve", "host"))) {
        g_autofree char *detail = NULL;
        PolicyAmount a;

        /* Reserving more than 90% of the host leaves nothing to balance. */
        if (policy_parse_amount(text, 90, &a, &detail) < 0)
            value_error(ld, v[0], "reserve", "host", detail);
        else
            cfg->reserve = a;
    }
    if (v[1] && (text = scalar_value(ld, v[1], "pool", "host"))) {
        if (strcmp(text, "unlimited") == 0) {
            cfg->pool_kib = 0;
        } else {
            g_autofree char *detail = NULL;
            uint64_t kib;

            if (policy_parse_size_kib(text, &kib, &detail) < 0)
                add_error(ld, v[1]->line, v[1]->column, "pool in host: %s, or \"unlimited\"",
                          detail);
            else if (kib == 0) {
                g_autofree char *q = policy_quote(text);

                add_error(ld, v[1]->line, v[1]->column,
                          "pool in host: must be above 0, found \"%s\" (write \"unlimited\" for "
                          "no cap)",
                          q);
            } else
                cfg->pool_kib = kib;
        }
    }
    get_size(ld, v[2], "overhead", "host", 0, &cfg->overhead_kib);
    /* 0% would block growth even on an idle host. */
    get_percent(ld, v[3], "psi-threshold", "host", 1, 100, &cfg->psi_threshold_pct);
    {
        uint64_t u = cfg->deflate_reserve_guests;

        get_uint(ld, v[4], "deflate-reserve", "host", 0, 64, &u);
        cfg->deflate_reserve_guests = (uint32_t)u;
    }
}

static void load_tuning(Loader *ld, const Node *map, PolicyConfig *cfg)
{
    const Node *v[G_N_ELEMENTS(tuning_keys)];
    PolicyTuning *t = &cfg->tuning;
    const uint64_t sec = POLICY_USEC_PER_SEC, day = 24 * 3600 * POLICY_USEC_PER_SEC;
    uint64_t u;

    mapping_fields(ld, map, "tuning", tuning_keys, v);
    get_duration(ld, v[0], "grace", "tuning", 0, day, &t->grace_us);
    get_duration(ld, v[1], "demand-half-life", "tuning", 100 * 1000, day, &t->demand_half_life_us);
    get_size(ld, v[2], "min-step", "tuning", 0, &t->min_step_kib);
    get_percent(ld, v[3], "min-step-percent", "tuning", 0, 100, &t->min_step_pct);
    /* The engine reads 0 as "no cap" (the invariant tests use that); a
     * policy file always bounds how fast a domain is shrunk. */
    get_size(ld, v[4], "max-shrink", "tuning", 1, &t->max_shrink_kib);
    get_duration(ld, v[5], "uncooperative-timeout", "tuning", sec, 3600 * sec,
                 &t->uncooperative_timeout_us);
    get_duration(ld, v[6], "uncooperative-retry", "tuning", sec, day, &t->uncooperative_retry_us);
    u = t->stale_periods;
    get_uint(ld, v[7], "stale-periods", "tuning", 1, 100, &u);
    t->stale_periods = (uint32_t)u;
    get_size(ld, v[8], "pressure-swap-in", "tuning", 0, &t->pressure_swap_in_kib_s);
    get_uint(ld, v[9], "pressure-major-faults", "tuning", 0, UINT32_MAX,
             &t->pressure_major_faults_s);
    get_percent(ld, v[10], "pressure-boost", "tuning", 0, 1000, &t->pressure_boost_pct);
}

/* Read the per-domain keys of a layer (defaults or a rule). `v` holds the
 * value nodes of policy_settings_keys, in that order. Returns false when a
 * value was rejected. */
static bool load_settings(Loader *ld, const Node *const *v, const char *where, PolicySettings *ret)
{
    PolicySettings s = {0};
    bool ok = true;

    for (size_t i = 0; policy_settings_keys[i]; i++) {
        g_autofree char *detail = NULL;
        const char *text;

        if (!v[i])
            continue;
        text = scalar_value(ld, v[i], policy_settings_keys[i], where);
        if (!text) {
            ok = false;
            continue;
        }
        if (settings_set_detail(&s, policy_settings_keys[i], text, &detail) < 0) {
            value_error(ld, v[i], policy_settings_keys[i], where, detail);
            ok = false;
        }
    }
    *ret = s;
    return ok;
}

static bool check_layer(Loader *ld, const Node *at, const char *where, const PolicySettings *s)
{
    g_autofree char *msg = NULL;

    if (policy_settings_validate(s, &msg) < 0) {
        add_error(ld, at->line, at->column, "%s: %s", where, msg);
        return false;
    }
    return true;
}

static void load_defaults(Loader *ld, const Node *map, PolicyConfig *cfg)
{
    const Node *v[G_N_ELEMENTS(policy_settings_keys)];
    PolicySettings layer;
    bool ok;

    mapping_fields(ld, map, "defaults", policy_settings_keys, v);
    /* The values that were valid are still checked against each other, so
     * that one run reports every problem. */
    ok = load_settings(ld, v, "defaults", &layer);
    if (!check_layer(ld, map, "defaults", &layer) || !ok)
        return;
    /* The file's defaults lie over the built-in ones; the result must hold
     * too (e.g. minimum: 2GiB against a built-in maximum given as a size). */
    policy_settings_merge(&cfg->defaults, &layer);
    check_layer(ld, map, "defaults, with the built-in defaults", &cfg->defaults);
}

static void load_rule(Loader *ld, const Node *item, size_t index, PolicyConfig *cfg, GArray *rules)
{
    static const PolicyMatchKind match_kinds[] = {POLICY_MATCH_NAME, POLICY_MATCH_GLOB,
                                                  POLICY_MATCH_UUID};
    const Node *v[G_N_ELEMENTS(rule_keys)];
    g_autofree char *where = g_strdup_printf("domains[%zu]", index);
    PolicyRule rule = {0};
    const char *pattern = NULL;
    int chosen = -1;
    bool ok = true;

    if (item->bad)
        return;
    if (item->kind != NODE_MAPPING) {
        add_error(ld, item->line, item->column,
                  "%s must be a mapping with name:, match: or uuid:, found %s", where,
                  node_kind_name(item));
        return;
    }
    mapping_fields(ld, item, where, rule_keys, v);

    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (chosen >= 0) {
            add_error(ld, v[i]->line, v[i]->column, "%s has both %s: and %s:; use only one", where,
                      rule_keys[chosen], rule_keys[i]);
            ok = false;
            continue;
        }
        chosen = i;
        pattern = scalar_value(ld, v[i], rule_keys[i], where);
        if (pattern && pattern[0] == '\0') {
            /* name: "" would match nothing and is surely a mistake. */
            add_error(ld, v[i]->line, v[i]->column, "%s in %s is empty", rule_keys[i], where);
            pattern = NULL;
        }
        if (!pattern)
            ok = false;
    }
    if (chosen < 0) {
        add_error(ld, item->line, item->column, "%s needs one of name:, match: or uuid:", where);
        ok = false;
    } else if (pattern && match_kinds[chosen] == POLICY_MATCH_UUID &&
               !g_uuid_string_is_valid(pattern)) {
        g_autofree char *q = policy_quote(pattern);

        add_error(ld, v[chosen]->line, v[chosen]->column,
                  "uuid in %s: expected a UUID such as 4dea22b3-1d52-d8f3-2516-782e98ab3fa0, "
                  "found \"%s\"",
                  where, q);
        ok = false;
    }

    if (!load_settings(ld, v + 3, where, &rule.settings))
        ok = false;
    if (!check_layer(ld, item, where, &rule.settings))
        ok = false;
    else if (ok) {
        PolicySettings merged = cfg->defaults;
        g_autofree char *w = g_strdup_printf("%s, with the defaults", where);

        policy_settings_merge(&merged, &rule.settings);
        if (!check_layer(ld, item, w, &merged))
            ok = false;
    }
    if (!ok || !pattern)
        return;

    rule.kind = match_kinds[chosen];
    rule.pattern =
        rule.kind == POLICY_MATCH_UUID ? g_ascii_strdown(pattern, -1) : g_strdup(pattern);
    rule.line = item->line;
    g_array_append_val(rules, rule);
}

static void load_domains(Loader *ld, const Node *list, PolicyConfig *cfg)
{
    g_autoptr(GArray) rules = NULL;
    size_t n;

    if (list->bad || (list->kind == NODE_SCALAR && list->is_null))
        return;
    if (list->kind != NODE_LIST) {
        add_error(ld, list->line, list->column, "domains must be a list of rules, found %s",
                  node_kind_name(list));
        return;
    }
    rules = g_array_sized_new(FALSE, TRUE, sizeof(PolicyRule), list->items->len);
    for (size_t i = 0; i < list->items->len; i++)
        load_rule(ld, g_ptr_array_index(list->items, i), i, cfg, rules);

    cfg->rules = g_array_steal(rules, &n);
    cfg->n_rules = n;
}

static void load_root(Loader *ld, const Node *root, PolicyConfig *cfg)
{
    const Node *v[G_N_ELEMENTS(top_keys)];

    if (root->bad || (root->kind == NODE_SCALAR && root->is_null))
        return;
    if (root->kind != NODE_MAPPING) {
        add_error(ld, root->line, root->column,
                  "the top level must be a mapping with daemon:, host:, tuning:, defaults: and "
                  "domains:, found %s",
                  node_kind_name(root));
        return;
    }
    mapping_fields(ld, root, "the top level", top_keys, v);
    if (section_mapping(ld, v[0], "daemon"))
        load_daemon(ld, v[0], cfg);
    if (section_mapping(ld, v[1], "host"))
        load_host(ld, v[1], cfg);
    if (section_mapping(ld, v[2], "tuning"))
        load_tuning(ld, v[2], cfg);
    /* Rules are checked merged over the defaults, so defaults come first. */
    if (section_mapping(ld, v[3], "defaults"))
        load_defaults(ld, v[3], cfg);
    if (v[4])
        load_domains(ld, v[4], cfg);
}

static gint compare_errors(gconstpointer a, gconstpointer b)
{
    const LoadError *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return 0;
}

/* The loader's errors as strings in file order: "file:line:column: message"
 * (with_file), or "line:column: message". */
static GPtrArray *loader_take_errors(Loader *ld, bool with_file)
{
    GPtrArray *out;

    /* Report in file order; g_array_sort is a stable merge sort, so errors
     * at one position keep the order they were found in. */
    g_array_sort(ld->errors, compare_errors);
    out = g_ptr_array_new_full(ld->errors->len + 1, g_free);
    for (size_t i = 0; i < ld->errors->len; i++) {
        const LoadError *e = &g_array_index(ld->errors, LoadError, i);

        if (!with_file)
            g_ptr_array_add(out, g_strdup_printf("%u:%u: %s", e->line, e->column, e->message));
        else if (e->line == 0)
            g_ptr_array_add(out, g_strdup_printf("%s: %s", ld->filename, e->message));
        else
            g_ptr_array_add(
                out, g_strdup_printf("%s:%u:%u: %s", ld->filename, e->line, e->column, e->message));
    }
    if (ld->n_dropped > 0)
        g_ptr_array_add(
            out, with_file
                     ? g_strdup_printf("%s: %zu more errors not shown", ld->filename, ld->n_dropped)
                     : g_strdup_printf("%zu more errors not shown", ld->n_dropped));
    return out;
}

int policy_config_load_buf(const char *buf, size_t len, const char *filename,
                           PolicyConfig **ret_cfg, GPtrArray **ret_errors)
{
    g_autoptr(GArray) errors = g_array_new(FALSE, FALSE, sizeof(LoadError));
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    g_autoptr(PolicyYamlNode) root = NULL;
    Loader ld = {filename ? filename : "<policy>", errors, 0, "a policy file"};
    GPtrArray *out;

    g_array_set_clear_func(errors, load_error_clear);
    if (!buf) {
        buf = "";
        len = 0;
    }

    if (build_tree(&ld, buf, len, &root) && root)
        load_root(&ld, root, cfg);

    if (errors->len == 0) {
        if (ret_cfg)
            *ret_cfg = g_steal_pointer(&cfg);
        return 0;
    }
    out = loader_take_errors(&ld, true);
    if (ret_errors)
        *ret_errors = out;
    else
        g_ptr_array_unref(out);
    return -EINVAL;
}

int policy_yaml_parse(const char *buf, size_t len, const char *what, PolicyYamlNode **ret_root,
                      GPtrArray **ret_errors)
{
    g_autoptr(GArray) errors = g_array_new(FALSE, FALSE, sizeof(LoadError));
    g_autoptr(PolicyYamlNode) root = NULL;
    Loader ld = {NULL, errors, 0, what ? what : "this file"};

    g_array_set_clear_func(errors, load_error_clear);
    if (build_tree(&ld, buf ? buf : "", buf ? len : 0, &root) && errors->len == 0) {
        *ret_root = g_steal_pointer(&root);
        return 0;
    }
    *ret_errors = loader_take_errors(&ld, false);
    return -EINVAL;
}
