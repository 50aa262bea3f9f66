/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemctl's JSON output (ctl-json.h): json-glib builds the document and
 * writes it compact; a layout pass adds the whitespace dynmemctl has always
 * printed and escapes what a terminal must not see raw.
 */
#include "ctl-json.h"
#include "text.h"

#include <stdbool.h>
#include <stdint.h>

/* "HostTotal" -> "host_total" */
static char *json_key(const char *property)
{
    GString *k = g_string_new(NULL);
    for (const char *p = property; *p; p++) {
        if (g_ascii_isupper(*p) && p != property)
            g_string_append_c(k, '_');
        g_string_append_c(k, g_ascii_tolower(*p));
    }
    return g_string_free(k, FALSE);
}

/* D-Bus strings are UTF-8 (sd-bus checks); a JSON string must be. */
void ctl_json_add_string(JsonBuilder *b, const char *s)
{
    g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
    json_builder_add_string_value(b, valid);
}

/* Sizes are exact bytes. json-glib keeps integers as gint64: a value
 * above that (8 EiB; no size or count gets there) can only be a double. */
static void json_add_u64(JsonBuilder *b, uint64_t v)
{
    if (v <= G_MAXINT64)
        json_builder_add_int_value(b, (gint64)v);
    else
        json_builder_add_double_value(b, (double)v);
}

/* One property as a member named after it. */
static void json_add_member(JsonBuilder *b, const BusProp *prop, const void *info)
{
    const void *p = (const char *)info + prop->offset;
    g_autofree char *key = json_key(prop->name);
    json_builder_set_member_name(b, key);
    switch (prop->type) {
    case BUS_PROP_STRING:
        ctl_json_add_string(b, *(const char *const *)p);
        break;
    case BUS_PROP_BOOL:
        json_builder_add_boolean_value(b, *(const bool *)p);
        break;
    case BUS_PROP_U32:
        json_builder_add_int_value(b, *(const uint32_t *)p);
        break;
    case BUS_PROP_U64:
        json_add_u64(b, *(const uint64_t *)p);
        break;
    case BUS_PROP_STRV: {
        const char *const *v = *(const char *const *const *)p;
        json_builder_begin_array(b);
        for (size_t k = 0; v && v[k]; k++)
            ctl_json_add_string(b, v[k]);
        json_builder_end_array(b);
        break;
    }
    default:
        json_builder_add_null_value(b);
        break;
    }
}

/* Every property of a table as members of the open object: those named in
 * `lead` first, in that order, then the others in the table's order. */
void ctl_json_add_props(JsonBuilder *b, const BusPropTable *t, const char *const *lead,
                        const void *info)
{
    for (size_t k = 0; lead && lead[k]; k++) {
        const BusProp *prop = bus_prop_find(t, lead[k]);
        if (prop)
            json_add_member(b, prop, info);
    }
    for (size_t i = 0; i < t->n; i++)
        if (!lead || !g_strv_contains(lead, t->props[i].name))
            json_add_member(b, &t->props[i], info);
}

/* A string of json-glib's output, from its opening quote: copied with the
 * hex digits of \u escapes in upper case, and every character that
 * policy_escape() escapes and json-glib writes raw (C1 controls such as
 * CSI, U+202E and the other invisible format characters, U+2028) escaped
 * the way policy_escape() does, so that no JSON text can move a
 * terminal's cursor or reorder what it shows. Returns what follows. */
static const char *layout_string(GString *out, const char *p)
{
    g_string_append_c(out, '"');
    p++;
    while (*p && *p != '"') {
        if (*p == '\\') {
            /* an escape: a backslash, then one character or u and 4 digits */
            size_t n = p[1] == 'u' ? 6 : 2;
            for (size_t k = 0; k < n && *p; k++, p++)
                g_string_append_c(out, k < 2 ? *p : g_ascii_toupper(*p));
        } else if ((unsigned char)*p < 0x80) {
            g_string_append_c(out, *p);
            p++;
        } else {
            const char *next = g_utf8_next_char(p);
            g_autofree char *one = g_strndup(p, (gsize)(next - p));
            g_autofree char *escaped = policy_escape(one, 0);
            g_string_append(out, escaped);
            p = next;
        }
    }
    if (*p == '"') {
        g_string_append_c(out, '"');
        p++;
    }
    return p;
}

/* json-glib writes JSON without spaces. dynmemctl has always written ", "
 * and ": " between members and items, and put each object of an array on
 * a line of its own (one domain per line), and scripts match that text
 * (tests/e2e look for "name": "..."): this adds exactly that whitespace,
 * outside strings. */
char *ctl_json_layout(const char *compact)
{
    GString *out = g_string_new(NULL);
    /* the open containers: '{', '[', or 'O' for an array holding objects */
    g_autoptr(GString) open = g_string_new(NULL);
    for (const char *p = compact; *p;) {
        char inner = open->len ? open->str[open->len - 1] : '\0';
        switch (*p) {
        case '"':
            p = layout_string(out, p);
            continue;
        case '{':
            if (inner == '[' || inner == 'O') {
                open->str[open->len - 1] = 'O';
                g_string_append(out, "\n  ");
            }
            g_string_append_c(open, '{');
            g_string_append_c(out, '{');
            break;
        case '[':
            g_string_append_c(open, '[');
            g_string_append_c(out, '[');
            break;
        case '}':
        case ']':
            if (inner == 'O')
                g_string_append_c(out, '\n');
            if (open->len)
                g_string_truncate(open, open->len - 1);
            g_string_append_c(out, *p);
            break;
        case ':':
            g_string_append(out, ": ");
            break;
        case ',':
            g_string_append(out, inner == 'O' ? "," : ", ");
            break;
        default:
            g_string_append_c(out, *p);
            break;
        }
        p++;
    }
    return g_string_free(out, FALSE);
}

/* The builder's document as dynmemctl prints it, with a final newline. */
char *ctl_json_text(JsonBuilder *b)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    g_autofree char *compact = json_generator_to_data(gen, NULL);
    g_autofree char *text = ctl_json_layout(compact);
    return g_strconcat(text, "\n", NULL);
}
