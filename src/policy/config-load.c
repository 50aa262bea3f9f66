/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy file's schema (dynmem-policy.yaml(5)): the tree that
 * yaml-tree.c builds, checked section by section into a PolicyConfig, each
 * key as its row in settings.h says. Every error is collected with its
 * position, not only the first.
 */
#include "config-private.h"
#include "settings.h"
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
#define MAX_SECTION_KEYS POLICY_MAX_SECTION_KEYS

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

/* daemon:, host: or tuning:, each key as its row in policy_global_keys
 * says. */
static void load_section(Loader *ld, const Node *map, const char *section, PolicyConfig *cfg)
{
    const char *names[MAX_SECTION_KEYS + 1];
    const Node *v[MAX_SECTION_KEYS];
    size_t n = policy_key_names(section, names, 0), i = 0;

    mapping_fields(ld, map, section, names, v);
    for (const PolicyKey *k = policy_global_keys; k->name && i < n; k++) {
        g_autofree char *detail = NULL;
        const char *text;

        if (strcmp(k->section, section) != 0)
            continue;
        if (v[i] && (text = scalar_value(ld, v[i], k->name, section)) &&
            policy_key_parse(k, text, cfg, &detail) < 0)
            value_error(ld, v[i], k->name, section, detail);
        i++;
    }
}

/* Read the per-domain keys of a layer (defaults or a rule). `v` holds the
 * value nodes of the first n rows of policy_domain_keys, in that order.
 * Returns false when a value was rejected. */
static bool load_settings(Loader *ld, const Node *const *v, size_t n, const char *where,
                          PolicySettings *ret)
{
    PolicySettings s = {0};
    bool ok = true;

    for (size_t i = 0; i < n && policy_domain_keys[i].name; i++) {
        const PolicyKey *k = &policy_domain_keys[i];
        g_autofree char *detail = NULL;
        const char *text;

        if (!v[i])
            continue;
        text = scalar_value(ld, v[i], k->name, where);
        if (!text) {
            ok = false;
            continue;
        }
        if (policy_key_parse(k, text, &s, &detail) < 0) {
            value_error(ld, v[i], k->name, where, detail);
            ok = false;
        } else
            s.set |= k->field;
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
    const char *names[MAX_SECTION_KEYS + 1];
    const Node *v[MAX_SECTION_KEYS];
    size_t n = policy_key_names(NULL, names, 0);
    PolicySettings layer;
    bool ok;

    mapping_fields(ld, map, "defaults", names, v);
    /* The values that were valid are still checked against each other, so
     * that one run reports every problem. */
    ok = load_settings(ld, v, n, "defaults", &layer);
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
    const char *rule_keys[MAX_SECTION_KEYS + 1] = {"name", "match", "uuid"};
    size_t n = policy_key_names(NULL, rule_keys, 3); /* the per-domain keys */
    const Node *v[MAX_SECTION_KEYS];
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

    if (!load_settings(ld, v + 3, n, where, &rule.settings))
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
    for (size_t i = 0; i < 3; i++)
        if (section_mapping(ld, v[i], top_keys[i]))
            load_section(ld, v[i], top_keys[i], cfg);
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
