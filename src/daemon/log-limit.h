/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Repeated identical warnings, held back: a failure that repeats every
 * cycle (libvirt gone, /proc unreadable, one domain's XML unreadable) is
 * said once a minute, with how many times it came in between, instead of
 * once a second. Pure: the caller gives the time.
 *
 * Texts are kept in a hash table, up to LOG_LIMIT_MAX_TEXTS: one warning
 * per domain each cycle (every domain's capabilities unreadable) must not
 * push one another out, or every one of them is said every time (a table
 * of 32 texts did that from the 33rd domain on).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define LOG_LIMIT_WINDOW_US (60 * UINT64_C(1000000))
/* more than one warning for each of the 1,000 domains the daemon is
 * measured with; each text costs its length and some 64 bytes */
#define LOG_LIMIT_MAX_TEXTS 4096

typedef struct {
    GHashTable *texts; /* the message as printed -> LogLimitEntry; NULL: empty */
} LogLimiter;

/* Whether `msg` is to be printed now. When it is, *ret_held says how many
 * identical messages were held back since it was last printed (0: none).
 * The first of a kind is always printed; the same text again within
 * LOG_LIMIT_WINDOW_US of its last printing is held. A new text in a full
 * table first frees the texts whose window has passed with nothing held
 * (they would be printed again anyway), else the one printed longest ago. */
bool log_limiter_admit(LogLimiter *l, const char *msg, uint64_t now_us, uint64_t *ret_held);

/* How many texts it keeps. */
unsigned log_limiter_size(const LogLimiter *l);

/* Frees the texts; the limiter is empty again. */
void log_limiter_clear(LogLimiter *l);
