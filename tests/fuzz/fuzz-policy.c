/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the policy loader (YAML text to PolicyConfig,
 * src/policy/config.c), which reads /etc/dynmem/policy.yaml at start and
 * on every reload.
 *
 * Checks: a failure reports at least one "file:line:column: message" and
 * no config; a success gives a config whose effective policies stay in
 * their documented ranges, and that can be described.
 */
#include "config.h"
#include "fuzz.h"

#include <errno.h>

static void check_effective(const PolicyEffective *e, const PolicyConfig *cfg)
{
    FUZZ_CHECK((unsigned)e->mode < POLICY_MODE_LAST);
    FUZZ_CHECK(e->buffer_pct <= POLICY_BUFFER_MAX_PCT);
    FUZZ_CHECK(e->weight <= POLICY_WEIGHT_MAX);
    FUZZ_CHECK(e->rule_index >= -1 && e->rule_index < (int)cfg->n_rules);
    FUZZ_CHECK((unsigned)e->minimum.kind < POLICY_AMOUNT_LAST);
    FUZZ_CHECK((unsigned)e->maximum.kind < POLICY_AMOUNT_LAST);
    FUZZ_CHECK((unsigned)e->startup.kind < POLICY_AMOUNT_LAST);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"web01", "vdi-7", "", "db01"};
    PolicyConfig *cfg = NULL;
    GPtrArray *errors = NULL;
    int r;

    /* the exact bytes, no NUL after them: the loader takes a length */
    r = policy_config_load_buf((const char *)data, size, "fuzz.yaml", &cfg, &errors);
    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL);
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(errors != NULL && errors->len > 0);
        for (guint i = 0; i < errors->len; i++)
            FUZZ_CHECK(g_str_has_prefix(errors->pdata[i], "fuzz.yaml:"));
        g_ptr_array_unref(errors);
        return 0;
    }
    FUZZ_CHECK(cfg != NULL);
    if (errors)
        g_ptr_array_unref(errors);
    FUZZ_CHECK(cfg->interval_us > 0);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        PolicyEffective e;

        policy_config_resolve(cfg, names[i], "0d5b2f6e-0000-4000-8000-000000000001", NULL, &e);
        check_effective(&e, cfg);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        PolicyEffective e;
        const char *p = cfg->rules[i].pattern;

        /* a rule's own pattern as a name (a glob, a name or a UUID) */
        policy_config_resolve(cfg, p, p, &cfg->rules[i].settings, &e);
        check_effective(&e, cfg);
    }
    g_free(policy_config_describe(cfg));
    policy_config_free(cfg);
    return 0;
}
