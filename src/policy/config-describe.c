/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The effective policy as `dynmemd --check-config` prints it (config.h). */
#include "config.h"
#include "text.h"

#include <inttypes.h>
#include <string.h>

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
