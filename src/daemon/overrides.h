/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent per-domain policy overrides (set with `dynmemctl set --persist`
 * or SetDomainPolicy(..., persist=true)), kept as YAML in the state
 * directory:
 *
 *     overrides:
 *       0d5b2f6e-...:
 *         name: "web01"
 *         weight: 8000
 *         buffer: 30%
 *
 * `name:` is the domain's name when the entry was written, for people; the
 * UUID is what counts. Files from before it was a key have the name in a
 * comment above the UUID ("# web01"), which is still read.
 *
 * Two pure halves (text -> table, table -> text) and a thin file layer that
 * writes atomically: temp file in the same directory, fsync, rename, fsync
 * of the directory.
 */
#pragma once

#include "config.h"

#include <glib.h>

#define OVERRIDES_FILE_NAME "overrides.yaml"

/* One persisted override. */
typedef struct {
    char *uuid; /* lower case */
    char *name; /* the domain's name when it was written (its name: key); may be NULL */
    PolicySettings settings;
} OverrideEntry;

void override_entry_free(OverrideEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OverrideEntry, override_entry_free)

/* A table of entries keyed by uuid (owns them). */
GHashTable *overrides_table_new(void);

/* Parse the file's text. Every value goes through policy_settings_set_key()
 * and each entry through policy_settings_validate(), exactly as YAML rules
 * do. Returns 0 and *ret_table; or -EINVAL and *ret_error
 * ("line:column: message") and *ret_table untouched. Empty text is an empty
 * table. */
int overrides_parse_buf(const char *text, size_t len, GHashTable **ret_table, char **ret_error);

/* The text of a table, sorted by uuid, exact (sizes in the largest unit that
 * divides them). Newly allocated. */
char *overrides_format(GHashTable *table);

/* One setting's text as set_key accepts it back ("512MiB", "20%"). Newly
 * allocated; NULL when `field` is not set in s. */
char *overrides_format_value(const PolicySettings *s, PolicyField field);

/* The persistent store: the table as last written, and its file. */
typedef struct OverrideStore OverrideStore;

/* Open the store in state_dir and load the file if there is one. A file that
 * cannot be parsed is renamed aside ("overrides.yaml.corrupt-<timestamp>")
 * and the store starts empty: then *ret_problem describes what happened
 * (for the log and Dump). Returns 0 (also for a corrupt file), or a negative
 * errno when the file exists but cannot be read or moved aside
 * (*ret_problem says why; the store is not created). */
int override_store_open(const char *state_dir, OverrideStore **ret, char **ret_problem);
void override_store_free(OverrideStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OverrideStore, override_store_free)

/* The loaded entries (uuid -> OverrideEntry*), owned by the store. */
GHashTable *override_store_entries(OverrideStore *store);

/* Replace (settings != NULL) or remove (settings == NULL) one entry and
 * write the file. Nothing changes in memory when writing fails: returns a
 * negative errno and *ret_error. Removing an absent entry writes nothing. */
int override_store_put(OverrideStore *store, const char *uuid, const char *name,
                       const PolicySettings *settings, char **ret_error);

/* Write text to path atomically (g_file_set_contents_full(), consistent and
 * durable: temp file in the same directory, fsync, rename, fsync of the
 * directory). Returns 0 or a negative errno. */
int overrides_write_atomic(const char *path, const char *text);
