/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Saturating KiB arithmetic for src/policy (private). Sizes never wrap: a
 * sum that would overflow sticks at UINT64_MAX, a difference that would go
 * negative sticks at 0, so a hostile sample cannot turn a deficit into a huge
 * surplus.
 */
#pragma once

#include "units.h"

#include <stdint.h>

static inline uint64_t kib_add(uint64_t a, uint64_t b)
{
    uint64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return UINT64_MAX;
    return r;
}

static inline uint64_t kib_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static inline uint64_t kib_mul(uint64_t a, uint64_t b)
{
    uint64_t r;

    if (__builtin_mul_overflow(a, b, &r))
        return UINT64_MAX;
    return r;
}

/* a * pct / 100, rounded down, without overflow in the product. */
static inline uint64_t kib_pct(uint64_t a, uint64_t pct)
{
    unsigned __int128 r = (unsigned __int128)a * pct / 100;

    return r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static inline uint64_t kib_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static inline uint64_t kib_max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static inline uint64_t kib_clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
    /* lo wins over hi: callers pass lo <= hi, and a floor is never broken */
    if (v > hi)
        v = hi;
    if (v < lo)
        v = lo;
    return v;
}

/* Round to a multiple of block (block 0 or 1: unchanged). */
static inline uint64_t kib_round_down(uint64_t v, uint64_t block)
{
    return block > 1 ? v - v % block : v;
}

static inline uint64_t kib_round_up(uint64_t v, uint64_t block)
{
    uint64_t d;

    if (block <= 1)
        return v;
    d = kib_round_down(v, block);
    if (d == v)
        return v;
    return d > UINT64_MAX - block ? d : d + block;
}
