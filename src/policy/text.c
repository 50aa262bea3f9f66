/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Two spellings of one escaping: JSON string contents (logs, messages,
 * Dump, dynmemctl), or a YAML double-quoted scalar (the overrides file). */
typedef enum {
    ESCAPE_JSON,
    ESCAPE_YAML,
} EscapeDialect;

/* Characters that would end a log line, move the cursor, hide text or
 * reorder what a terminal shows; for YAML also the two that libyaml
 * refuses to read even in a quoted scalar. */
static bool must_escape(gunichar c, EscapeDialect dialect)
{
    if (c == '"' || c == '\\')
        return true;
    if (dialect == ESCAPE_YAML && (c == 0xFFFE || c == 0xFFFF))
        return true;
    switch (g_unichar_type(c)) {
    case G_UNICODE_CONTROL:             /* C0, DEL, C1 (NEL, CSI ...) */
    case G_UNICODE_FORMAT:              /* U+202E, U+200B, U+2066 ... */
    case G_UNICODE_LINE_SEPARATOR:      /* U+2028 */
    case G_UNICODE_PARAGRAPH_SEPARATOR: /* U+2029 */
        return true;
    default:
        return false;
    }
}

static void append_escaped_char(GString *out, gunichar c, EscapeDialect dialect)
{
    switch (c) {
    case '"':
        g_string_append(out, "\\\"");
        return;
    case '\\':
        g_string_append(out, "\\\\");
        return;
    case '\b':
        g_string_append(out, "\\b");
        return;
    case '\f':
        g_string_append(out, "\\f");
        return;
    case '\n':
        g_string_append(out, "\\n");
        return;
    case '\r':
        g_string_append(out, "\\r");
        return;
    case '\t':
        g_string_append(out, "\\t");
        return;
    default:
        break;
    }
    if (c < 0x10000) {
        g_string_append_printf(out, "\\u%04X", (unsigned)c);
        return;
    }
    if (dialect == ESCAPE_YAML) {
        g_string_append_printf(out, "\\U%08X", (unsigned)c);
        return;
    }
    /* JSON spells characters beyond the BMP as a UTF-16 surrogate pair. */
    c -= 0x10000;
    g_string_append_printf(out, "\\u%04X\\u%04X", (unsigned)(0xD800 + (c >> 10)),
                           (unsigned)(0xDC00 + (c & 0x3FF)));
}

static char *escape_bytes(const char *text, size_t max_chars)
{
    GString *out = g_string_new(NULL);
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++, n++) {
        if (max_chars > 0 && n == max_chars) {
            g_string_append(out, "...");
            break;
        }
        if (*p == '"' || *p == '\\' || *p == '\b' || *p == '\f' || *p == '\n' || *p == '\r' ||
            *p == '\t')
            append_escaped_char(out, *p, ESCAPE_JSON);
        else if (*p < 0x20 || *p >= 0x7f)
            g_string_append_printf(out, "\\%03o", (unsigned)*p);
        else
            g_string_append_c(out, (char)*p);
    }
    return g_string_free(out, FALSE);
}

/* Valid UTF-8 text escaped in a dialect. */
static char *escape_utf8(const char *text, size_t max_chars, EscapeDialect dialect)
{
    GString *out = g_string_new(NULL);
    size_t n = 0;

    for (const char *p = text; *p; p = g_utf8_next_char(p), n++) {
        gunichar c = g_utf8_get_char(p);

        if (max_chars > 0 && n == max_chars) {
            g_string_append(out, "...");
            break;
        }
        if (must_escape(c, dialect))
            append_escaped_char(out, c, dialect);
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
    return g_string_free(out, FALSE);
}

char *policy_escape(const char *text, size_t max_chars)
{
    if (!text)
        return g_strdup("");
    if (!g_utf8_validate(text, -1, NULL))
        return escape_bytes(text, max_chars);
    return escape_utf8(text, max_chars, ESCAPE_JSON);
}

char *policy_yaml_quote(const char *text)
{
    g_autofree char *valid = g_utf8_make_valid(text ? text : "", -1);
    g_autofree char *escaped = escape_utf8(valid, 0, ESCAPE_YAML);

    return g_strdup_printf("\"%s\"", escaped);
}

char *policy_quote(const char *text)
{
    return policy_escape(text, POLICY_QUOTE_MAX_CHARS);
}

int policy_set_error(char **ret_error, int r, const char *fmt, ...)
{
    va_list ap;

    if (ret_error) {
        va_start(ap, fmt);
        *ret_error = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
    return r;
}
