/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one hardened YAML reader, behind the policy loader and the overrides
 * file: libyaml's event API builds a small tree of our own, with anchors,
 * aliases and tags refused (no alias expansion), at most POLICY_YAML_MAX_DEPTH
 * levels of nesting (parsing stops there) and one document. Implemented in
 * yaml-tree.c.
 *
 * Pure: parses a buffer.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Our files nest three levels; anything much deeper is a mistake or an
 * attack. */
#define POLICY_YAML_MAX_DEPTH 16

typedef enum {
    POLICY_YAML_SCALAR,
    POLICY_YAML_LIST,
    POLICY_YAML_MAPPING,
} PolicyYamlKind;

typedef struct PolicyYamlNode {
    PolicyYamlKind kind;
    unsigned line, column; /* 1-based */
    bool is_null;          /* a plain "", "~" or "null" */
    bool bad;              /* an error was already reported for this node */
    char *value;           /* POLICY_YAML_SCALAR */
    GPtrArray *items;      /* LIST: nodes; MAPPING: key, value, key, ... */
} PolicyYamlNode;

void policy_yaml_node_free(PolicyYamlNode *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PolicyYamlNode, policy_yaml_node_free)

/* Parse `buf` (len bytes; NULs inside are refused) into a tree. `what`
 * names the file in messages ("a policy file", "the overrides file").
 * Returns 0 and *ret_root (NULL for an empty stream); or -EINVAL and
 * *ret_errors, every problem as "line:column: message" in file order, at
 * most 1,000. */
int policy_yaml_parse(const char *buf, size_t len, const char *what, PolicyYamlNode **ret_root,
                      GPtrArray **ret_errors);

/* ---- for schema loaders built on the tree (config-load.c) ---------------- */

/* Errors collected with their positions while a file is read, at most
 * 1,000 (then only counted). */
typedef struct {
    const char *filename; /* for "file:line:column: " prefixes */
    GArray *errors;       /* private */
    size_t n_dropped;
    const char *what; /* names the file in messages: "a policy file" */
} PolicyYamlLoader;

void policy_yaml_loader_init(PolicyYamlLoader *ld, const char *filename, const char *what);
void policy_yaml_loader_clear(PolicyYamlLoader *ld);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PolicyYamlLoader, policy_yaml_loader_clear)

void policy_yaml_add_error(PolicyYamlLoader *ld, unsigned line, unsigned column, const char *fmt,
                           ...) G_GNUC_PRINTF(4, 5);

/* Parse the buffer into a tree. Returns false when the text is not usable
 * YAML (errors added); *ret_root is NULL for an empty stream. */
bool policy_yaml_build_tree(PolicyYamlLoader *ld, const char *buf, size_t len,
                            PolicyYamlNode **ret_root);

/* The errors as strings in file order: "file:line:column: message"
 * (with_file) or "line:column: message", and a last line saying how many
 * were left out. Newly allocated. */
GPtrArray *policy_yaml_loader_take_errors(PolicyYamlLoader *ld, bool with_file);

/* "a list", "a mapping", "a single value" or "nothing", for messages. */
const char *policy_yaml_node_kind_name(const PolicyYamlNode *n);
