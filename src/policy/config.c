/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model (see config.h, DESIGN.md §4): the built-in defaults and
 * how a domain's effective policy is resolved. The keys and their values
 * are in settings.c, the YAML schema in config-load.c, the printout in
 * config-describe.c.
 */
#include "config.h"
#include "settings.h"
#include "text.h"

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <string.h>

/* A built-in default that does not parse is a bug in the tables, which
 * test-config's test_defaults would show. */
static void set_default(const PolicyKey *k, void *base)
{
    g_autofree char *detail = NULL;

    if (k->default_text && policy_key_parse(k, k->default_text, base, &detail) < 0)
        g_critical("built-in default of %s: %s", k->name, detail);
}

PolicyConfig *policy_config_new_default(void)
{
    PolicyConfig *cfg = g_new0(PolicyConfig, 1);

    for (const PolicyKey *k = policy_global_keys; k->name; k++)
        set_default(k, cfg);
    /* a key without a default (startup) stays unset: a domain boots with
     * its own configured memory */
    for (const PolicyKey *k = policy_domain_keys; k->name; k++) {
        set_default(k, &cfg->defaults);
        if (k->default_text)
            cfg->defaults.set |= k->field;
    }
    return cfg;
}

void policy_config_free(PolicyConfig *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_rules; i++)
        g_free(cfg->rules[i].pattern);
    g_free(cfg->rules);
    /* the text members are the table's strings and paths */
    for (const PolicyKey *k = policy_global_keys; k->name; k++)
        if (k->type == POLICY_VALUE_STRING || k->type == POLICY_VALUE_PATH)
            g_free(*(char **)((char *)cfg + k->offset));
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

const char *policy_source_to_string(PolicySource source)
{
    static const char *const names[POLICY_SOURCE_LAST] = {
        [POLICY_SOURCE_DEFAULT] = "default",
        [POLICY_SOURCE_RULE] = "rule",
        [POLICY_SOURCE_METADATA] = "metadata",
        [POLICY_SOURCE_OVERRIDE] = "override",
    };
    return (unsigned)source < POLICY_SOURCE_LAST ? names[source] : "unknown";
}

void policy_config_resolve_layers(const PolicyConfig *cfg, const char *name, const char *uuid,
                                  const PolicySettings *metadata, const PolicySettings *override,
                                  PolicyEffective *ret)
{
    const PolicySettings *layers[POLICY_SOURCE_LAST] = {
        [POLICY_SOURCE_METADATA] = metadata,
        [POLICY_SOURCE_OVERRIDE] = override,
    };
    PolicySettings s;
    int rule_index = -1;
    size_t key = 0;

    g_return_if_fail(cfg && ret);

    s = cfg->defaults;
    layers[POLICY_SOURCE_DEFAULT] = &cfg->defaults;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        if (rule_matches(&cfg->rules[i], name, uuid)) {
            layers[POLICY_SOURCE_RULE] = &cfg->rules[i].settings;
            rule_index = (int)MIN(i, (size_t)INT_MAX);
            break;
        }
    }
    for (int l = POLICY_SOURCE_RULE; l < POLICY_SOURCE_LAST; l++)
        if (layers[l])
            policy_settings_merge(&s, layers[l]);

    *ret = (PolicyEffective){
        .rule_index = rule_index,
        .overridden = override && override->set != 0,
        .has_metadata = metadata && metadata->set != 0,
    };
    /* A key without a built-in default stays zero (unset) unless a layer
     * sets it; its source is the highest layer that set it. */
    for (const PolicyKey *k = policy_domain_keys; k->name; k++, key++) {
        if (k->default_text || (s.set & k->field))
            memcpy((char *)ret + k->effective_offset, (const char *)&s + k->offset, k->size);
        for (int l = POLICY_SOURCE_LAST - 1; l > POLICY_SOURCE_DEFAULT; l--)
            if (layers[l] && (layers[l]->set & k->field)) {
                ret->source[key] = (uint8_t)l;
                break;
            }
    }
}

void policy_config_resolve(const PolicyConfig *cfg, const char *name, const char *uuid,
                           const PolicySettings *override, PolicyEffective *ret)
{
    policy_config_resolve_layers(cfg, name, uuid, NULL, override, ret);
}
