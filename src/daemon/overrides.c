/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "overrides.h"
#include "config-file.h"
#include "settings.h"
#include "text.h"
#include "yaml-tree.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct OverrideStore {
    char *path;
    GHashTable *entries; /* uuid -> OverrideEntry* */
};

void override_entry_free(OverrideEntry *e)
{
    if (!e)
        return;
    g_free(e->uuid);
    g_free(e->name);
    g_free(e);
}

GHashTable *overrides_table_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                 (GDestroyNotify)override_entry_free);
}

static OverrideEntry *entry_copy(const OverrideEntry *e)
{
    OverrideEntry *c = g_new0(OverrideEntry, 1);
    c->uuid = g_strdup(e->uuid);
    c->name = g_strdup(e->name);
    c->settings = e->settings;
    return c;
}

/* ---- parsing ------------------------------------------------------------ */

/* The text goes through the policy loader's YAML reader (yaml-tree.h), with
 * its limits: no anchors or aliases, bounded nesting. */

static char *at(const PolicyYamlNode *n, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *at(const PolicyYamlNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strdup_printf("%u:%u: %s", n->line, n->column, msg);
}

static const char *scalar(const PolicyYamlNode *n)
{
    return n && n->kind == POLICY_YAML_SCALAR ? n->value : NULL;
}

static bool is_empty(const PolicyYamlNode *n)
{
    return n->kind == POLICY_YAML_SCALAR && n->is_null;
}

/* Files written before the name was a key have it in a comment on the line
 * above the UUID; keep reading it so that rewriting such a file keeps the
 * name too. key_line is 1-based. */
static char *name_from_comment(char **lines, size_t n_lines, unsigned key_line)
{
    if (key_line < 2 || key_line - 1 > n_lines)
        return NULL;
    const char *l = lines[key_line - 2];
    l += strspn(l, " ");
    if (!g_str_has_prefix(l, "# "))
        return NULL;
    return g_strdup(l + 2);
}

static int parse_entry(const PolicyYamlNode *key, const PolicyYamlNode *val, OverrideEntry **ret,
                       char **ret_error)
{
    const char *uuid = scalar(key);
    if (!uuid || !g_uuid_string_is_valid(uuid)) {
        *ret_error = at(key, "expected a domain UUID as the key");
        return -EINVAL;
    }
    if (val->kind != POLICY_YAML_MAPPING) {
        *ret_error = at(val, "%s: expected a mapping of settings", uuid);
        return -EINVAL;
    }
    g_autoptr(OverrideEntry) e = g_new0(OverrideEntry, 1);
    e->uuid = g_ascii_strdown(uuid, -1);
    for (guint i = 0; i + 1 < val->items->len; i += 2) {
        const PolicyYamlNode *k = val->items->pdata[i];
        const PolicyYamlNode *v = val->items->pdata[i + 1];
        if (!scalar(k) || !scalar(v)) {
            *ret_error = at(k, "%s: expected \"key: value\"", uuid);
            return -EINVAL;
        }
        if (strcmp(scalar(k), "name") == 0) {
            /* the domain's name when the entry was written, for people */
            g_free(e->name);
            e->name = v->is_null ? NULL : g_strdup(scalar(v));
            continue;
        }
        g_autofree char *err = NULL;
        if (policy_settings_set_key(&e->settings, scalar(k), scalar(v), &err) < 0) {
            *ret_error = at(v, "%s: %s", uuid, err);
            return -EINVAL;
        }
    }
    g_autofree char *err = NULL;
    if (policy_settings_validate(&e->settings, &err) < 0) {
        *ret_error = at(val, "%s: %s", uuid, err);
        return -EINVAL;
    }
    *ret = g_steal_pointer(&e);
    return 0;
}

int overrides_parse_buf(const char *text, size_t len, GHashTable **ret_table, char **ret_error)
{
    g_autoptr(PolicyYamlNode) root = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    if (len > DYNMEM_FILE_MAX_BYTES) {
        *ret_error = g_strdup_printf("1:1: larger than %d KiB, the most dynmemd reads",
                                     DYNMEM_FILE_MAX_BYTES / 1024);
        return -EINVAL;
    }
    if (policy_yaml_parse(text, len, "the overrides file", &root, &errors) < 0) {
        /* the first problem is enough: the file is dynmemd's own */
        *ret_error = g_strdup(errors->len ? (const char *)errors->pdata[0] : "0:0: not YAML");
        return -EINVAL;
    }
    g_autoptr(GHashTable) table = overrides_table_new();
    if (!root || is_empty(root)) {
        *ret_table = g_steal_pointer(&table); /* empty file */
        return 0;
    }
    if (root->kind != POLICY_YAML_MAPPING) {
        *ret_error = at(root, "expected a mapping with the key \"overrides\"");
        return -EINVAL;
    }
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
    size_t n_lines = g_strv_length(lines);
    for (guint i = 0; i + 1 < root->items->len; i += 2) {
        const PolicyYamlNode *k = root->items->pdata[i];
        const PolicyYamlNode *v = root->items->pdata[i + 1];
        if (g_strcmp0(scalar(k), "overrides") != 0) {
            g_autofree char *q = policy_quote(scalar(k) ? scalar(k) : "?");
            *ret_error = at(k, "unknown key \"%s\" (expected \"overrides\")", q);
            return -EINVAL;
        }
        if (is_empty(v))
            continue; /* "overrides:" with nothing under it */
        if (v->kind != POLICY_YAML_MAPPING) {
            *ret_error = at(v, "overrides: expected a mapping of domain UUIDs");
            return -EINVAL;
        }
        for (guint j = 0; j + 1 < v->items->len; j += 2) {
            OverrideEntry *e = NULL;
            const PolicyYamlNode *ek = v->items->pdata[j];
            int r = parse_entry(ek, v->items->pdata[j + 1], &e, ret_error);
            if (r < 0)
                return r;
            if (!e->name) /* a file written before the name was a key */
                e->name = name_from_comment(lines, n_lines, ek->line);
            if (g_hash_table_contains(table, e->uuid)) {
                *ret_error = at(ek, "%s: listed twice", e->uuid);
                override_entry_free(e);
                return -EINVAL;
            }
            g_hash_table_insert(table, e->uuid, e);
        }
    }
    *ret_table = g_steal_pointer(&table);
    return 0;
}

/* ---- formatting --------------------------------------------------------- */

char *overrides_format_value(const PolicySettings *s, PolicyField field)
{
    const PolicyKey *k = policy_domain_key_by_field(field);

    if (!k || !(s->set & field))
        return NULL;
    return policy_key_format(k, s, true);
}

static int cmp_strp(const void *a, const void *b, void *userdata)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *overrides_format(GHashTable *table)
{
    g_autoptr(GString) out =
        g_string_new("# dynmemd's persistent policy overrides, keyed by domain "
                     "UUID.\n# Written by dynmemd; change them with "
                     "`dynmemctl set --persist` and `dynmemctl reset`.\n"
                     "overrides:\n");
    g_autofree void **keys = g_hash_table_get_keys_as_array(table, NULL);
    guint n = g_hash_table_size(table);
    g_qsort_with_data(keys, (gint)n, sizeof(void *), cmp_strp, NULL);
    for (guint i = 0; i < n; i++) {
        const OverrideEntry *e = g_hash_table_lookup(table, keys[i]);
        /* an entry without name or settings (a hand-written `{}`) must
         * stay a mapping: a bare "uuid:" is null and would not read back */
        g_string_append_printf(out, "  %s:%s\n", e->uuid, e->settings.set || e->name ? "" : " {}");
        if (e->name) {
            /* quoted and escaped: a hostile name cannot start a line */
            g_autofree char *name = policy_yaml_quote(e->name);
            g_string_append_printf(out, "    name: %s\n", name);
        }
        for (const PolicyKey *k = policy_domain_keys; k->name; k++) {
            g_autofree char *v = overrides_format_value(&e->settings, k->field);
            if (v)
                g_string_append_printf(out, "    %s: %s\n", k->name, v);
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- files -------------------------------------------------------------- */

/* GLib hands back a GFileError, not the errno; its own errno mapping,
 * searched backwards, gives the errno of every code but FAILED. */
static int errno_from_file_error(const GError *error)
{
    if (error->domain == G_FILE_ERROR && error->code != G_FILE_ERROR_FAILED)
        for (int e = 1; e < 256; e++)
            if (g_file_error_from_errno(e) == (GFileError)error->code)
                return -e;
    return -EIO;
}

int overrides_write_atomic(const char *path, const char *text)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GError) error = NULL;
    if (g_mkdir_with_parents(dir, 0755) < 0)
        return -errno;
    /* temp file in the same directory, fsync, rename, fsync of the
     * directory; the temp file is removed on failure */
    if (!g_file_set_contents_full(path, text, -1,
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                  0644, &error))
        return errno_from_file_error(error);
    return 0;
}

int override_store_open(const char *state_dir, OverrideStore **ret, char **ret_problem)
{
    g_autoptr(OverrideStore) store = g_new0(OverrideStore, 1);
    store->path = g_build_filename(state_dir, OVERRIDES_FILE_NAME, NULL);
    g_autofree char *text = NULL;
    size_t len = 0;
    g_autofree char *err = NULL;
    int r = dynmem_read_file_bounded(store->path, DYNMEM_FILE_MAX_BYTES, &text, &len, &err);
    if (r == -ENOENT) {
        store->entries = overrides_table_new();
        *ret = g_steal_pointer(&store);
        return 0;
    }
    if (r < 0 && r != -EFBIG) {
        *ret_problem = g_strdup_printf("cannot read %s", err);
        return r;
    }
    if (r == -EFBIG) {
        /* "path: larger than ...": the same shape as a parse error */
        g_free(err);
        err = g_strdup_printf(" larger than %d KiB, the most dynmemd reads",
                              DYNMEM_FILE_MAX_BYTES / 1024);
    } else if (overrides_parse_buf(text, len, &store->entries, &err) == 0) {
        *ret = g_steal_pointer(&store);
        return 0;
    }
    /* Keep the operator's data: move it aside, never drop it silently. */
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    g_autofree char *aside = g_strdup_printf("%s.corrupt-%s", store->path, stamp);
    if (rename(store->path, aside) < 0) {
        r = -errno;
        *ret_problem = g_strdup_printf("%s:%s (and moving it aside failed: %s)", store->path, err,
                                       g_strerror(-r));
        return r;
    }
    *ret_problem = g_strdup_printf("%s:%s; moved aside to %s, no persistent overrides loaded",
                                   store->path, err, aside);
    store->entries = overrides_table_new();
    *ret = g_steal_pointer(&store);
    return 0;
}

void override_store_free(OverrideStore *store)
{
    if (!store)
        return;
    if (store->entries)
        g_hash_table_destroy(store->entries);
    g_free(store->path);
    g_free(store);
}

GHashTable *override_store_entries(OverrideStore *store)
{
    return store->entries;
}

int override_store_put(OverrideStore *store, const char *uuid, const char *name,
                       const PolicySettings *settings, char **ret_error)
{
    if (!settings && !g_hash_table_contains(store->entries, uuid))
        return 0;
    /* Build the next table aside; swap it in only once it is on disk. */
    g_autoptr(GHashTable) next = overrides_table_new();
    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, store->entries);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        OverrideEntry *c = entry_copy(v);
        if (strcmp(c->uuid, uuid) == 0)
            override_entry_free(c);
        else
            g_hash_table_insert(next, c->uuid, c);
    }
    if (settings) {
        OverrideEntry *e = g_new0(OverrideEntry, 1);
        e->uuid = g_ascii_strdown(uuid, -1);
        e->name = g_strdup(name);
        e->settings = *settings;
        g_hash_table_insert(next, e->uuid, e);
    }
    g_autofree char *text = overrides_format(next);
    int r = overrides_write_atomic(store->path, text);
    if (r < 0) {
        *ret_error = g_strdup_printf("cannot write %s: %s", store->path, g_strerror(-r));
        return r;
    }
    g_hash_table_destroy(store->entries);
    store->entries = g_steal_pointer(&next);
    return 0;
}
