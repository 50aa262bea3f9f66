/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Repeated identical warnings, held back: a failure that repeats every
 * cycle (libvirt gone, /proc unreadable, one domain's XML unreadable) is
 * said once a minute, with how many times it came in between, instead of
 * once a second. Pure: the caller gives the time.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define LOG_LIMIT_WINDOW_US (60 * UINT64_C(1000000))
#define LOG_LIMIT_SLOTS     32

typedef struct {
    char *text;       /* the message as it would be printed; NULL: free */
    uint64_t last_us; /* when it was last printed */
    uint64_t held;    /* identical ones held back since */
} LogLimitSlot;

typedef struct {
    LogLimitSlot slots[LOG_LIMIT_SLOTS];
} LogLimiter;

/* Whether `msg` is to be printed now. When it is, *ret_held says how many
 * identical messages were held back since it was last printed (0: none).
 * The first of a kind is always printed; the same text again within
 * LOG_LIMIT_WINDOW_US of its last printing is held; a new text takes a
 * free slot, else the one printed longest ago. */
bool log_limiter_admit(LogLimiter *l, const char *msg, uint64_t now_us, uint64_t *ret_held);

/* Frees the texts; the limiter is empty again. */
void log_limiter_clear(LogLimiter *l);
