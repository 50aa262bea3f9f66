/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "overrides.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

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

static void yaml_parser_cleanup(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_parser_t, yaml_parser_cleanup)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_document_t, yaml_document_delete)

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
            return false;
    }
    return true;
}

static char *at(const yaml_node_t *n, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static char *at(const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strdup_printf("%zu:%zu: %s", n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The writer puts the domain's name in a comment on the line above its
 * UUID; keep it so that rewriting the file keeps it too. */
static char *name_from_comment(char **lines, size_t n_lines, size_t key_line)
{
    if (key_line == 0 || key_line > n_lines)
        return NULL;
    const char *l = lines[key_line - 1];
    l += strspn(l, " ");
    if (!g_str_has_prefix(l, "# "))
        return NULL;
    return g_strdup(l + 2);
}

static int parse_entry(yaml_document_t *doc, yaml_node_t *key, yaml_node_t *val,
                       OverrideEntry **ret, char **ret_error)
{
    const char *uuid = scalar(key);
    if (!uuid || !is_uuid(uuid)) {
        *ret_error = at(key, "expected a domain UUID as the key");
        return -EINVAL;
    }
    if (val->type != YAML_MAPPING_NODE) {
        *ret_error = at(val, "%s: expected a mapping of settings", uuid);
        return -EINVAL;
    }
    g_autoptr(OverrideEntry) e = g_new0(OverrideEntry, 1);
    e->uuid = g_ascii_strdown(uuid, -1);
    for (yaml_node_pair_t *p = val->data.mapping.pairs.start; p < val->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!scalar(k) || !scalar(v)) {
            *ret_error = at(k, "%s: expected \"key: value\"", uuid);
            return -EINVAL;
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
    g_auto(yaml_parser_t) parser;
    g_auto(yaml_document_t) doc;
    memset(&doc, 0, sizeof(doc));
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        *ret_error = g_strdup_printf("%zu:%zu: %s", parser.problem_mark.line + 1,
                                     parser.problem_mark.column + 1,
                                     parser.problem ? parser.problem : "malformed YAML");
        return -EINVAL;
    }
    g_autoptr(GHashTable) table = overrides_table_new();
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
    size_t n_lines = g_strv_length(lines);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        *ret_table = g_steal_pointer(&table); /* empty file */
        return 0;
    }
    if (root->type != YAML_MAPPING_NODE) {
        *ret_error = at(root, "expected a mapping with the key \"overrides\"");
        return -EINVAL;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (g_strcmp0(scalar(k), "overrides") != 0) {
            *ret_error =
                at(k, "unknown key \"%s\" (expected \"overrides\")", scalar(k) ? scalar(k) : "?");
            return -EINVAL;
        }
        if (v->type == YAML_SCALAR_NODE && scalar(v)[0] == '\0')
            continue; /* "overrides:" with nothing under it */
        if (v->type != YAML_MAPPING_NODE) {
            *ret_error = at(v, "overrides: expected a mapping of domain UUIDs");
            return -EINVAL;
        }
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
             q++) {
            OverrideEntry *e = NULL;
            yaml_node_t *ek = yaml_document_get_node(&doc, q->key);
            int r = parse_entry(&doc, ek, yaml_document_get_node(&doc, q->value), &e, ret_error);
            if (r < 0)
                return r;
            e->name = name_from_comment(lines, n_lines, ek->start_mark.line);
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

static char *format_size_exact(uint64_t kib)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (kib != 0 && kib % 1024 == 0 && u < 3) {
        kib /= 1024;
        u++;
    }
    return g_strdup_printf("%" G_GUINT64_FORMAT "%s", kib, units[u]);
}

static char *format_amount_exact(const PolicyAmount *a)
{
    if (a->kind == POLICY_AMOUNT_PERCENT)
        return g_strdup_printf("%" G_GUINT64_FORMAT "%%", a->value);
    return format_size_exact(a->value);
}

char *overrides_format_value(const PolicySettings *s, PolicyField field)
{
    if (!(s->set & field))
        return NULL;
    switch (field) {
    case POLICY_FIELD_MODE:
        return g_strdup(policy_mode_to_string(s->mode));
    case POLICY_FIELD_MINIMUM:
        return format_amount_exact(&s->minimum);
    case POLICY_FIELD_STARTUP:
        return format_amount_exact(&s->startup);
    case POLICY_FIELD_MAXIMUM:
        return format_amount_exact(&s->maximum);
    case POLICY_FIELD_BUFFER:
        return g_strdup_printf("%u%%", s->buffer_pct);
    case POLICY_FIELD_WEIGHT:
        return g_strdup_printf("%u", s->weight);
    default:
        return NULL;
    }
}

static const struct {
    PolicyField field;
    const char *key;
} field_keys[] = {
    {POLICY_FIELD_MODE, "mode"},       {POLICY_FIELD_MINIMUM, "minimum"},
    {POLICY_FIELD_STARTUP, "startup"}, {POLICY_FIELD_MAXIMUM, "maximum"},
    {POLICY_FIELD_BUFFER, "buffer"},   {POLICY_FIELD_WEIGHT, "weight"},
};

/* A domain name in a comment: one line, nothing that ends the comment. */
/* A domain name in a YAML comment: printable ASCII only. Anything else
 * (including NEL and U+2028/2029, which end a YAML comment too) becomes
 * '?', so a hostile name can never start a line of its own. */
static char *comment_safe(const char *name)
{
    char *s = g_strdup(name);
    for (unsigned char *p = (unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    return s;
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
        if (e->name) {
            g_autofree char *name = comment_safe(e->name);
            g_string_append_printf(out, "  # %s\n", name);
        }
        /* an entry without settings (a hand-written `{}`) must stay a
         * mapping: a bare "uuid:" is null and would not read back */
        g_string_append_printf(out, "  %s:%s\n", e->uuid, e->settings.set ? "" : " {}");
        for (size_t k = 0; k < G_N_ELEMENTS(field_keys); k++) {
            g_autofree char *v = overrides_format_value(&e->settings, field_keys[k].field);
            if (v)
                g_string_append_printf(out, "    %s: %s\n", field_keys[k].key, v);
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

/* ---- files -------------------------------------------------------------- */

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int overrides_write_atomic(const char *path, const char *text)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    if (g_mkdir_with_parents(dir, 0755) < 0)
        return -errno;
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int r = write_all(fd, text, strlen(text));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    /* The rename is durable only once the directory is on disk too. */
    return fsync_dir(dir);
}

int override_store_open(const char *state_dir, OverrideStore **ret, char **ret_problem)
{
    g_autoptr(OverrideStore) store = g_new0(OverrideStore, 1);
    store->path = g_build_filename(state_dir, OVERRIDES_FILE_NAME, NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) gerr = NULL;
    if (!g_file_get_contents(store->path, &text, &len, &gerr)) {
        if (!g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            *ret_problem = g_strdup_printf("cannot read %s: %s", store->path, gerr->message);
            return -EIO;
        }
        store->entries = overrides_table_new();
        *ret = g_steal_pointer(&store);
        return 0;
    }
    g_autofree char *err = NULL;
    if (overrides_parse_buf(text, len, &store->entries, &err) == 0) {
        *ret = g_steal_pointer(&store);
        return 0;
    }
    /* Keep the operator's data: move it aside, never drop it silently. */
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
    g_autofree char *aside = g_strdup_printf("%s.corrupt-%s", store->path, stamp);
    if (rename(store->path, aside) < 0) {
        int r = -errno;
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
