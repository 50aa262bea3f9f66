/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one way outside text (a value from a file or a D-Bus call, a domain
 * name from libvirt) is shown to people: in error messages, log lines and
 * dynmemctl's tables and JSON.
 *
 * Pure: no I/O.
 */
#pragma once

#include <glib.h>
#include <stddef.h>

/* How much of a value an error message echoes: no valid value comes near
 * it, and a hostile one cannot flood a log or a D-Bus reply. */
#define POLICY_QUOTE_MAX_CHARS 64

/* `text` escaped so that it prints on one line and shows what it is:
 * `"` and `\` are escaped; \b \f \n \r \t as such; every other control
 * character (C0, DEL, C1), format character (bidirectional overrides such
 * as U+202E, zero-width characters) and line or paragraph separator as
 * \uXXXX (a pair of them beyond U+FFFF). Other UTF-8 is kept readable.
 * Valid UTF-8 gives valid JSON string contents. Text that is not valid
 * UTF-8 is escaped byte by byte: printable ASCII kept, every other byte
 * as octal \NNN.
 *
 * max_chars > 0 cuts the text after that many characters (bytes, for
 * invalid UTF-8) and appends "..."; 0 keeps all of it. NULL gives "".
 * Returns a newly allocated string. */
char *policy_escape(const char *text, size_t max_chars);

/* policy_escape() bounded for an error message that echoes its input. */
char *policy_quote(const char *text);

/* `text` as a YAML double-quoted scalar, quotes included, that libyaml
 * reads back as the same text: escaped as policy_escape() does, except that
 * characters beyond U+FFFF are written \UXXXXXXXX and U+FFFE, U+FFFF are
 * escaped too. Invalid UTF-8 becomes U+FFFD first (YAML has no bytes).
 * NULL gives "". Newly allocated. */
char *policy_yaml_quote(const char *text);

/* The pure parsers' way to fail: *ret_error (when ret_error is not NULL)
 * becomes the formatted message, newly allocated; returns r, a negative
 * errno. */
int policy_set_error(char **ret_error, int r, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
