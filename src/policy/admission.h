/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission (docs/admission.md): a domain about to start asks for its
 * startup memory; it is granted when that memory is free in the budget,
 * waits while room is made for it, or is refused when even everything a
 * start of its weight may take would not be enough. Pure, like the rest of
 * src/policy.
 *
 * What a start of weight w may count on, besides memory no one holds:
 *   - from a guest of higher weight: nothing it desires;
 *   - from a guest of the same weight: its buffer and headroom, down to its
 *     need (its demand, decaying);
 *   - from a guest of lower weight: everything down to its floor, the
 *     memory it uses now (never below its minimum).
 * The room is then made by the allocator as for any other shortage
 * (buffers first, each by weight); the check above only says whether it
 * can be made at all.
 */
#pragma once

#include "allocate.h"
#include "config.h"
#include "engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    POLICY_RESERVATION_WAITING = 0, /* room is being made for it */
    POLICY_RESERVATION_GRANTED,     /* promised: held in the budget until it starts */
    POLICY_RESERVATION_REFUSED,     /* more than a start of its weight may take */
    POLICY_RESERVATION_LAST,
} PolicyReservationState;

const char *policy_reservation_state_to_string(PolicyReservationState state);

typedef struct PolicyReservation {
    uint64_t size_kib;            /* in: the startup memory (its overhead is added) */
    uint32_t weight;              /* in */
    PolicyReservationState state; /* in/out: WAITING may become GRANTED or REFUSED */
    uint64_t room_kib;            /* out (WAITING): what it could have, free memory included */
    uint64_t free_kib;            /* out (WAITING): what is free for it now */
} PolicyReservation;

/* What a start asks for: a dynamic domain with a balloon its startup
 * memory (policy startup, else what it boots with, within its minimum and
 * maximum); a static domain, or one without a balloon, all it boots with.
 * boot_kib: the memory it boots with (balloon target plus virtio-mem
 * requested). */
uint64_t policy_start_size_kib(const PolicyEffective *p, const PolicyDomainCaps *caps,
                               uint64_t boot_kib);

/* What the allocation's guests keep against a start of `weight` (see
 * above). Items as the allocator takes them (floor, need, cap, weight). */
uint64_t policy_admission_kept_kib(const PolicyAllocItem *items, size_t n, uint32_t weight);

/* One cycle's admission over the reservations, in their priority order
 * (the caller's: weight first, then age). Granted ones are held; each
 * waiting one is refused when it cannot have its size (room_kib says what
 * it could), else counted as taken too. Returns what all of them hold
 * (sizes and overheads): the allocation gets the budget less that. */
uint64_t policy_admission_check(PolicyReservation *res, size_t n_res, const PolicyAllocItem *items,
                                size_t n_items, uint64_t budget_kib, uint64_t overhead_kib);

/* After the allocation: grant the waiting reservations, in order, while
 * the memory no guest holds now (`taken`: every managed domain's assigned
 * or growing figure) covers them; the first that does not fit stops the
 * rest (no start overtakes one of higher priority). */
void policy_admission_grant(PolicyReservation *res, size_t n_res, uint64_t budget_kib,
                            uint64_t taken_kib, uint64_t overhead_kib);

/* What-if: a start of size_kib and weight over the last plan's managed
 * domains (items built from their entries: floor, need, desired, weight;
 * assigned_kib[] what each has). Returns the verdict (GRANTED: free now,
 * WAITING: after trims, REFUSED), *ret_room_kib, and in trims_kib[] (n)
 * what the allocator would take from each. reserved_kib: what
 * reservations already hold. items are changed (normalized, results). */
PolicyReservationState policy_admission_whatif(PolicyAllocItem *items, const uint64_t *assigned_kib,
                                               size_t n, PolicyAllocScratch *scratch,
                                               uint64_t budget_kib, uint64_t reserved_kib,
                                               uint64_t overhead_kib, uint64_t size_kib,
                                               uint32_t weight, uint64_t *ret_room_kib,
                                               uint64_t *trims_kib);
