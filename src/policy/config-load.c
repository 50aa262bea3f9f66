/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy file's schema (dynmem-policy.yaml(5)): the tree that
 * yaml-tree.c builds, checked section by section into a PolicyConfig. Every
 * error is collected with its position, not only the first.
 */
#include "config-private.h"
#include "text.h"
#include "yaml-tree.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

typedef PolicyYamlNode Node;
typedef PolicyYamlLoader Loader;
#define NODE_SCALAR  POLICY_YAML_SCALAR
#define NODE_LIST    POLICY_YAML_LIST
#define NODE_MAPPING POLICY_YAML_MAPPING

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
            policy_yaml_add_error(ld, k->line, k->column, "keys in %s must be names, found %s",
                                  where, policy_yaml_node_kind_name(k));
            continue;
        }
        for (idx = 0; keys[idx]; idx++)
            if (strcmp(keys[idx], k->value) == 0)
                break;
        if (!keys[idx]) {
            const char *hint = policy_nearest_key(k->value, keys);
            g_autofree char *q = policy_quote(k->value);

            if (hint)
                policy_yaml_add_error(ld, k->line, k->column,
                                      "unknown key \"%s\" in %s; did you mean \"%s\"?", q, where,
                                      hint);
            else
                policy_yaml_add_error(ld, k->line, k->column, "unknown key \"%s\" in %s", q, where);
            continue;
        }
        if (key_nodes[idx]) {
            /* k->value is one of `keys` here */
            policy_yaml_add_error(ld, k->line, k->column,
                                  "duplicate key \"%s\" in %s (first set on line %u)", k->value,
                                  where, key_nodes[idx]->line);
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
        policy_yaml_add_error(ld, v->line, v->column, "%s in %s must be a single value, found %s",
                              key, where, policy_yaml_node_kind_name(v));
        return NULL;
    }
    if (v->is_null) {
        policy_yaml_add_error(ld, v->line, v->column, "%s in %s has no value", key, where);
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
        policy_yaml_add_error(ld, v->line, v->column, "%s must be a mapping of settings, found %s",
                              where, policy_yaml_node_kind_name(v));
        return false;
    }
    return true;
}

/* Report a value error from a units parser as "key in where: detail". */
static void value_error(Loader *ld, const Node *v, const char *key, const char *where,
                        const char *detail)
{
    policy_yaml_add_error(ld, v->line, v->column, "%s in %s: %s", key, where, detail);
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

        policy_yaml_add_error(ld, v->line, v->column, "%s in %s: %s is out of range %s..%s", key,
                              where, q, lo, hi);
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

        policy_yaml_add_error(ld, v->line, v->column, "%s in %s: must be above 0, found \"%s\"",
                              key, where, q);
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

        policy_yaml_add_error(ld, v->line, v->column,
                              "%s in %s: percentage \"%s\" is out of range %" PRIu32 "..%" PRIu32
                              "%%",
                              key, where, q, min_pct, max_pct);
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
    if (policy_parse_uint(text, min, max, ret, &detail) < 0)
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
                policy_yaml_add_error(ld, v[1]->line, v[1]->column,
                                      "pool in host: %s, or \"unlimited\"", detail);
            else if (kib == 0) {
                g_autofree char *q = policy_quote(text);

                policy_yaml_add_error(
                    ld, v[1]->line, v[1]->column,
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
        if (policy_settings_set_detail(&s, policy_settings_keys[i], text, &detail) < 0) {
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
        policy_yaml_add_error(ld, at->line, at->column, "%s: %s", where, msg);
        return false;
    }
    return true;
}

static void load_defaults(Loader *ld, const Node *map, PolicyConfig *cfg)
{
    const Node *v[MAX_SECTION_KEYS];
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
        policy_yaml_add_error(ld, item->line, item->column,
                              "%s must be a mapping with name:, match: or uuid:, found %s", where,
                              policy_yaml_node_kind_name(item));
        return;
    }
    mapping_fields(ld, item, where, rule_keys, v);

    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (chosen >= 0) {
            policy_yaml_add_error(ld, v[i]->line, v[i]->column,
                                  "%s has both %s: and %s:; use only one", where, rule_keys[chosen],
                                  rule_keys[i]);
            ok = false;
            continue;
        }
        chosen = i;
        pattern = scalar_value(ld, v[i], rule_keys[i], where);
        if (pattern && pattern[0] == '\0') {
            /* name: "" would match nothing and is surely a mistake. */
            policy_yaml_add_error(ld, v[i]->line, v[i]->column, "%s in %s is empty", rule_keys[i],
                                  where);
            pattern = NULL;
        }
        if (!pattern)
            ok = false;
    }
    if (chosen < 0) {
        policy_yaml_add_error(ld, item->line, item->column,
                              "%s needs one of name:, match: or uuid:", where);
        ok = false;
    } else if (pattern && match_kinds[chosen] == POLICY_MATCH_UUID &&
               !g_uuid_string_is_valid(pattern)) {
        g_autofree char *q = policy_quote(pattern);

        policy_yaml_add_error(
            ld, v[chosen]->line, v[chosen]->column,
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
        policy_yaml_add_error(ld, list->line, list->column,
                              "domains must be a list of rules, found %s",
                              policy_yaml_node_kind_name(list));
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
        policy_yaml_add_error(
            ld, root->line, root->column,
            "the top level must be a mapping with daemon:, host:, tuning:, defaults: and "
            "domains:, found %s",
            policy_yaml_node_kind_name(root));
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

int policy_config_load_buf(const char *buf, size_t len, const char *filename,
                           PolicyConfig **ret_cfg, GPtrArray **ret_errors)
{
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    g_autoptr(PolicyYamlNode) root = NULL;
    g_auto(PolicyYamlLoader) ld;
    GPtrArray *out;

    policy_yaml_loader_init(&ld, filename ? filename : "<policy>", "a policy file");
    if (!buf) {
        buf = "";
        len = 0;
    }

    if (policy_yaml_build_tree(&ld, buf, len, &root) && root)
        load_root(&ld, root, cfg);

    if (ld.errors->len == 0) {
        if (ret_cfg)
            *ret_cfg = g_steal_pointer(&cfg);
        return 0;
    }
    out = policy_yaml_loader_take_errors(&ld, true);
    if (ret_errors)
        *ret_errors = out;
    else
        g_ptr_array_unref(out);
    return -EINVAL;
}
