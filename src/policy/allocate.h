/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The allocator (DESIGN.md §3.6): floors, needs and caps per managed domain,
 * one budget, weighted water-filling. Pure; uses caller scratch so a steady
 * cycle allocates nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    POLICY_REGIME_DESIRED = 0,   /* Σ cap <= B: everyone gets cap */
    POLICY_REGIME_NEEDS,         /* Σ need <= B: needs, rest water-filled toward cap */
    POLICY_REGIME_FLOORS,        /* Σ floor <= B: floors, rest water-filled toward need */
    POLICY_REGIME_OVERCOMMITTED, /* floors only, and they do not fit */
    POLICY_REGIME_LAST,
} PolicyRegime;

const char *policy_regime_to_string(PolicyRegime regime);

typedef struct {
    uint64_t floor_kib;  /* never less */
    uint64_t need_kib;   /* demand, clamped to [floor, cap] */
    uint64_t cap_kib;    /* desired: never more */
    uint32_t weight;     /* 0: nothing beyond the regime's base */
    uint64_t result_kib; /* out */
} PolicyAllocItem;

/* One water-filling participant. room_kib and weight are inputs, give_kib
 * the output; index is the caller's to map slots back after sorting. */
typedef struct {
    uint64_t room_kib;
    uint64_t weight;
    size_t index;
    uint64_t give_kib;
} PolicyFillSlot;

typedef struct {
    PolicyFillSlot *slots;
    size_t capacity;
    size_t n_reallocs; /* how often the scratch grew: 0 after warm-up */
} PolicyAllocScratch;

/* Make room for n slots (grows only). */
void policy_alloc_scratch_reserve(PolicyAllocScratch *scratch, size_t n);
void policy_alloc_scratch_clear(PolicyAllocScratch *scratch);

/* Weighted water-filling: find λ with Σ min(room_i, λ·w_i) = rest_kib and
 * set give_kib = min(room_i, ⌊λ·w_i⌋) exactly (128-bit integer arithmetic).
 * Weight 0 gets nothing. O(n log n): slots are sorted in place (introsort,
 * no allocation) by room/weight, ties by index, so the result is
 * deterministic. The
 * remainder of the rounding (less than 1 KiB per unsaturated slot) is given
 * to nobody: giving it out would let a higher weight lose 1 KiB.
 * Returns Σ give_kib (<= rest_kib). */
uint64_t policy_waterfill(PolicyFillSlot *slots, size_t n, uint64_t rest_kib);

/* Allocate budget_kib over items (DESIGN.md §3.6): sets every result_kib
 * (floor <= result <= max(floor, cap); Σ result <= budget unless the regime
 * is OVERCOMMITTED) and returns the regime. Items are normalized first:
 * cap >= floor, need in [floor, cap]. */
PolicyRegime policy_allocate(PolicyAllocItem *items, size_t n, uint64_t budget_kib,
                             PolicyAllocScratch *scratch);
