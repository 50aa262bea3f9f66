/* SPDX-License-Identifier: GPL-2.0-or-later */
/* overrides.c: the pure parse/format halves, hostile text, and the store's
 * file handling in a temporary directory. */
#include "overrides.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define UUID1 "0d5b2f6e-1111-4a4a-9b9b-000000000001"
#define UUID2 "0d5b2f6e-1111-4a4a-9b9b-000000000002"
#define UUID3 "0d5b2f6e-1111-4a4a-9b9b-000000000003"
#define UUID4 "0d5b2f6e-1111-4a4a-9b9b-000000000004"

static GHashTable *parse_ok(const char *text)
{
    GHashTable *t = NULL;
    g_autofree char *err = NULL;
    int r = overrides_parse_buf(text, strlen(text), &t, &err);
    if (r < 0)
        fail_msg("unexpected error: %s", err);
    return t;
}

static void test_parse_basic(void **state)
{
    g_autoptr(GHashTable) t = parse_ok("overrides:\n"
                                       "  # web01\n"
                                       "  " UUID1 ":\n"
                                       "    weight: 8000\n"
                                       "    buffer: 30%\n"
                                       "    minimum: 512MiB\n"
                                       "    maximum: 90%\n"
                                       "    mode: static\n");
    assert_int_equal(g_hash_table_size(t), 1);
    const OverrideEntry *e = g_hash_table_lookup(t, UUID1);
    assert_non_null(e);
    assert_int_equal(e->settings.set, POLICY_FIELD_WEIGHT | POLICY_FIELD_BUFFER |
                                          POLICY_FIELD_MINIMUM | POLICY_FIELD_MAXIMUM |
                                          POLICY_FIELD_MODE);
    assert_int_equal(e->settings.weight, 8000);
    assert_int_equal(e->settings.buffer_pct, 30);
    assert_int_equal(e->settings.minimum.kind, POLICY_AMOUNT_KIB);
    assert_int_equal(e->settings.minimum.value, 512 * 1024);
    assert_int_equal(e->settings.maximum.kind, POLICY_AMOUNT_PERCENT);
    assert_int_equal(e->settings.maximum.value, 90);
    assert_int_equal(e->settings.mode, POLICY_MODE_STATIC);
    /* the name in a comment, as files were written before it was a key */
    assert_string_equal(e->name, "web01");
}

/* The name as a key; it wins over an old comment, and a null one is no
 * name. */
static void test_parse_name_key(void **state)
{
    g_autoptr(GHashTable) t = parse_ok("overrides:\n"
                                       "  # old\n"
                                       "  " UUID1 ":\n"
                                       "    name: \"web01\"\n"
                                       "    weight: 8000\n"
                                       "  " UUID2 ":\n"
                                       "    name:\n");
    const OverrideEntry *e = g_hash_table_lookup(t, UUID1);
    assert_non_null(e);
    assert_string_equal(e->name, "web01");
    assert_int_equal(e->settings.set, POLICY_FIELD_WEIGHT);
    e = g_hash_table_lookup(t, UUID2);
    assert_non_null(e);
    assert_null(e->name);
    assert_int_equal(e->settings.set, 0);
}

static void test_parse_empty(void **state)
{
    const char *texts[] = {"", "# nothing\n", "overrides:\n", "overrides: {}\n"};
    for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(GHashTable) t = parse_ok(texts[i]);
        assert_int_equal(g_hash_table_size(t), 0);
    }
}

static void test_parse_uppercase_uuid(void **state)
{
    g_autoptr(GHashTable) t = parse_ok("overrides:\n  0D5B2F6E-1111-4A4A-9B9B-000000000001:\n"
                                       "    weight: 1\n");
    assert_non_null(g_hash_table_lookup(t, UUID1));
}

/* Hostile and wrong text: every one is an error with a position, and the
 * table is left untouched. */
static void test_parse_errors(void **state)
{
    static const struct {
        const char *text;
        const char *needle; /* in the message */
    } cases[] = {
        {"overrides:\n  " UUID1 ":\n    weight: 20000\n", "weight"},
        {"overrides:\n  " UUID1 ":\n    buffer: -5%\n", "buffer"},
        {"overrides:\n  " UUID1 ":\n    wieght: 1\n", "wieght"},
        {"overrides:\n  " UUID1 ":\n    minimum: 3GiB\n    maximum: 2GiB\n", "minimum"},
        {"overrides:\n  not-a-uuid:\n    weight: 1\n", "UUID"},
        {"overrides:\n  " UUID1 ": 5\n", "mapping"},
        {"overrides:\n  " UUID1 ":\n    weight: [1]\n", "key: value"},
        {"overrides:\n  " UUID1 ":\n    name: [1]\n", "key: value"},
        {"overrides: [1, 2]\n", "mapping"},
        {"other: 1\n", "unknown key"},
        {"- 1\n", "mapping"},
        {"overrides:\n  " UUID1 ":\n    weight: 1\n  " UUID1 ":\n    weight: 2\n", "twice"},
        {"overrides:\n  " UUID1 ":\n    weight: [\n", ""},
        {"\t\t: : :\n", ""},
        {"overrides: &a\n  " UUID1 ": *a\n", ""},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GHashTable *t = (GHashTable *)(void *)0x1;
        g_autofree char *err = NULL;
        int r = overrides_parse_buf(cases[i].text, strlen(cases[i].text), &t, &err);
        if (r != -EINVAL)
            fail_msg("case %zu: expected -EINVAL, got %d", i, r);
        assert_ptr_equal(t, (void *)0x1);
        assert_non_null(err);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].needle, err);
        /* "line:column: ..." */
        assert_true(g_ascii_isdigit(err[0]));
    }
}

/* Hostile structure: deep nesting and alias bombs are refused quickly by
 * the policy loader's YAML reader (the file used to have its own, whose
 * time grew with the square of the nesting: 80,000 levels took 16 s). */
static void test_parse_hostile_structure(void **state)
{
    enum { DEPTH = 80000 };
    GString *deep_list = g_string_new("overrides:\n  " UUID1 ":\n    weight: ");
    GString *deep_block = g_string_new("overrides:\n");
    GString *bomb = g_string_new("overrides:\n  " UUID1 ":\n    weight: 1\n");
    for (int i = 0; i < DEPTH; i++) {
        g_string_append_c(deep_list, '[');
        g_string_append(deep_block, "- ");
    }
    g_string_append(bomb, "a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (char c = 'b'; c <= 'z'; c++)
        g_string_append_printf(bomb, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", c,
                               c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    const struct {
        GString *text;
        const char *needle;
    } cases[] = {
        {deep_list, "nesting is deeper than 16 levels; the overrides file needs 3"},
        {deep_block, "nesting is deeper than 16 levels"},
        {bomb, "anchors and aliases are not supported in the overrides file"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GHashTable *t = (GHashTable *)(void *)0x1;
        g_autofree char *err = NULL;
        int64_t start = g_get_monotonic_time();
        int r = overrides_parse_buf(cases[i].text->str, cases[i].text->len, &t, &err);
        int64_t took_ms = (g_get_monotonic_time() - start) / 1000;
        assert_int_equal(r, -EINVAL);
        assert_ptr_equal(t, (void *)0x1);
        if (!strstr(err, cases[i].needle))
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].needle, err);
        if (took_ms > 500)
            fail_msg("case %zu: refused after %" G_GINT64_FORMAT " ms", i, took_ms);
        g_string_free(cases[i].text, TRUE);
    }
}

/* Text beyond the documented size is refused without being parsed. */
static void test_parse_too_large(void **state)
{
    size_t len = 1024 * 1024 + 1;
    g_autofree char *text = g_malloc(len + 1);
    memset(text, '#', len);
    text[len] = '\0';
    GHashTable *t = (GHashTable *)(void *)0x1;
    g_autofree char *err = NULL;
    assert_int_equal(overrides_parse_buf(text, len, &t, &err), -EINVAL);
    assert_ptr_equal(t, (void *)0x1);
    assert_non_null(strstr(err, "larger than 1024 KiB"));
}

static void put(GHashTable *t, const char *uuid, const char *name, const char *const *kv)
{
    OverrideEntry *e = g_new0(OverrideEntry, 1);
    e->uuid = g_strdup(uuid);
    e->name = g_strdup(name);
    for (; *kv; kv += 2) {
        g_autofree char *err = NULL;
        if (policy_settings_set_key(&e->settings, kv[0], kv[1], &err) < 0)
            fail_msg("%s", err);
    }
    g_hash_table_insert(t, e->uuid, e);
}

/* Field by field: the struct has padding, so no memcmp. */
static void assert_settings_equal(const PolicySettings *x, const PolicySettings *y)
{
    assert_int_equal(x->set, y->set);
    assert_int_equal(x->mode, y->mode);
    const PolicyAmount *ax[] = {&x->minimum, &x->startup, &x->maximum};
    const PolicyAmount *ay[] = {&y->minimum, &y->startup, &y->maximum};
    for (size_t i = 0; i < G_N_ELEMENTS(ax); i++) {
        assert_int_equal(ax[i]->kind, ay[i]->kind);
        assert_int_equal(ax[i]->value, ay[i]->value);
    }
    assert_int_equal(x->buffer_pct, y->buffer_pct);
    assert_int_equal(x->weight, y->weight);
    assert_int_equal(x->burst_headroom.learn, y->burst_headroom.learn);
    assert_int_equal(x->burst_headroom.kib, y->burst_headroom.kib);
    assert_int_equal(x->buffer_min_kib, y->buffer_min_kib);
}

/* format -> parse gives back the same settings, exactly. */
static void test_round_trip(void **state)
{
    g_autoptr(GHashTable) t = overrides_table_new();
    const char *a[] = {"weight", "0",       "buffer", "2000%", "minimum", "1536MiB", "startup",
                       "2GiB",   "maximum", "100%",   "mode",  "dynamic", NULL};
    const char *b[] = {"minimum",      "4100KiB",    "mode",    "static", "burst-headroom",
                       "learn 300MiB", "buffer-min", "1000KiB", NULL};
    put(t, UUID2, "db01\nsneaky: 1", b);
    /* U+2028 and NEL end a YAML comment as well as a newline does */
    const char *c[] = {"weight", "100", "burst-headroom", "1GiB", NULL};
    put(t, UUID3, "vm\xe2\x80\xa8  " UUID1 ":\xc2\x85    mode: static", c);
    put(t, UUID1, "web01", a);
    /* beyond U+FFFF, a noncharacter libyaml refuses raw, invalid UTF-8 */
    const char *d[] = {"weight", "1", NULL};
    put(t, UUID4, "x\xf0\x9f\x98\x80\xf3\xa0\x80\x81\xef\xbf\xbe\xff", d);
    g_autofree char *text = overrides_format(t);
    /* sorted by uuid, names as keys, quoted on one line each */
    assert_non_null(strstr(text, "  " UUID1 ":\n    name: \"web01\"\n"));
    assert_true(strstr(text, UUID1) < strstr(text, UUID2));
    assert_non_null(strstr(text, "    name: \"db01\\nsneaky: 1\"\n"));
    assert_non_null(strstr(text, "\\U000E0001"));
    assert_null(strstr(text, "sneaky: 1\n"));
    assert_null(strstr(text, "\n  " UUID1 ":\xc2\x85")); /* NEL escaped, not a line */
    assert_non_null(strstr(text, "minimum: 1536MiB\n"));
    assert_non_null(strstr(text, "minimum: 4100KiB\n"));
    assert_non_null(strstr(text, "startup: 2GiB\n"));
    assert_non_null(strstr(text, "burst-headroom: learn 300MiB\n"));
    assert_non_null(strstr(text, "burst-headroom: 1GiB\n"));
    assert_non_null(strstr(text, "buffer-min: 1000KiB\n"));

    g_autoptr(GHashTable) back = parse_ok(text);
    assert_int_equal(g_hash_table_size(back), 4);
    const char *uuids[] = {UUID1, UUID2, UUID3, UUID4};
    for (size_t i = 0; i < G_N_ELEMENTS(uuids); i++) {
        const OverrideEntry *x = g_hash_table_lookup(t, uuids[i]);
        const OverrideEntry *y = g_hash_table_lookup(back, uuids[i]);
        assert_non_null(y);
        assert_settings_equal(&x->settings, &y->settings);
        /* the name reads back exactly, hostile or not (invalid UTF-8 as
         * U+FFFD: YAML has no bytes) */
        if (i < 3)
            assert_string_equal(x->name, y->name);
    }
    assert_string_equal(((const OverrideEntry *)g_hash_table_lookup(back, UUID4))->name,
                        "x\xf0\x9f\x98\x80\xf3\xa0\x80\x81\xef\xbf\xbe\xef\xbf\xbd");
}

/* An entry without settings (hand-written "UUID: {}") reads back as one,
 * not as a null that makes the whole file corrupt (found by fuzzing). */
static void test_round_trip_empty_entry(void **state)
{
    g_autoptr(GHashTable) t = parse_ok("overrides:\n  " UUID1 ": {}\n");
    assert_int_equal(g_hash_table_size(t), 1);
    g_autofree char *text = overrides_format(t);
    g_autoptr(GHashTable) back = parse_ok(text);
    assert_int_equal(g_hash_table_size(back), 1);
}

static void test_format_value(void **state)
{
    PolicySettings s = {0};
    assert_null(overrides_format_value(&s, POLICY_FIELD_WEIGHT));
    g_autofree char *err = NULL;
    assert_int_equal(policy_settings_set_key(&s, "maximum", "2TiB", &err), 0);
    g_autofree char *v = overrides_format_value(&s, POLICY_FIELD_MAXIMUM);
    assert_string_equal(v, "2TiB");
}

/* ---- the store, on a real directory ------------------------------------ */

static char *tmpdir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("dynmem-overrides-XXXXXX", &err);
    assert_non_null(dir);
    return dir;
}

static void rm_rf(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        g_unlink(p);
    }
    if (d)
        g_dir_close(d);
    g_rmdir(dir);
}

static void test_store_put_and_reopen(void **state)
{
    g_autofree char *dir = tmpdir();
    g_autoptr(OverrideStore) store = NULL;
    g_autofree char *problem = NULL;
    assert_int_equal(override_store_open(dir, &store, &problem), 0);
    assert_null(problem);
    assert_int_equal(g_hash_table_size(override_store_entries(store)), 0);

    PolicySettings s = {0};
    g_autofree char *err = NULL;
    assert_int_equal(policy_settings_set_key(&s, "weight", "9000", &err), 0);
    assert_int_equal(override_store_put(store, UUID1, "web01", &s, &err), 0);
    assert_int_equal(override_store_put(store, UUID2, "db01", &s, &err), 0);
    assert_int_equal(override_store_put(store, UUID2, NULL, NULL, &err), 0);

    g_autoptr(OverrideStore) again = NULL;
    assert_int_equal(override_store_open(dir, &again, &problem), 0);
    GHashTable *t = override_store_entries(again);
    assert_int_equal(g_hash_table_size(t), 1);
    const OverrideEntry *e = g_hash_table_lookup(t, UUID1);
    assert_non_null(e);
    assert_int_equal(e->settings.weight, 9000);
    assert_string_equal(e->name, "web01"); /* read back from its name: key */
    rm_rf(dir);
}

static void test_store_corrupt_moved_aside(void **state)
{
    g_autofree char *dir = tmpdir();
    g_autofree char *path = g_build_filename(dir, OVERRIDES_FILE_NAME, NULL);
    assert_true(g_file_set_contents(path, "overrides:\n  x: [\n", -1, NULL));
    g_autoptr(OverrideStore) store = NULL;
    g_autofree char *problem = NULL;
    assert_int_equal(override_store_open(dir, &store, &problem), 0);
    assert_non_null(problem);
    assert_non_null(strstr(problem, "moved aside"));
    assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name = g_dir_read_name(d);
    assert_non_null(name);
    assert_true(g_str_has_prefix(name, OVERRIDES_FILE_NAME ".corrupt-"));
    g_dir_close(d);
    assert_int_equal(g_hash_table_size(override_store_entries(store)), 0);
    rm_rf(dir);
}

/* A file over the size limit or too deeply nested is not loaded; it is
 * moved aside whole, so what the operator had is kept. */
static void test_store_hostile_file_kept_aside(void **state)
{
    for (int which = 0; which < 2; which++) {
        g_autofree char *dir = tmpdir();
        g_autofree char *path = g_build_filename(dir, OVERRIDES_FILE_NAME, NULL);
        GString *text = g_string_new("overrides:\n  " UUID1 ":\n    weight: 1\n");
        if (which == 1)
            g_string_assign(text, "overrides:\n  " UUID1 ":\n    weight: ");
        if (which == 0)
            while (text->len <= 1024 * 1024)
                g_string_append(text, "# padding padding padding padding padding padding\n");
        else
            for (int i = 0; i < 80000; i++)
                g_string_append(text, "[");
        assert_true(g_file_set_contents(path, text->str, (gssize)text->len, NULL));
        g_autoptr(OverrideStore) store = NULL;
        g_autofree char *problem = NULL;
        assert_int_equal(override_store_open(dir, &store, &problem), 0);
        assert_non_null(problem);
        assert_non_null(strstr(problem, which == 0 ? "larger than 1024 KiB" : "nesting"));
        assert_non_null(strstr(problem, "moved aside"));
        assert_int_equal(g_hash_table_size(override_store_entries(store)), 0);
        GDir *d = g_dir_open(dir, 0, NULL);
        const char *name = g_dir_read_name(d);
        assert_non_null(name);
        g_autofree char *aside = g_build_filename(dir, name, NULL);
        g_dir_close(d);
        g_autofree char *kept = NULL;
        gsize kept_len = 0;
        assert_true(g_file_get_contents(aside, &kept, &kept_len, NULL));
        assert_int_equal(kept_len, text->len);
        g_string_free(text, TRUE);
        rm_rf(dir);
    }
}

static void test_store_write_failure_changes_nothing(void **state)
{
    g_autofree char *dir = tmpdir();
    g_autoptr(OverrideStore) store = NULL;
    g_autofree char *problem = NULL;
    assert_int_equal(override_store_open(dir, &store, &problem), 0);
    /* The file's place is taken by a directory: rename() fails. */
    g_autofree char *path = g_build_filename(dir, OVERRIDES_FILE_NAME, NULL);
    g_autofree char *inner = g_build_filename(path, "x", NULL);
    assert_int_equal(g_mkdir(path, 0700), 0);
    assert_true(g_file_set_contents(inner, "", -1, NULL));
    PolicySettings s = {0};
    g_autofree char *err = NULL;
    assert_int_equal(policy_settings_set_key(&s, "weight", "1", &err), 0);
    assert_int_equal(override_store_put(store, UUID1, "web01", &s, &err), -EISDIR);
    assert_non_null(err);
    /* the errno's own words, as before GLib wrote the file */
    g_autofree char *want = g_strdup_printf("cannot write %s: %s", path, g_strerror(EISDIR));
    assert_string_equal(err, want);
    assert_int_equal(g_hash_table_size(override_store_entries(store)), 0);
    g_unlink(inner);
    g_rmdir(path);
    rm_rf(dir); /* also proves no temp file was left behind */
    assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_name_key),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_uppercase_uuid),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_hostile_structure),
        cmocka_unit_test(test_parse_too_large),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_empty_entry),
        cmocka_unit_test(test_format_value),
        cmocka_unit_test(test_store_put_and_reopen),
        cmocka_unit_test(test_store_corrupt_moved_aside),
        cmocka_unit_test(test_store_hostile_file_kept_aside),
        cmocka_unit_test(test_store_write_failure_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
