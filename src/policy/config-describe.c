/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The effective policy as `dynmemd --check-config` prints it (config.h):
 * every key of the tables in settings.h, in their order. */
#include "config.h"
#include "settings.h"
#include "text.h"

#include <string.h>

static void describe_key(GString *out, const char *indent, const PolicyKey *k, const void *base)
{
    g_autofree char *text = policy_key_format(k, base, false);

    g_string_append_printf(out, "%s%s: %s\n", indent, k->name, text);
}

static void describe_settings(GString *out, const char *indent, const PolicySettings *s)
{
    for (const PolicyKey *k = policy_domain_keys; k->name; k++) {
        if (!(s->set & k->field) && k->unset_text)
            g_string_append_printf(out, "%s%s: %s\n", indent, k->name, k->unset_text);
        else
            describe_key(out, indent, k, s);
    }
}

char *policy_config_describe(const PolicyConfig *cfg)
{
    static const char *const match_keys[] = {"name", "match", "uuid"};
    const char *section = NULL;
    GString *out;

    g_return_val_if_fail(cfg, NULL);

    out = g_string_new(NULL);
    for (const PolicyKey *k = policy_global_keys; k->name; k++) {
        if (g_strcmp0(section, k->section) != 0) {
            section = k->section;
            g_string_append_printf(out, "%s:\n", section);
        }
        describe_key(out, "  ", k, cfg);
    }

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
        size_t n = 0;

        g_string_append_printf(out, "  domains[%zu] (line %u): %s \"%s\"\n", i, rule->line,
                               rule->kind < POLICY_MATCH_LAST ? match_keys[rule->kind] : "?",
                               pattern);
        g_string_append(out, "    sets:");
        if (rule->settings.set == 0)
            g_string_append(out, " nothing (the defaults apply)");
        for (const PolicyKey *k = policy_domain_keys; k->name; k++)
            if (rule->settings.set & k->field)
                g_string_append_printf(out, "%s %s", n++ ? "," : "", k->name);
        g_string_append_c(out, '\n');
        policy_settings_merge(&eff, &rule->settings);
        describe_settings(out, "    ", &eff);
    }
    return g_string_free(out, FALSE);
}
