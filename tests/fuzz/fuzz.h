/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the fuzz targets (DESIGN.md §6.6): the libFuzzer entry point,
 * a check that aborts (libFuzzer and the corpus replay both report an
 * abort as a failure) and a reader that turns fuzz bytes into numbers.
 *
 * Each target is built twice: with clang and libFuzzer (-Dfuzzing=true),
 * and with replay.c as a plain program that feeds it the committed corpus.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a C string (newly allocated): parsers of C strings see the
 * text up to the first NUL byte, as they would in the daemon. */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = g_malloc(size + 1);

    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Numbers drawn from the input; past its end every draw is 0. */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;
} FuzzReader;

static inline uint8_t fuzz_u8(FuzzReader *r)
{
    return r->pos < r->size ? r->data[r->pos++] : 0;
}

static inline uint64_t fuzz_u64(FuzzReader *r)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_u8(r);
    return v;
}

static inline bool fuzz_bool(FuzzReader *r)
{
    return fuzz_u8(r) & 1;
}

/* A value in lo..hi from two bytes (hi >= lo). */
static inline uint64_t fuzz_range(FuzzReader *r, uint64_t lo, uint64_t hi)
{
    uint64_t span = hi - lo, v = (uint64_t)fuzz_u8(r) << 8 | fuzz_u8(r);

    return span == UINT64_MAX ? fuzz_u64(r) : lo + v % (span + 1);
}

static inline bool fuzz_done(const FuzzReader *r)
{
    return r->pos >= r->size;
}
