/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one hardened YAML reader, behind the policy loader and the overrides
 * file: libyaml's event API builds a small tree of our own, with anchors,
 * aliases and tags refused (no alias expansion), at most POLICY_YAML_MAX_DEPTH
 * levels of nesting (parsing stops there) and one document. Implemented in
 * config.c.
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
