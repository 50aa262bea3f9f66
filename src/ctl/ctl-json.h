/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemctl's JSON: json-glib builds and writes it; ctl_json_text() lays it
 * out as dynmemctl always has ({"key": value, ...}, one object of an array
 * per line) with strings escaped as policy_escape() escapes them.
 */
#pragma once

#include "bus-props.h"

#include <json-glib/json-glib.h>

/* A string value (invalid UTF-8 is replaced; NULL is ""). */
void ctl_json_add_string(JsonBuilder *b, const char *s);

/* Every property of a table as members of the open object, keys in
 * snake_case ("HostTotal" -> "host_total"), sizes in exact bytes: those
 * named in `lead` (NULL-terminated, or NULL) first, in that order, then
 * the others in the table's order. */
void ctl_json_add_props(JsonBuilder *b, const BusPropTable *t, const char *const *lead,
                        const void *snapshot);

/* The builder's document as dynmemctl prints it, with a final newline.
 * Newly allocated. */
char *ctl_json_text(JsonBuilder *b);

/* json-glib's compact output laid out and escaped as ctl_json_text()
 * prints it (without the newline). Newly allocated. */
char *ctl_json_layout(const char *compact);
