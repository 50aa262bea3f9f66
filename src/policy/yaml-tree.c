/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * YAML text to our own tree (yaml-tree.h). libyaml's event API feeds a
 * small tree of scalars, lists and mappings with their positions; the
 * schema is checked on that tree (config-load.c, overrides.c). Building our
 * own tree rather than using libyaml's document API lets us refuse anchors
 * and aliases outright (so an alias bomb cannot expand) and stop at a fixed
 * nesting depth (so 10,000 '[' cannot exhaust memory or the stack of a
 * recursive schema walk).
 */
#include "text.h"
#include "yaml-tree.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH POLICY_YAML_MAX_DEPTH
/* Beyond this many errors a file is clearly not a policy file; keep the
 * output (and memory) bounded and say how many were left out. */
#define MAX_ERRORS 1000

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_parser_t, yaml_parser_delete)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(yaml_event_t, yaml_event_delete)

/* ---- the YAML tree -------------------------------------------------------- */

/* The tree's types are shared with the overrides reader (yaml-tree.h). */
typedef struct PolicyYamlNode Node;
typedef PolicyYamlKind NodeKind;
#define NODE_SCALAR  POLICY_YAML_SCALAR
#define NODE_LIST    POLICY_YAML_LIST
#define NODE_MAPPING POLICY_YAML_MAPPING

void policy_yaml_node_free(Node *n)
{
    if (!n)
        return;
    g_free(n->value);
    if (n->items)
        g_ptr_array_unref(n->items);
    g_free(n);
}
#define node_free policy_yaml_node_free

const char *policy_yaml_node_kind_name(const Node *n)
{
    switch (n->kind) {
    case NODE_LIST:
        return "a list";
    case NODE_MAPPING:
        return "a mapping";
    case NODE_SCALAR:
    default:
        return n->is_null ? "nothing" : "a single value";
    }
}

typedef PolicyYamlLoader Loader;

typedef struct {
    unsigned line, column;
    char *message;
} LoadError;

static void load_error_clear(gpointer p)
{
    LoadError *e = p;

    g_free(e->message);
}

void policy_yaml_loader_init(PolicyYamlLoader *ld, const char *filename, const char *what)
{
    *ld = (PolicyYamlLoader){filename, g_array_new(FALSE, FALSE, sizeof(LoadError)), 0, what};
    g_array_set_clear_func(ld->errors, load_error_clear);
}

void policy_yaml_loader_clear(PolicyYamlLoader *ld)
{
    g_clear_pointer(&ld->errors, g_array_unref);
}

#define add_error policy_yaml_add_error

void policy_yaml_add_error(Loader *ld, unsigned line, unsigned column, const char *fmt, ...)
{
    LoadError e = {line, column, NULL};
    va_list ap;

    if (ld->errors->len >= MAX_ERRORS) {
        ld->n_dropped++;
        return;
    }
    va_start(ap, fmt);
    e.message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_array_append_val(ld->errors, e);
}

/* Line and column (1-based, counted in characters) of a byte offset. */
static void offset_position(const char *buf, size_t len, size_t offset, unsigned *ret_line,
                            unsigned *ret_column)
{
    unsigned line = 1, column = 1;

    for (size_t i = 0; i < offset && i < len; i++) {
        if (buf[i] == '\n') {
            line++;
            column = 1;
        } else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
            column++;
        }
    }
    *ret_line = line;
    *ret_column = column;
}

/* The byte at a libyaml mark (0-based line and character column), or -1. */
static int byte_at_mark(const char *buf, size_t len, const yaml_mark_t *mark)
{
    size_t i = 0, line = 0, column = 0;

    while (i < len && line < mark->line)
        if (buf[i++] == '\n')
            line++;
    while (i < len && column < mark->column && buf[i] != '\n') {
        i++;
        while (i < len && ((unsigned char)buf[i] & 0xc0) == 0x80)
            i++;
        column++;
    }
    return i < len ? (unsigned char)buf[i] : -1;
}

static void report_yaml_error(Loader *ld, const yaml_parser_t *parser, const char *buf, size_t len)
{
    const char *problem = parser->problem ? parser->problem : "unknown error";
    unsigned line, column;

    switch (parser->error) {
    case YAML_MEMORY_ERROR:
        add_error(ld, 0, 0, "out of memory while parsing");
        return;
    case YAML_READER_ERROR:
        /* Reader errors (bad UTF-8, control characters) carry a byte
         * offset rather than a mark. */
        offset_position(buf, len, parser->problem_offset, &line, &column);
        if (parser->problem_value >= 0)
            add_error(ld, line, column, "invalid text: %s (byte 0x%02X)", problem,
                      (unsigned)parser->problem_value);
        else
            add_error(ld, line, column, "invalid text: %s", problem);
        return;
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    default:
        line = (unsigned)MIN(parser->problem_mark.line, (size_t)UINT_MAX - 1) + 1;
        column = (unsigned)MIN(parser->problem_mark.column, (size_t)UINT_MAX - 1) + 1;
        /* libyaml's problem text does not say why a tab cannot start a
         * token; say it, since it is the most common mistake. */
        add_error(ld, line, column, "YAML syntax error%s%s: %s%s", parser->context ? " " : "",
                  parser->context ? parser->context : "", problem,
                  byte_at_mark(buf, len, &parser->problem_mark) == '\t'
                      ? " (a tab; indent with spaces)"
                      : "");
        return;
    }
}

static Node *node_new(NodeKind kind, const yaml_mark_t *mark)
{
    Node *n = g_new0(Node, 1);

    n->kind = kind;
    n->line = (unsigned)MIN(mark->line, (size_t)UINT_MAX - 1) + 1;
    n->column = (unsigned)MIN(mark->column, (size_t)UINT_MAX - 1) + 1;
    if (kind != NODE_SCALAR)
        n->items = g_ptr_array_new_with_free_func((GDestroyNotify)node_free);
    return n;
}

/* Anchors and tags are YAML features a policy never needs; refusing them
 * keeps the accepted language small and alias expansion impossible. */
static void check_anchor_tag(Loader *ld, const Node *n, const yaml_char_t *anchor,
                             const yaml_char_t *tag)
{
    if (anchor) {
        g_autofree char *q = policy_quote((const char *)anchor);

        add_error(ld, n->line, n->column, "anchor &%s: anchors and aliases are not supported in %s",
                  q, ld->what);
    }
    if (tag) {
        g_autofree char *q = policy_quote((const char *)tag);

        add_error(ld, n->line, n->column, "YAML tags (%s) are not supported in %s", q, ld->what);
    }
}

static bool scalar_is_null(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Parse the buffer into a tree. Returns false when the text is not usable
 * YAML (errors added); *ret_root is NULL for an empty stream. */
bool policy_yaml_build_tree(Loader *ld, const char *buf, size_t len, Node **ret_root)
{
    g_auto(yaml_parser_t) parser = {0};
    g_autoptr(GPtrArray) stack = g_ptr_array_new();
    g_autoptr(PolicyYamlNode) root = NULL;
    unsigned n_documents = 0;

    if (!yaml_parser_initialize(&parser)) {
        add_error(ld, 0, 0, "out of memory while parsing");
        return false;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);

    for (;;) {
        g_auto(yaml_event_t) ev = {0};
        Node *n = NULL;

        if (!yaml_parser_parse(&parser, &ev)) {
            report_yaml_error(ld, &parser, buf, len);
            return false;
        }

        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            *ret_root = g_steal_pointer(&root);
            return true;
        case YAML_DOCUMENT_START_EVENT:
            if (++n_documents > 1) {
                add_error(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                          "%s holds one YAML document; found a second one", ld->what);
                return false;
            }
            continue;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (stack->len > 0)
                g_ptr_array_set_size(stack, stack->len - 1);
            continue;
        case YAML_SCALAR_EVENT:
            n = node_new(NODE_SCALAR, &ev.start_mark);
            n->value = g_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->is_null = scalar_is_null(&ev);
            check_anchor_tag(ld, n, ev.data.scalar.anchor, ev.data.scalar.tag);
            if (strlen(n->value) != ev.data.scalar.length) {
                add_error(ld, n->line, n->column, "a value contains a NUL character");
                n->bad = true;
            }
            break;
        case YAML_ALIAS_EVENT: {
            g_autofree char *q = policy_quote((const char *)ev.data.alias.anchor);

            n = node_new(NODE_SCALAR, &ev.start_mark);
            n->value = g_strdup("");
            n->bad = true;
            add_error(ld, n->line, n->column,
                      "alias *%s: anchors and aliases are not supported in %s", q, ld->what);
            break;
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (stack->len >= MAX_DEPTH) {
                add_error(ld, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                          "nesting is deeper than %d levels; %s needs 3", MAX_DEPTH, ld->what);
                return false;
            }
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                n = node_new(NODE_LIST, &ev.start_mark);
                check_anchor_tag(ld, n, ev.data.sequence_start.anchor, ev.data.sequence_start.tag);
            } else {
                n = node_new(NODE_MAPPING, &ev.start_mark);
                check_anchor_tag(ld, n, ev.data.mapping_start.anchor, ev.data.mapping_start.tag);
            }
            break;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
        default:
            continue;
        }

        /* Attach the new node to its parent (or make it the root), then
         * descend into it if it is a container. */
        if (stack->len > 0)
            g_ptr_array_add(((Node *)g_ptr_array_index(stack, stack->len - 1))->items, n);
        else {
            node_free(root);
            root = n;
        }
        if (n->kind != NODE_SCALAR)
            g_ptr_array_add(stack, n);
    }
}

static gint compare_errors(gconstpointer a, gconstpointer b)
{
    const LoadError *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return 0;
}

/* The loader's errors as strings in file order: "file:line:column: message"
 * (with_file), or "line:column: message". */
GPtrArray *policy_yaml_loader_take_errors(Loader *ld, bool with_file)
{
    GPtrArray *out;

    /* Report in file order; g_array_sort is a stable merge sort, so errors
     * at one position keep the order they were found in. */
    g_array_sort(ld->errors, compare_errors);
    out = g_ptr_array_new_full(ld->errors->len + 1, g_free);
    for (size_t i = 0; i < ld->errors->len; i++) {
        const LoadError *e = &g_array_index(ld->errors, LoadError, i);

        if (!with_file)
            g_ptr_array_add(out, g_strdup_printf("%u:%u: %s", e->line, e->column, e->message));
        else if (e->line == 0)
            g_ptr_array_add(out, g_strdup_printf("%s: %s", ld->filename, e->message));
        else
            g_ptr_array_add(
                out, g_strdup_printf("%s:%u:%u: %s", ld->filename, e->line, e->column, e->message));
    }
    if (ld->n_dropped > 0)
        g_ptr_array_add(
            out, with_file
                     ? g_strdup_printf("%s: %zu more errors not shown", ld->filename, ld->n_dropped)
                     : g_strdup_printf("%zu more errors not shown", ld->n_dropped));
    return out;
}

int policy_yaml_parse(const char *buf, size_t len, const char *what, PolicyYamlNode **ret_root,
                      GPtrArray **ret_errors)
{
    g_auto(PolicyYamlLoader) ld;
    g_autoptr(PolicyYamlNode) root = NULL;

    policy_yaml_loader_init(&ld, NULL, what ? what : "this file");
    if (policy_yaml_build_tree(&ld, buf ? buf : "", buf ? len : 0, &root) && ld.errors->len == 0) {
        *ret_root = g_steal_pointer(&root);
        return 0;
    }
    *ret_errors = policy_yaml_loader_take_errors(&ld, false);
    return -EINVAL;
}
