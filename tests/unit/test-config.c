/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The policy model and its YAML loader: valid files, every error we promise
 * to report (with its exact text), hostile YAML, and rule resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "config.h"
#include "settings.h"

#define MIB UINT64_C(1024)
#define GIB (MIB * 1024)
#define SEC UINT64_C(1000000)

/* ---- helpers --------------------------------------------------------------- */

static char *join_errors(GPtrArray *errors)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; errors && i < errors->len; i++)
        g_string_append_printf(s, "%s\n", (const char *)g_ptr_array_index(errors, i));
    return g_string_free(s, FALSE);
}

static PolicyConfig *load_ok_len(const char *yaml, size_t len)
{
    g_autoptr(GPtrArray) errors = NULL;
    PolicyConfig *cfg = NULL;
    int r = policy_config_load_buf(yaml, len, "test.yaml", &cfg, &errors);

    if (r != 0) {
        g_autofree char *all = join_errors(errors);
        fail_msg("expected the policy to load, got %d:\n%s", r, all);
    }
    assert_null(errors);
    assert_non_null(cfg);
    return cfg;
}

static PolicyConfig *load_ok(const char *yaml)
{
    return load_ok_len(yaml, strlen(yaml));
}

/* Load text that must fail and return every message, one per line. */
static char *load_fail_len(const char *yaml, size_t len)
{
    g_autoptr(GPtrArray) errors = NULL;
    PolicyConfig *cfg = (PolicyConfig *)(uintptr_t)0x1; /* must stay untouched */
    int r = policy_config_load_buf(yaml, len, "test.yaml", &cfg, &errors);

    assert_int_equal(r, -EINVAL);
    assert_ptr_equal(cfg, (PolicyConfig *)(uintptr_t)0x1);
    assert_non_null(errors);
    assert_true(errors->len > 0);
    return join_errors(errors);
}

static char *load_fail(const char *yaml)
{
    return load_fail_len(yaml, strlen(yaml));
}

/* Field by field: the structs have padding that memcmp would compare. */
static void assert_same_amount(const PolicyAmount *a, const PolicyAmount *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->value, b->value);
}

static void assert_same_settings(const PolicySettings *a, const PolicySettings *b)
{
    assert_int_equal(a->set, b->set);
    assert_int_equal(a->mode, b->mode);
    assert_same_amount(&a->minimum, &b->minimum);
    assert_same_amount(&a->startup, &b->startup);
    assert_same_amount(&a->maximum, &b->maximum);
    assert_int_equal(a->buffer_pct, b->buffer_pct);
    assert_int_equal(a->weight, b->weight);
}

static void assert_same_config(const PolicyConfig *a, const PolicyConfig *b)
{
    assert_string_equal(a->connect_uri, b->connect_uri);
    assert_int_equal(a->interval_us, b->interval_us);
    assert_same_amount(&a->reserve, &b->reserve);
    assert_int_equal(a->pool_kib, b->pool_kib);
    assert_int_equal(a->overhead_kib, b->overhead_kib);
    assert_int_equal(a->psi_threshold_pct, b->psi_threshold_pct);
    assert_int_equal(a->tuning.grace_us, b->tuning.grace_us);
    assert_int_equal(a->tuning.demand_half_life_us, b->tuning.demand_half_life_us);
    assert_int_equal(a->tuning.min_step_kib, b->tuning.min_step_kib);
    assert_int_equal(a->tuning.min_step_pct, b->tuning.min_step_pct);
    assert_int_equal(a->tuning.max_shrink_kib, b->tuning.max_shrink_kib);
    assert_int_equal(a->tuning.uncooperative_timeout_us, b->tuning.uncooperative_timeout_us);
    assert_int_equal(a->tuning.uncooperative_retry_us, b->tuning.uncooperative_retry_us);
    assert_int_equal(a->tuning.stale_periods, b->tuning.stale_periods);
    assert_int_equal(a->tuning.pressure_swap_in_kib_s, b->tuning.pressure_swap_in_kib_s);
    assert_int_equal(a->tuning.pressure_major_faults_s, b->tuning.pressure_major_faults_s);
    assert_int_equal(a->tuning.pressure_boost_pct, b->tuning.pressure_boost_pct);
    assert_same_settings(&a->defaults, &b->defaults);
    assert_int_equal(a->n_rules, b->n_rules);
}

/* ---- the model ------------------------------------------------------------- */

static void test_defaults(void **state)
{
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();

    (void)state;
    assert_string_equal(cfg->connect_uri, "qemu:///system");
    assert_int_equal(cfg->interval_us, SEC);
    assert_int_equal(cfg->reserve.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(cfg->reserve.value, 2 * GIB);
    assert_int_equal(cfg->pool_kib, 0);
    assert_int_equal(cfg->overhead_kib, 64 * MIB);
    assert_int_equal(cfg->psi_threshold_pct, 10);
    assert_int_equal(cfg->tuning.grace_us, 60 * SEC);
    assert_int_equal(cfg->tuning.demand_half_life_us, 60 * SEC);
    assert_int_equal(cfg->tuning.min_step_kib, 32 * MIB);
    assert_int_equal(cfg->tuning.min_step_pct, 1);
    assert_int_equal(cfg->tuning.max_shrink_kib, 256 * MIB);
    assert_int_equal(cfg->tuning.uncooperative_timeout_us, 30 * SEC);
    assert_int_equal(cfg->tuning.uncooperative_retry_us, 300 * SEC);
    assert_int_equal(cfg->tuning.stale_periods, 3);
    assert_int_equal(cfg->tuning.pressure_swap_in_kib_s, MIB);
    assert_int_equal(cfg->tuning.pressure_major_faults_s, 100);
    assert_int_equal(cfg->tuning.pressure_boost_pct, 10);
    assert_int_equal(cfg->defaults.mode, POLICY_MODE_DYNAMIC);
    assert_int_equal(cfg->defaults.minimum.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(cfg->defaults.minimum.value, 512 * MIB);
    assert_int_equal(cfg->defaults.startup.kind, POLICY_AMOUNT_UNSET);
    assert_false(cfg->defaults.set & POLICY_FIELD_STARTUP);
    assert_int_equal(cfg->defaults.maximum.kind, POLICY_AMOUNT_PERCENT);
    assert_int_equal(cfg->defaults.maximum.value, 100);
    assert_int_equal(cfg->defaults.buffer_pct, POLICY_BUFFER_DEFAULT_PCT);
    assert_int_equal(cfg->defaults.weight, POLICY_WEIGHT_DEFAULT);
    assert_int_equal(cfg->n_rules, 0);
    policy_config_free(NULL);
}

static void test_mode_and_keys(void **state)
{
    static const char *const keys[] = {"mode",   "minimum", "startup",        "maximum",
                                       "buffer", "weight",  "burst-headroom", "buffer-min"};
    size_t n = 0;

    (void)state;
    assert_string_equal(policy_mode_to_string(POLICY_MODE_DYNAMIC), "dynamic");
    assert_string_equal(policy_mode_to_string(POLICY_MODE_STATIC), "static");
    assert_null(policy_mode_to_string(POLICY_MODE_LAST));
    for (; n < G_N_ELEMENTS(keys); n++) {
        assert_non_null(policy_domain_keys[n].name);
        assert_string_equal(policy_domain_keys[n].name, keys[n]);
    }
    assert_null(policy_domain_keys[n].name);
}

/* The key tables (settings.h): every row is reachable by name, its default
 * parses, its exact form reads back the same, and the per-domain bits are
 * distinct, so that a new row cannot be half added. */
static void test_key_tables(void **state)
{
    const PolicyKey *tables[] = {policy_global_keys, policy_domain_keys};
    uint32_t fields = 0;

    (void)state;
    for (size_t t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const PolicyKey *k = tables[t]; k->name; k++) {
            const char *names[POLICY_MAX_SECTION_KEYS + 1];
            bool found = false;

            assert_non_null(k->doc);
            assert_true(k->type < POLICY_VALUE_LAST);
            policy_key_names(k->section, names, 0);
            for (size_t i = 0; names[i]; i++)
                found = found || strcmp(names[i], k->name) == 0;
            if (!found)
                fail_msg("%s is not in its section's names", k->name);
            if (t == 0)
                continue;
            /* per-domain */
            assert_true(k->field != 0 && (fields & k->field) == 0);
            fields |= k->field;
            assert_ptr_equal(policy_domain_key_find(k->name), k);
            assert_ptr_equal(policy_domain_key_by_field(k->field), k);
            if (!k->default_text) {
                assert_non_null(k->unset_text);
                continue;
            }
            PolicySettings s = {0}, back = {0};
            g_autofree char *err = NULL;
            if (policy_settings_set_key(&s, k->name, k->default_text, &err) < 0)
                fail_msg("default of %s: %s", k->name, err);
            g_autofree char *exact = policy_key_format(k, &s, true);
            assert_int_equal(policy_settings_set_key(&back, k->name, exact, &err), 0);
            g_autofree char *again = policy_key_format(k, &back, true);
            assert_string_equal(exact, again);
            /* and the printout's form is the same too */
            g_autofree char *shown = policy_key_format(k, &s, false);
            g_autofree char *shown_again = policy_key_format(k, &back, false);
            assert_string_equal(shown, shown_again);
        }
    }
    assert_null(policy_domain_key_find("name"));
    assert_null(policy_domain_key_by_field(0));
    /* a rule's keys are name:, match:, uuid: and every per-domain key */
    const char *rule_keys[POLICY_MAX_SECTION_KEYS + 1];
    size_t n_domain = 0;
    while (policy_domain_keys[n_domain].name)
        n_domain++;
    assert_int_equal(policy_key_names(NULL, rule_keys, 3), n_domain);
}

/* What a D-Bus integer means for each kind of per-domain key. */
static void test_key_integer_text(void **state)
{
    static const struct {
        const char *key, *text;
    } cases[] = {
        {"weight", "7"},      {"buffer", "7%"},  {"minimum", "7B"},
        {"startup", "7B"},    {"maximum", "7B"}, {"burst-headroom", "7B"},
        {"buffer-min", "7B"}, {"mode", "7"},     {"no-such-key", "7"},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *t = policy_domain_key_integer_text(cases[i].key, 7);

        assert_string_equal(t, cases[i].text);
    }
}

static void test_set_key(void **state)
{
    static const struct {
        const char *key, *value;
        int ret;
        const char *message;
    } bad[] = {
        {"weight", "20000", -ERANGE, "weight: 20000 is out of range 0..10000"},
        {"weight", "-1", -EINVAL, "weight: expected a whole number 0..10000, found \"-1\""},
        {"weight", "99999999999999999999999", -ERANGE,
         "weight: 99999999999999999999999 is out of range 0..10000"},
        {"weight", "", -EINVAL, "weight: expected a whole number 0..10000, found \"\""},
        {"buffer", "-5%", -EINVAL, "buffer: expected a percentage such as 20%, found \"-5%\""},
        {"buffer", "2001%", -ERANGE, "buffer: percentage \"2001%\" is out of range 0..2000%"},
        {"mode", "balloon", -EINVAL, "mode: expected \"dynamic\" or \"static\", found \"balloon\""},
        {"minimum", "101%", -ERANGE, "minimum: percentage \"101%\" is out of range 0..100%"},
        {"minimum", "-1GiB", -EINVAL,
         "minimum: expected a size such as 512MiB or a percentage such as 50%, found \"-1GiB\""},
        {"maximum", "0", -ERANGE, "maximum: must be above 0, found \"0\""},
        {"maximum", "0%", -ERANGE, "maximum: must be above 0, found \"0%\""},
        {"burst-headroom", "lots", -EINVAL,
         "burst-headroom: expected a size such as 512MiB or 2GiB, found \"lots\""},
        {"burst-headroom", "learning", -EINVAL,
         "burst-headroom: expected \"learn\", \"learn SIZE\" or a size such as 256MiB, found "
         "\"learning\""},
        {"burst-headroom", "learn 2TiB", -ERANGE,
         "burst-headroom: 2TiB is more than the most allowed, 1024GiB"},
        {"burst-headroom", "10%", -EINVAL,
         "burst-headroom: expected a size such as 512MiB or 2GiB, found \"10%\""},
        {"buffer-min", "-1MiB", -EINVAL,
         "buffer-min: expected a size such as 512MiB or 2GiB, found \"-1MiB\""},
        {"buffer-min", "2000GiB", -ERANGE,
         "buffer-min: 2000GiB is more than the most allowed, 1024GiB"},
        {"wieght", "1", -EINVAL, "unknown key \"wieght\"; did you mean \"weight\"?"},
        {"maximun", "1", -EINVAL, "unknown key \"maximun\"; did you mean \"maximum\"?"},
        {"colour", "1", -EINVAL, "unknown key \"colour\""},
        /* D-Bus callers may pass anything: escaped byte by byte if not UTF-8 */
        {"weight", "\xff", -EINVAL, "weight: expected a whole number 0..10000, found \"\\377\""},
        {"mode", "st\xc3\xa4tic", -EINVAL,
         "mode: expected \"dynamic\" or \"static\", found \"st\xc3\xa4tic\""},
        {"mode", "a\nb", -EINVAL, "mode: expected \"dynamic\" or \"static\", found \"a\\nb\""},
        /* long text is cut short */
        {"mode", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
         -EINVAL,
         "mode: expected \"dynamic\" or \"static\", found "
         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\""},
    };
    PolicySettings s = {0};
    PolicySettings before;

    (void)state;
    assert_int_equal(policy_settings_set_key(&s, "weight", "7000", NULL), 0);
    assert_int_equal(policy_settings_set_key(&s, "mode", "static", NULL), 0);
    assert_int_equal(policy_settings_set_key(&s, "minimum", "1GiB", NULL), 0);
    assert_int_equal(policy_settings_set_key(&s, "maximum", "50%", NULL), 0);
    assert_int_equal(policy_settings_set_key(&s, "buffer", "2000%", NULL), 0);
    assert_int_equal(s.set, POLICY_FIELD_WEIGHT | POLICY_FIELD_MODE | POLICY_FIELD_MINIMUM |
                                POLICY_FIELD_MAXIMUM | POLICY_FIELD_BUFFER);
    assert_int_equal(s.weight, 7000);
    assert_int_equal(s.mode, POLICY_MODE_STATIC);
    assert_int_equal(s.minimum.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(s.minimum.value, GIB);
    assert_int_equal(s.maximum.kind, POLICY_AMOUNT_PERCENT);
    assert_int_equal(s.maximum.value, 50);
    assert_int_equal(s.buffer_pct, 2000);

    before = s;
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *error = NULL;
        int r = policy_settings_set_key(&s, bad[i].key, bad[i].value, &error);

        if (r != bad[i].ret)
            fail_msg("%s=%s: %d, expected %d", bad[i].key, bad[i].value, r, bad[i].ret);
        assert_non_null(error);
        assert_string_equal(error, bad[i].message);
        assert_same_settings(&s, &before); /* untouched on failure */
    }
}

/* Every echo of a value is bounded, whichever check refuses it. */
static void test_long_values_bounded(void **state)
{
    enum { LEN = 1 << 20 };
    g_autofree char *zeros = g_malloc(LEN + 1);
    g_autofree char *digits = g_malloc(LEN + 1);
    static const char *const setkeys[][2] = {
        {"weight", "1"},               /* out of range */
        {"maximum", "MiB"},            /* must be above 0 */
        {"burst-headroom", "2000GiB"}, /* above the most allowed */
        {"buffer-min", "2000GiB"},
    };
    /* the value goes between each prefix and suffix */
    static const char *const files[][2] = {
        {"daemon:\n  interval: ", "1ms\n"},                   /* duration out of range */
        {"tuning:\n  max-shrink: ", "MiB\n"},                 /* size below its minimum */
        {"host:\n  psi-threshold: ", "%\n"},                  /* percent below its minimum */
        {"host:\n  pool: ", "MiB\n"},                         /* zero pool */
        {"defaults:\n  maximum: ", "GiB\n"},                  /* zero maximum */
        {"tuning:\n  stale-periods: ", "1000\n"},             /* whole number out of range */
        {"defaults:\n  burst-headroom: learn ", "2000GiB\n"}, /* headroom above its most */
    };

    (void)state;
    memset(zeros, '0', LEN);
    zeros[LEN] = '\0';
    memset(digits, '9', LEN);
    digits[LEN] = '\0';
    for (size_t i = 0; i < G_N_ELEMENTS(setkeys); i++) {
        PolicySettings s = {0};
        g_autofree char *value =
            g_strconcat(i == 0 ? digits : zeros, i == 0 ? "" : setkeys[i][1], NULL);
        g_autofree char *error = NULL;

        assert_true(policy_settings_set_key(&s, setkeys[i][0], value, &error) < 0);
        if (strlen(error) > 300)
            fail_msg("%s: a %zu-byte message", setkeys[i][0], strlen(error));
    }
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *text = g_strconcat(files[i][0], zeros, files[i][1], NULL);
        g_autoptr(GPtrArray) errors = NULL;

        assert_int_equal(policy_config_load_buf(text, strlen(text), "t.yaml", NULL, &errors),
                         -EINVAL);
        assert_int_equal(errors->len, 1);
        if (strlen(errors->pdata[0]) > 300)
            fail_msg("%s: a %zu-byte message", files[i][0], strlen(errors->pdata[0]));
    }
}

static void test_validate(void **state)
{
    static const struct {
        const char *const kv[6];
        const char *message; /* NULL: valid */
    } cases[] = {
        {{"minimum", "1GiB", "maximum", "2GiB"}, NULL},
        {{"minimum", "2GiB", "maximum", "2GiB"}, NULL},
        {{"minimum", "4GiB", "maximum", "2GiB"}, "minimum 4 GiB is above maximum 2 GiB"},
        {{"minimum", "60%", "maximum", "50%"}, "minimum 60% is above maximum 50%"},
        {{"minimum", "3GiB", "startup", "2GiB"}, "minimum 3 GiB is above startup 2 GiB"},
        {{"startup", "80%", "maximum", "50%"}, "startup 80% is above maximum 50%"},
        {{"startup", "3GiB", "maximum", "2GiB", "minimum", "1GiB"},
         "startup 3 GiB is above maximum 2 GiB"},
        /* a size and a percentage cannot be compared before the domain is known */
        {{"minimum", "8GiB", "maximum", "50%"}, NULL},
        {{"minimum", "90%", "startup", "1GiB", "maximum", "512MiB"},
         "startup 1 GiB is above maximum 512 MiB"},
        {{"weight", "1"}, NULL},
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicySettings s = {0};
        g_autofree char *error = NULL;
        int r;

        for (size_t k = 0; k < 6 && cases[i].kv[k]; k += 2)
            assert_int_equal(policy_settings_set_key(&s, cases[i].kv[k], cases[i].kv[k + 1], NULL),
                             0);
        r = policy_settings_validate(&s, &error);
        if (!cases[i].message) {
            assert_int_equal(r, 0);
            assert_null(error);
        } else {
            assert_int_equal(r, -ERANGE);
            assert_string_equal(error, cases[i].message);
        }
    }
}

static void test_merge(void **state)
{
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    PolicySettings base = cfg->defaults, top = {0};

    (void)state;
    assert_int_equal(policy_settings_set_key(&top, "weight", "10", NULL), 0);
    assert_int_equal(policy_settings_set_key(&top, "startup", "1GiB", NULL), 0);
    policy_settings_merge(&base, &top);
    assert_int_equal(base.weight, 10);
    assert_int_equal(base.startup.value, GIB);
    assert_true(base.set & POLICY_FIELD_STARTUP);
    /* fields the top layer does not set are kept */
    assert_int_equal(base.buffer_pct, 20);
    assert_int_equal(base.minimum.value, 512 * MIB);
    assert_int_equal(base.mode, POLICY_MODE_DYNAMIC);
    policy_settings_merge(&base, NULL);
    assert_int_equal(base.weight, 10);
}

/* ---- loading: valid files ---------------------------------------------------- */

static void test_empty_means_defaults(void **state)
{
    static const char *const texts[] = {
        "", "\n", "# nothing here\n# at all\n", "---\n", "--- ~\n", "---\n...\n", "~\n", "null\n",
    };
    g_autoptr(PolicyConfig) def = policy_config_new_default();

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(PolicyConfig) cfg = load_ok(texts[i]);
        assert_same_config(cfg, def);
    }
    {
        /* NULL with length 0 is an empty buffer too */
        g_autoptr(PolicyConfig) cfg = load_ok_len(NULL, 0);
        assert_same_config(cfg, def);
    }
    {
        /* empty sections are fine */
        g_autoptr(PolicyConfig) cfg = load_ok("daemon:\nhost: {}\ntuning:\ndefaults: {}\n"
                                              "domains: []\n");
        assert_same_config(cfg, def);
    }
}

static void test_every_key(void **state)
{
    static const char yaml[] = "daemon:\n"
                               "  connect: qemu+ssh://root@host/system\n"
                               "  interval: 500ms\n"
                               "host:\n"
                               "  reserve: 5%\n"
                               "  pool: 64GiB\n"
                               "  overhead: 100MiB\n"
                               "  psi-threshold: 25%\n"
                               "  deflate-reserve: 3\n"
                               "tuning:\n"
                               "  grace: 2min\n"
                               "  demand-half-life: 30s\n"
                               "  min-step: 16MiB\n"
                               "  min-step-percent: 2%\n"
                               "  max-shrink: 1GiB\n"
                               "  uncooperative-timeout: 10s\n"
                               "  uncooperative-retry: 1h\n"
                               "  stale-periods: 5\n"
                               "  pressure-swap-in: 512KiB\n"
                               "  pressure-major-faults: 50\n"
                               "  pressure-boost: 25%\n"
                               "defaults:\n"
                               "  mode: static\n"
                               "  minimum: 1GiB\n"
                               "  startup: 2GiB\n"
                               "  maximum: 8GiB\n"
                               "  buffer: 50%\n"
                               "  weight: 100\n"
                               "  burst-headroom: learn 256MiB\n"
                               "  buffer-min: 32MiB\n"
                               "domains:\n"
                               "  - name: a\n"
                               "    burst-headroom: 300MiB\n"
                               "  - match: \"b-[0-9]*\"\n"
                               "    mode: dynamic\n"
                               "    weight: 0\n"
                               "  - uuid: 4DEA22B3-1D52-D8F3-2516-782E98AB3FA0\n"
                               "    minimum: 10%\n"
                               "    maximum: 90%\n"
                               "    startup: 50%\n";
    g_autoptr(PolicyConfig) cfg = load_ok(yaml);

    (void)state;
    assert_string_equal(cfg->connect_uri, "qemu+ssh://root@host/system");
    assert_int_equal(cfg->interval_us, SEC / 2);
    assert_int_equal(cfg->reserve.kind, POLICY_AMOUNT_PERCENT);
    assert_int_equal(cfg->reserve.value, 5);
    assert_int_equal(cfg->pool_kib, 64 * GIB);
    assert_int_equal(cfg->overhead_kib, 100 * MIB);
    assert_int_equal(cfg->psi_threshold_pct, 25);
    assert_int_equal(cfg->deflate_reserve_guests, 3);
    assert_int_equal(cfg->tuning.grace_us, 120 * SEC);
    assert_int_equal(cfg->tuning.demand_half_life_us, 30 * SEC);
    assert_int_equal(cfg->tuning.min_step_kib, 16 * MIB);
    assert_int_equal(cfg->tuning.min_step_pct, 2);
    assert_int_equal(cfg->tuning.max_shrink_kib, GIB);
    assert_int_equal(cfg->tuning.uncooperative_timeout_us, 10 * SEC);
    assert_int_equal(cfg->tuning.uncooperative_retry_us, 3600 * SEC);
    assert_int_equal(cfg->tuning.stale_periods, 5);
    assert_int_equal(cfg->tuning.pressure_swap_in_kib_s, 512);
    assert_int_equal(cfg->tuning.pressure_major_faults_s, 50);
    assert_int_equal(cfg->tuning.pressure_boost_pct, 25);
    assert_int_equal(cfg->defaults.mode, POLICY_MODE_STATIC);
    assert_int_equal(cfg->defaults.minimum.value, GIB);
    assert_int_equal(cfg->defaults.startup.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(cfg->defaults.startup.value, 2 * GIB);
    assert_int_equal(cfg->defaults.maximum.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(cfg->defaults.maximum.value, 8 * GIB);
    assert_int_equal(cfg->defaults.buffer_pct, 50);
    assert_int_equal(cfg->defaults.weight, 100);
    assert_true(cfg->defaults.burst_headroom.learn);
    assert_int_equal(cfg->defaults.burst_headroom.kib, 256 * MIB);
    assert_int_equal(cfg->defaults.buffer_min_kib, 32 * MIB);
    assert_false(cfg->rules[0].settings.burst_headroom.learn);
    assert_int_equal(cfg->rules[0].settings.burst_headroom.kib, 300 * MIB);

    assert_int_equal(cfg->n_rules, 3);
    assert_int_equal(cfg->rules[0].kind, POLICY_MATCH_NAME);
    assert_string_equal(cfg->rules[0].pattern, "a");
    assert_int_equal(cfg->rules[0].line, 32);
    assert_int_equal(cfg->rules[0].settings.set, POLICY_FIELD_BURST_HEADROOM);
    assert_int_equal(cfg->rules[1].kind, POLICY_MATCH_GLOB);
    assert_string_equal(cfg->rules[1].pattern, "b-[0-9]*");
    assert_int_equal(cfg->rules[1].line, 34);
    assert_int_equal(cfg->rules[1].settings.set, POLICY_FIELD_MODE | POLICY_FIELD_WEIGHT);
    assert_int_equal(cfg->rules[1].settings.weight, 0);
    assert_int_equal(cfg->rules[2].kind, POLICY_MATCH_UUID);
    /* stored in lower case; compared without regard to case */
    assert_string_equal(cfg->rules[2].pattern, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    assert_int_equal(cfg->rules[2].settings.minimum.kind, POLICY_AMOUNT_PERCENT);
    assert_int_equal(cfg->rules[2].settings.startup.value, 50);
}

static void test_flow_style_and_quotes(void **state)
{
    g_autoptr(PolicyConfig) cfg =
        load_ok("{daemon: {interval: \"2s\"}, defaults: {weight: '42'},\n"
                " domains: [{name: \"vm one\"}, {match: 'web-*', buffer: 5%}]}\n");

    (void)state;
    assert_int_equal(cfg->interval_us, 2 * SEC);
    assert_int_equal(cfg->defaults.weight, 42);
    assert_int_equal(cfg->n_rules, 2);
    assert_string_equal(cfg->rules[0].pattern, "vm one");
    assert_int_equal(cfg->rules[1].settings.buffer_pct, 5);
}

static void test_pool_unlimited(void **state)
{
    g_autoptr(PolicyConfig) a = load_ok("host:\n  pool: 16GiB\n");
    g_autoptr(PolicyConfig) b = load_ok("host:\n  pool: unlimited\n");

    (void)state;
    assert_int_equal(a->pool_kib, 16 * GIB);
    assert_int_equal(b->pool_kib, 0);
}

/* The recorder's keys: off unless a path is given ("none" or an empty
 * string say off too), a size limit of 256 MiB unless set. */
static void test_record_keys(void **state)
{
    g_autoptr(PolicyConfig) off = load_ok("daemon: {}\n");
    g_autoptr(PolicyConfig) on =
        load_ok("daemon:\n  record-file: /var/lib/dynmem/day.csv\n  record-max-size: 1GiB\n");
    g_autoptr(PolicyConfig) empty = load_ok("daemon:\n  record-file: \"\"\n");
    g_autoptr(PolicyConfig) none = load_ok("daemon:\n  record-file: none\n");

    (void)state;
    assert_null(off->record_file);
    assert_int_equal(off->record_max_kib, 256 * 1024);
    assert_string_equal(on->record_file, "/var/lib/dynmem/day.csv");
    assert_int_equal(on->record_max_kib, 1 * GIB);
    assert_null(empty->record_file);
    assert_null(none->record_file);
}

/* ---- loading: errors ----------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *yaml;
    const char *errors; /* every message, one per line, in file order */
} ErrorCase;

static const ErrorCase error_cases[] = {
    {"unknown key with a suggestion",
     "domains:\n  - name: a\n  - name: b\n  - name: c\n    wieght: 10\n",
     "test.yaml:5:5: unknown key \"wieght\" in domains[2]; did you mean \"weight\"?\n"},
    {"unknown section with a suggestion", "defualts:\n  weight: 1\n",
     "test.yaml:1:1: unknown key \"defualts\" in the top level; did you mean \"defaults\"?\n"},
    {"unknown key without a close match", "host:\n  colour: blue\n",
     "test.yaml:2:3: unknown key \"colour\" in host\n"},
    {"unknown tuning key", "tuning:\n  min-stepp: 1MiB\n",
     "test.yaml:2:3: unknown key \"min-stepp\" in tuning; did you mean \"min-step\"?\n"},
    {"unknown key that is not ASCII", "defaults:\n  wéight: 1\n",
     "test.yaml:2:3: unknown key \"wéight\" in defaults; did you mean \"weight\"?\n"},
    {"duplicate key", "defaults:\n  weight: 1\n  weight: 2\n",
     "test.yaml:3:3: duplicate key \"weight\" in defaults (first set on line 2)\n"},
    {"duplicate section", "daemon: {}\nhost: {}\ndaemon: {}\n",
     "test.yaml:3:1: duplicate key \"daemon\" in the top level (first set on line 1)\n"},
    {"mapping where a value is expected", "defaults:\n  weight: {a: 1}\n",
     "test.yaml:2:11: weight in defaults must be a single value, found a mapping\n"},
    {"list where a value is expected", "daemon:\n  connect: [a, b]\n",
     "test.yaml:2:12: connect in daemon must be a single value, found a list\n"},
    {"missing value", "defaults:\n  weight:\n",
     "test.yaml:2:10: weight in defaults has no value\n"},
    {"value where a section is expected", "daemon: 5\n",
     "test.yaml:1:9: daemon must be a mapping of settings, found a single value\n"},
    {"list where a section is expected", "host: [1]\n",
     "test.yaml:1:7: host must be a mapping of settings, found a list\n"},
    {"domains not a list", "domains: {name: a}\n",
     "test.yaml:1:10: domains must be a list of rules, found a mapping\n"},
    {"key that is not a name", "? [a]\n: 1\n",
     "test.yaml:1:3: keys in the top level must be names, found a list\n"},
    {"weight out of range", "defaults:\n  weight: 20000\n",
     "test.yaml:2:11: weight in defaults: 20000 is out of range 0..10000\n"},
    {"weight not a number", "defaults:\n  weight: high\n",
     "test.yaml:2:11: weight in defaults: expected a whole number 0..10000, found \"high\"\n"},
    {"negative buffer", "defaults:\n  buffer: -5%\n",
     "test.yaml:2:11: buffer in defaults: expected a percentage such as 20%, found \"-5%\"\n"},
    {"buffer out of range", "domains:\n  - name: a\n    buffer: 2001%\n",
     "test.yaml:3:13: buffer in domains[0]: percentage \"2001%\" is out of range 0..2000%\n"},
    {"space inside a percentage", "defaults:\n  maximum: 20 %\n",
     "test.yaml:2:12: maximum in defaults: expected a percentage such as 20%, found \"20 %\"\n"},
    {"negative size", "defaults:\n  minimum: -1GiB\n",
     "test.yaml:2:12: minimum in defaults: expected a size such as 512MiB or a percentage such "
     "as 50%, found \"-1GiB\"\n"},
    {"exponent", "host:\n  overhead: 1e30\n",
     "test.yaml:2:13: overhead in host: expected a size such as 512MiB or 2GiB, found \"1e30\"\n"},
    {"size too large", "tuning:\n  min-step: 18446744073709551616KiB\n",
     "test.yaml:2:13: min-step in tuning: size \"18446744073709551616KiB\" is too large\n"},
    {"decimal unit", "tuning:\n  max-shrink: 2GB\n",
     "test.yaml:2:15: max-shrink in tuning: size \"2GB\": \"GB\" is a decimal unit in libvirt and "
     "is not accepted here; did you mean \"GiB\"?\n"},
    {"percentage above 100 for a size", "domains:\n  - name: a\n    maximum: 150%\n",
     "test.yaml:3:14: maximum in domains[0]: percentage \"150%\" is out of range 0..100%\n"},
    {"bad mode", "defaults:\n  mode: balloon\n",
     "test.yaml:2:9: mode in defaults: expected \"dynamic\" or \"static\", found \"balloon\"\n"},
    {"interval too short", "daemon:\n  interval: 10ms\n",
     "test.yaml:2:13: interval in daemon: 10ms is out of range 100ms..1h\n"},
    {"interval too long", "daemon:\n  interval: 2h\n",
     "test.yaml:2:13: interval in daemon: 2h is out of range 100ms..1h\n"},
    {"metrics-file relative", "daemon:\n  metrics-file: x/dynmem.prom\n",
     "test.yaml:2:17: metrics-file in daemon: expected an absolute file path or \"none\", "
     "found \"x/dynmem.prom\"\n"},
    {"metrics-file a directory", "daemon:\n  metrics-file: /var/lib/\n",
     "test.yaml:2:17: metrics-file in daemon: expected an absolute file path or \"none\", "
     "found \"/var/lib/\"\n"},
    {"metrics-file with a control character", "daemon:\n  metrics-file: \"/tmp/a\\tb.prom\"\n",
     "test.yaml:2:17: metrics-file in daemon: path \"/tmp/a\\tb.prom\" has a control "
     "character\n"},
    {"metrics-interval too short", "daemon:\n  metrics-interval: 500ms\n",
     "test.yaml:2:21: metrics-interval in daemon: 500ms is out of range 1s..1h\n"},
    {"record-file relative", "daemon:\n  record-file: day.csv\n",
     "test.yaml:2:16: record-file in daemon: expected an absolute file path or \"none\", "
     "found \"day.csv\"\n"},
    {"record-file a directory", "daemon:\n  record-file: /var/lib/dynmem/\n",
     "test.yaml:2:16: record-file in daemon: expected an absolute file path or \"none\", "
     "found \"/var/lib/dynmem/\"\n"},
    {"record-file with a newline", "daemon:\n  record-file: \"/var/lib/dynmem/a\\nb\"\n",
     "test.yaml:2:16: record-file in daemon: path \"/var/lib/dynmem/a\\nb\" has a control "
     "character\n"},
    {"record-max-size too small", "daemon:\n  record-max-size: 512KiB\n",
     "test.yaml:2:20: record-max-size in daemon: 512KiB is less than the least allowed, 1MiB\n"},
    {"record-max-size not a size", "daemon:\n  record-max-size: lots\n",
     "test.yaml:2:20: record-max-size in daemon: expected a size such as 512MiB or 2GiB, found "
     "\"lots\"\n"},
    {"admission not one of its words", "host:\n  admission: strict\n",
     "test.yaml:2:14: admission in host: expected \"enforce\", \"warn\" or \"off\", found "
     "\"strict\"\n"},
    {"admission-wait too long", "host:\n  admission-wait: 10min\n",
     "test.yaml:2:19: admission-wait in host: 10min is out of range 0s..5min\n"},
    {"admission-unreachable not one of its words", "host:\n  admission-unreachable: deny\n",
     "test.yaml:2:26: admission-unreachable in host: expected \"allow\" or \"refuse\", found "
     "\"deny\"\n"},
    {"interval without unit", "daemon:\n  interval: 5\n",
     "test.yaml:2:13: interval in daemon: duration \"5\" has no unit; write e.g. \"5s\"\n"},
    {"reserve above 90%", "host:\n  reserve: 95%\n",
     "test.yaml:2:12: reserve in host: percentage \"95%\" is out of range 0..90%\n"},
    {"pool of zero", "host:\n  pool: 0\n",
     "test.yaml:2:9: pool in host: must be above 0, found \"0\" (write \"unlimited\" for no "
     "cap)\n"},
    {"pool not a size", "host:\n  pool: lots\n",
     "test.yaml:2:9: pool in host: expected a size such as 512MiB or 2GiB, found \"lots\", or "
     "\"unlimited\"\n"},
    {"psi threshold of zero", "host:\n  psi-threshold: 0%\n",
     "test.yaml:2:18: psi-threshold in host: percentage \"0%\" is out of range 1..100%\n"},
    {"deflate reserve too large", "host:\n  deflate-reserve: 65\n",
     "test.yaml:2:20: deflate-reserve in host: 65 is out of range 0..64\n"},
    {"burst headroom not a size", "defaults:\n  burst-headroom: learn lots\n",
     "test.yaml:2:19: burst-headroom in defaults: expected a size such as 512MiB or 2GiB, "
     "found \"lots\"\n"},
    {"stale periods of zero", "tuning:\n  stale-periods: 0\n",
     "test.yaml:2:18: stale-periods in tuning: 0 is out of range 1..100\n"},
    {"minimum above maximum", "defaults:\n  minimum: 4GiB\n  maximum: 2GiB\n",
     "test.yaml:2:3: defaults: minimum 4 GiB is above maximum 2 GiB\n"},
    {"minimum above the built-in maximum", "defaults:\n  maximum: 256MiB\n",
     "test.yaml:2:3: defaults, with the built-in defaults: minimum 512 MiB is above maximum "
     "256 MiB\n"},
    {"rule minimum above its maximum",
     "domains:\n  - name: a\n    minimum: 60%\n    maximum: 50%\n",
     "test.yaml:2:5: domains[0]: minimum 60% is above maximum 50%\n"},
    {"rule minimum above the default maximum",
     "defaults:\n  maximum: 2GiB\ndomains:\n  - name: a\n    minimum: 3GiB\n",
     "test.yaml:4:5: domains[0], with the defaults: minimum 3 GiB is above maximum 2 GiB\n"},
    {"rule startup below the default minimum",
     "defaults:\n  minimum: 2GiB\ndomains:\n  - match: \"*\"\n    startup: 1GiB\n",
     "test.yaml:4:5: domains[0], with the defaults: minimum 2 GiB is above startup 1 GiB\n"},
    {"rule without a match key", "domains:\n  - weight: 1\n",
     "test.yaml:2:5: domains[0] needs one of name:, match: or uuid:\n"},
    {"rule with two match keys",
     "domains:\n  - name: a\n    uuid: 4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n",
     "test.yaml:3:11: domains[0] has both name: and uuid:; use only one\n"},
    {"rule that is not a mapping", "domains:\n  - db01\n",
     "test.yaml:2:5: domains[0] must be a mapping with name:, match: or uuid:, found a single "
     "value\n"},
    {"bad uuid", "domains:\n  - uuid: 4dea22b3-1d52-d8f3-2516\n",
     "test.yaml:2:11: uuid in domains[0]: expected a UUID such as "
     "4dea22b3-1d52-d8f3-2516-782e98ab3fa0, found \"4dea22b3-1d52-d8f3-2516\"\n"},
    {"empty name", "domains:\n  - name: \"\"\n", "test.yaml:2:11: name in domains[0] is empty\n"},
    {"several documents", "daemon: {}\n---\nhost: {}\n",
     "test.yaml:2:1: a policy file holds one YAML document; found a second one\n"},
    {"list at the top level", "- daemon\n- host\n",
     "test.yaml:1:1: the top level must be a mapping with daemon:, host:, tuning:, defaults: and "
     "domains:, found a list\n"},
    {"scalar at the top level", "hello\n",
     "test.yaml:1:1: the top level must be a mapping with daemon:, host:, tuning:, defaults: and "
     "domains:, found a single value\n"},
    {"tab indentation", "defaults:\n\tweight: 1\n",
     "test.yaml:2:1: YAML syntax error while scanning for the next token: found character that "
     "cannot start any token (a tab; indent with spaces)\n"},
    {"unterminated flow mapping", "defaults: {weight: 1\n",
     "test.yaml:2:1: YAML syntax error while parsing a flow mapping: did not find expected ',' "
     "or '}'\n"},
    {"bad indentation", "defaults:\n  weight: 1\n buffer: 2%\n",
     "test.yaml:3:2: YAML syntax error while parsing a block mapping: did not find expected "
     "key\n"},
    {"non-UTF-8 bytes", "defaults:\n  weight: \xff\xfe\n",
     "test.yaml:2:11: invalid text: invalid leading UTF-8 octet (byte 0xFF)\n"},
    {"control character", "defaults:\n  weight: 1\x01\n",
     "test.yaml:2:12: invalid text: control characters are not allowed (byte 0x01)\n"},
    {"anchor and alias", "defaults: &d\n  weight: 1\ndomains:\n  - name: a\n    weight: *w\n",
     "test.yaml:1:11: anchor &d: anchors and aliases are not supported in a policy file\n"
     "test.yaml:5:13: alias *w: anchors and aliases are not supported in a policy file\n"},
    {"merge key", "defaults:\n  <<: {weight: 1}\n",
     "test.yaml:2:3: unknown key \"<<\" in defaults\n"},
    {"tag", "defaults: !!map {weight: 1}\n",
     "test.yaml:1:11: YAML tags (tag:yaml.org,2002:map) are not supported in a policy file\n"},
    {"NUL character", "defaults:\n  mode: \"dyn\\0amic\"\n",
     "test.yaml:2:9: a value contains a NUL character\n"},
    {"several errors, all reported in file order",
     "daemon:\n  interval: 1 s\nhost:\n  reserve: 2GB\ndefaults:\n  wieght: 1\n  buffer: -5%\n"
     "domains:\n  - name: a\n    weight: 20000\n  - match: x\n    minimum: 4GiB\n    maximum: "
     "1GiB\n",
     "test.yaml:2:13: interval in daemon: expected a duration such as 500ms, 1s or 2min, found "
     "\"1 s\"\n"
     "test.yaml:4:12: reserve in host: size \"2GB\": \"GB\" is a decimal unit in libvirt and is "
     "not accepted here; did you mean \"GiB\"?\n"
     "test.yaml:6:3: unknown key \"wieght\" in defaults; did you mean \"weight\"?\n"
     "test.yaml:7:11: buffer in defaults: expected a percentage such as 20%, found \"-5%\"\n"
     "test.yaml:10:13: weight in domains[0]: 20000 is out of range 0..10000\n"
     "test.yaml:11:5: domains[1]: minimum 4 GiB is above maximum 1 GiB\n"},
};

static void test_error_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
        g_autofree char *errors = load_fail(error_cases[i].yaml);

        if (strcmp(errors, error_cases[i].errors) != 0)
            fail_msg("%s:\nexpected:\n%sgot:\n%s", error_cases[i].name, error_cases[i].errors,
                     errors);
    }
}

/* A NUL byte in the buffer itself (not an escape) is not text. */
static void test_nul_byte_in_buffer(void **state)
{
    static const char yaml[] = "defaults:\n  weight: 1\0\n";
    g_autofree char *errors = load_fail_len(yaml, sizeof(yaml) - 1);

    (void)state;
    assert_string_equal(errors,
                        "test.yaml:2:12: invalid text: control characters are not allowed (byte "
                        "0x00)\n");
}

static void test_deep_nesting(void **state)
{
    const size_t depth = 10000;
    g_autoptr(GString) flow_lists = g_string_new("defaults: ");
    g_autoptr(GString) flow_maps = g_string_new("");
    g_autoptr(GString) block = g_string_new("");
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL;

    (void)state;
    for (size_t i = 0; i < depth; i++)
        g_string_append_c(flow_lists, '[');
    for (size_t i = 0; i < depth; i++)
        g_string_append(flow_maps, "{a: ");
    /* block mappings, each indented one more space */
    for (size_t i = 0; i < 100; i++)
        g_string_append_printf(block, "%*sa:\n", (int)i, "");

    e1 = load_fail(flow_lists->str);
    assert_string_equal(
        e1, "test.yaml:1:26: nesting is deeper than 16 levels; a policy file needs 3\n");
    e2 = load_fail(flow_maps->str);
    assert_string_equal(
        e2, "test.yaml:1:65: nesting is deeper than 16 levels; a policy file needs 3\n");
    e3 = load_fail(block->str);
    assert_string_equal(
        e3, "test.yaml:17:17: nesting is deeper than 16 levels; a policy file needs 3\n");
}

/* The "billion laughs": nine levels of ten aliases each. With aliases
 * refused nothing is expanded; each anchor and alias is named once. */
static void test_alias_bomb(void **state)
{
    g_autoptr(GString) yaml = g_string_new("a0: &a0 [\"lol\"]\n");
    g_autoptr(GPtrArray) errors = NULL;
    PolicyConfig *cfg = NULL;

    (void)state;
    for (int level = 1; level <= 9; level++) {
        g_string_append_printf(yaml, "a%d: &a%d [", level, level);
        for (int i = 0; i < 10; i++)
            g_string_append_printf(yaml, "%s*a%d", i ? ", " : "", level - 1);
        g_string_append(yaml, "]\n");
    }
    assert_int_equal(policy_config_load_buf(yaml->str, yaml->len, "test.yaml", &cfg, &errors),
                     -EINVAL);
    assert_null(cfg);
    /* per level: an unknown key and an anchor; levels 1..9 add ten aliases */
    assert_int_equal(errors->len, 10 * 2 + 9 * 10);
    assert_string_equal(g_ptr_array_index(errors, 0),
                        "test.yaml:1:1: unknown key \"a0\" in the top level");
    assert_string_equal(g_ptr_array_index(errors, 1),
                        "test.yaml:1:5: anchor &a0: anchors and aliases are not supported in a "
                        "policy file");
    assert_string_equal(g_ptr_array_index(errors, 4),
                        "test.yaml:2:10: alias *a0: anchors and aliases are not supported in a "
                        "policy file");
    /* 110 messages, not 10^9 expansions: the error count is the proof */
}

/* Inside otherwise valid sections an alias is refused just the same. */
static void test_alias_in_rules(void **state)
{
    g_autoptr(GString) yaml = g_string_new("defaults: &d {weight: 1}\ndomains:\n");
    g_autoptr(GPtrArray) errors = NULL;
    PolicyConfig *cfg = NULL;

    (void)state;
    for (int i = 0; i < 50; i++)
        g_string_append_printf(yaml, "  - {name: vm%d, weight: *d}\n", i);
    assert_int_equal(policy_config_load_buf(yaml->str, yaml->len, "test.yaml", &cfg, &errors),
                     -EINVAL);
    assert_int_equal(errors->len, 51);
}

/* Hostile files are bounded: beyond 1000 errors the rest are counted. */
static void test_error_limit(void **state)
{
    g_autoptr(GString) yaml = g_string_new("defaults:\n");
    g_autoptr(GPtrArray) errors = NULL;
    PolicyConfig *cfg = NULL;

    (void)state;
    for (int i = 0; i < 2500; i++)
        g_string_append_printf(yaml, "  junk%d: 1\n", i);
    assert_int_equal(policy_config_load_buf(yaml->str, yaml->len, "test.yaml", &cfg, &errors),
                     -EINVAL);
    assert_int_equal(errors->len, 1001);
    assert_string_equal(g_ptr_array_index(errors, 0),
                        "test.yaml:2:3: unknown key \"junk0\" in defaults");
    assert_string_equal(g_ptr_array_index(errors, 1000), "test.yaml: 1500 more errors not shown");
}

static void test_many_rules(void **state)
{
    const size_t n = 100000;
    g_autoptr(GString) yaml = g_string_new("defaults:\n  weight: 1\ndomains:\n");
    g_autoptr(PolicyConfig) cfg = NULL;
    PolicyEffective eff;

    (void)state;
    /* How long this takes is a benchmark figure (docs/benchmarks.md), not
     * a pass/fail criterion; a quadratic loader would still hit the
     * suite's timeout. */
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(yaml, "  - name: vm%zu\n    weight: %zu\n    minimum: 1GiB\n", i,
                               i % 10001);
    cfg = load_ok_len(yaml->str, yaml->len);
    assert_int_equal(cfg->n_rules, n);

    policy_config_resolve(cfg, "vm99999", NULL, NULL, &eff);
    assert_int_equal(eff.rule_index, 99999);
    assert_int_equal(eff.weight, 99999 % 10001);
    assert_int_equal(eff.minimum.value, GIB);
}

/* ---- resolution ------------------------------------------------------------------- */

static const char resolve_yaml[] = "defaults:\n"
                                   "  weight: 100\n"
                                   "  buffer: 25%\n"
                                   "domains:\n"
                                   "  - name: vm1\n"
                                   "    weight: 1\n"
                                   "  - uuid: 4DEA22B3-1D52-D8F3-2516-782E98AB3FA0\n"
                                   "    weight: 3\n"
                                   "    mode: static\n"
                                   "  - match: \"vm*\"\n"
                                   "    weight: 2\n"
                                   "    startup: 2GiB\n"
                                   "  - match: \"db-[0-9]?\"\n"
                                   "    weight: 5\n"
                                   "  - name: vm2\n"
                                   "    weight: 9999\n";

static void test_resolve_order(void **state)
{
    static const struct {
        const char *name, *uuid;
        int rule;
        uint32_t weight;
    } cases[] = {
        {"vm1", NULL, 0, 1}, /* exact name */
        {"vm2", NULL, 2, 2}, /* glob, before the later exact rule */
        {"vmx", "11111111-2222-3333-4444-555555555555", 2, 2},
        {"vm1", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", 0, 1}, /* first match wins */
        {"other", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", 1, 3},
        {"other", "4DEA22B3-1D52-D8F3-2516-782E98AB3FA0", 1, 3}, /* any case */
        {NULL, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", 1, 3},
        {"db-1x", NULL, 3, 5},
        {"db-10", NULL, 3, 5},
        {"db-x1", NULL, -1, 100}, /* [0-9] is a class, not literal text */
        {"db-1", NULL, -1, 100},  /* ? needs one character */
        {"VM1", NULL, -1, 100},   /* names are case-sensitive */
        {"other", NULL, -1, 100},
        {NULL, NULL, -1, 100},
    };
    g_autoptr(PolicyConfig) cfg = load_ok(resolve_yaml);

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        PolicyEffective eff;

        policy_config_resolve(cfg, cases[i].name, cases[i].uuid, NULL, &eff);
        if (eff.rule_index != cases[i].rule || eff.weight != cases[i].weight)
            fail_msg("%s/%s: rule %d weight %" PRIu32 ", expected rule %d weight %" PRIu32,
                     cases[i].name, cases[i].uuid, eff.rule_index, eff.weight, cases[i].rule,
                     cases[i].weight);
        assert_false(eff.overridden);
        /* what no layer sets comes from the defaults */
        assert_int_equal(eff.buffer_pct, 25);
        assert_int_equal(eff.minimum.value, 512 * MIB);
        assert_int_equal(eff.maximum.kind, POLICY_AMOUNT_PERCENT);
        assert_int_equal(eff.maximum.value, 100);
    }
}

static void test_resolve_layers(void **state)
{
    g_autoptr(PolicyConfig) cfg = load_ok(resolve_yaml);
    PolicySettings override = {0};
    PolicyEffective eff;

    (void)state;
    /* the uuid rule sets mode; startup stays unset */
    policy_config_resolve(cfg, "x", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0", NULL, &eff);
    assert_int_equal(eff.mode, POLICY_MODE_STATIC);
    assert_int_equal(eff.startup.kind, POLICY_AMOUNT_UNSET);

    /* the glob rule sets startup */
    policy_config_resolve(cfg, "vm7", NULL, NULL, &eff);
    assert_int_equal(eff.mode, POLICY_MODE_DYNAMIC);
    assert_int_equal(eff.startup.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(eff.startup.value, 2 * GIB);

    /* an empty override changes nothing and is not reported */
    policy_config_resolve(cfg, "vm7", NULL, &override, &eff);
    assert_false(eff.overridden);
    assert_int_equal(eff.weight, 2);

    /* an override lies on top of the rule, field by field */
    assert_int_equal(policy_settings_set_key(&override, "weight", "7777", NULL), 0);
    assert_int_equal(policy_settings_set_key(&override, "maximum", "8GiB", NULL), 0);
    policy_config_resolve(cfg, "vm7", NULL, &override, &eff);
    assert_true(eff.overridden);
    assert_int_equal(eff.rule_index, 2);
    assert_int_equal(eff.weight, 7777);
    assert_int_equal(eff.maximum.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(eff.maximum.value, 8 * GIB);
    assert_int_equal(eff.startup.value, 2 * GIB); /* from the rule */
    assert_int_equal(eff.buffer_pct, 25);         /* from the defaults */

    /* and on top of the defaults when no rule matches */
    policy_config_resolve(cfg, "nomatch", NULL, &override, &eff);
    assert_int_equal(eff.rule_index, -1);
    assert_true(eff.overridden);
    assert_int_equal(eff.weight, 7777);
}

/* ---- describe and the shipped example ----------------------------------------- */

static void test_describe_defaults(void **state)
{
    static const char expected[] = "daemon:\n"
                                   "  connect: qemu:///system\n"
                                   "  interval: 1s\n"
                                   "  metrics-file: none\n"
                                   "  metrics-interval: 15s\n"
                                   "  record-file: none\n"
                                   "  record-max-size: 256 MiB\n"
                                   "host:\n"
                                   "  reserve: 2 GiB\n"
                                   "  pool: unlimited\n"
                                   "  overhead: 64 MiB\n"
                                   "  psi-threshold: 10%\n"
                                   "  deflate-reserve: 2 guests\n"
                                   "  admission: enforce\n"
                                   "  admission-wait: 30s\n"
                                   "  admission-unreachable: allow\n"
                                   "tuning:\n"
                                   "  grace: 1min\n"
                                   "  demand-half-life: 1min\n"
                                   "  min-step: 32 MiB\n"
                                   "  min-step-percent: 1%\n"
                                   "  max-shrink: 256 MiB\n"
                                   "  trim-hold: 100%\n"
                                   "  uncooperative-timeout: 30s\n"
                                   "  uncooperative-retry: 5min\n"
                                   "  stale-periods: 3\n"
                                   "  pressure-swap-in: 1 MiB/s\n"
                                   "  pressure-major-faults: 100/s\n"
                                   "  pressure-boost: 10%\n"
                                   "defaults:\n"
                                   "  mode: dynamic\n"
                                   "  minimum: 512 MiB\n"
                                   "  startup: unset (the domain's own memory at boot)\n"
                                   "  maximum: 100%\n"
                                   "  buffer: 20%\n"
                                   "  weight: 5000\n"
                                   "  burst-headroom: learn 128 MiB\n"
                                   "  buffer-min: 64 MiB\n"
                                   "domains: no rules; every domain uses the defaults\n";
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    g_autofree char *text = policy_config_describe(cfg);

    (void)state;
    assert_string_equal(text, expected);
}

static void test_describe_rules(void **state)
{
    g_autoptr(PolicyConfig) cfg = load_ok("host:\n  reserve: 5%\n  pool: 1.5GiB\n"
                                          "domains:\n  - match: \"vdi-*\"\n    weight: 2000\n"
                                          "    buffer: 10%\n  - name: db01\n");
    g_autofree char *text = policy_config_describe(cfg);

    (void)state;
    assert_non_null(strstr(text, "  reserve: 5% of MemTotal\n  pool: 1.5 GiB\n"));
    assert_non_null(strstr(text, "domains: 2 rules, first match wins\n"
                                 "  domains[0] (line 5): match \"vdi-*\"\n"
                                 "    sets: buffer, weight\n"
                                 "    mode: dynamic\n"
                                 "    minimum: 512 MiB\n"
                                 "    startup: unset (the domain's own memory at boot)\n"
                                 "    maximum: 100%\n"
                                 "    buffer: 10%\n"
                                 "    weight: 2000\n"
                                 "    burst-headroom: learn 128 MiB\n"
                                 "    buffer-min: 64 MiB\n"
                                 "  domains[1] (line 8): name \"db01\"\n"
                                 "    sets: nothing (the defaults apply)\n"));
}

static void test_shipped_example(void **state)
{
    g_autofree char *path = g_build_filename(DYNMEM_SOURCE_ROOT, "data", "policy.yaml", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(PolicyConfig) cfg = NULL;
    g_autofree char *described = NULL;
    gsize len = 0;
    PolicyEffective eff;

    (void)state;
    if (!g_file_get_contents(path, &text, &len, &error))
        fail_msg("%s", error->message);
    cfg = load_ok_len(text, len);
    assert_true(cfg->n_rules >= 3);

    /* the example shows each kind of rule */
    policy_config_resolve(cfg, "vdi-042", NULL, NULL, &eff);
    assert_true(eff.rule_index >= 0);
    assert_true(eff.weight < POLICY_WEIGHT_DEFAULT);
    policy_config_resolve(cfg, "db01", NULL, NULL, &eff);
    assert_int_equal(eff.mode, POLICY_MODE_STATIC);
    {
        bool has_uuid = false;

        for (size_t i = 0; i < cfg->n_rules; i++)
            has_uuid |= cfg->rules[i].kind == POLICY_MATCH_UUID;
        assert_true(has_uuid);
    }
    described = policy_config_describe(cfg);
    assert_non_null(strstr(described, "match \"vdi-*\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_mode_and_keys),
        cmocka_unit_test(test_key_tables),
        cmocka_unit_test(test_key_integer_text),
        cmocka_unit_test(test_set_key),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_long_values_bounded),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_empty_means_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_flow_style_and_quotes),
        cmocka_unit_test(test_pool_unlimited),
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_nul_byte_in_buffer),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_alias_in_rules),
        cmocka_unit_test(test_error_limit),
        cmocka_unit_test(test_many_rules),
        cmocka_unit_test(test_resolve_order),
        cmocka_unit_test(test_resolve_layers),
        cmocka_unit_test(test_describe_defaults),
        cmocka_unit_test(test_describe_rules),
        cmocka_unit_test(test_shipped_example),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
