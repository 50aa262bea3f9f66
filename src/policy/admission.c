/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "admission.h"

#include "kib-math.h"
#include "planner.h"

const char *policy_reservation_state_to_string(PolicyReservationState state)
{
    static const char *const names[POLICY_RESERVATION_LAST] = {
        [POLICY_RESERVATION_WAITING] = "waiting",
        [POLICY_RESERVATION_GRANTED] = "reserved",
        [POLICY_RESERVATION_REFUSED] = "refused",
    };

    if ((unsigned)state >= POLICY_RESERVATION_LAST)
        return "invalid";
    return names[state];
}

uint64_t policy_start_size_kib(const PolicyEffective *p, const PolicyDomainCaps *caps,
                               uint64_t boot_kib)
{
    uint64_t reach, maximum, minimum;

    if (p->mode == POLICY_MODE_STATIC || !caps->has_balloon)
        return boot_kib;
    /* as the engine resolves the bounds of a running domain */
    reach = policy_caps_reach_kib(caps);
    maximum = kib_min(policy_amount_resolve_kib(&p->maximum, reach, reach), reach);
    minimum = kib_min(policy_amount_resolve_kib(&p->minimum, reach, 0), maximum);
    return kib_clamp(policy_amount_resolve_kib(&p->startup, reach, boot_kib), minimum, maximum);
}

uint64_t policy_admission_kept_kib(const PolicyAllocItem *items, size_t n, uint32_t weight)
{
    uint64_t kept = 0;

    for (size_t i = 0; i < n; i++) {
        const PolicyAllocItem *it = &items[i];
        uint64_t cap = kib_max(it->cap_kib, it->floor_kib);
        uint64_t keep = it->weight > weight    ? cap
                        : it->weight == weight ? kib_clamp(it->need_kib, it->floor_kib, cap)
                                               : it->floor_kib;

        kept = kib_add(kept, keep);
    }
    return kept;
}

uint64_t policy_admission_check(PolicyReservation *res, size_t n_res, const PolicyAllocItem *items,
                                size_t n_items, uint64_t budget_kib, uint64_t overhead_kib)
{
    uint64_t held = 0;

    for (size_t j = 0; j < n_res; j++)
        if (res[j].state == POLICY_RESERVATION_GRANTED)
            held = kib_add(held, kib_add(res[j].size_kib, overhead_kib));
    for (size_t j = 0; j < n_res; j++) {
        PolicyReservation *r = &res[j];

        if (r->state != POLICY_RESERVATION_WAITING)
            continue;
        r->room_kib = kib_sub(kib_sub(kib_sub(budget_kib, held),
                                      policy_admission_kept_kib(items, n_items, r->weight)),
                              overhead_kib);
        if (r->size_kib > r->room_kib) {
            r->state = POLICY_RESERVATION_REFUSED;
            continue;
        }
        held = kib_add(held, kib_add(r->size_kib, overhead_kib));
    }
    return held;
}

void policy_admission_grant(PolicyReservation *res, size_t n_res, uint64_t budget_kib,
                            uint64_t taken_kib, uint64_t overhead_kib)
{
    uint64_t spare = kib_sub(budget_kib, taken_kib);
    bool blocked = false;

    for (size_t j = 0; j < n_res; j++)
        if (res[j].state == POLICY_RESERVATION_GRANTED)
            spare = kib_sub(spare, kib_add(res[j].size_kib, overhead_kib));
    for (size_t j = 0; j < n_res; j++) {
        PolicyReservation *r = &res[j];
        uint64_t want = kib_add(r->size_kib, overhead_kib);

        if (r->state != POLICY_RESERVATION_WAITING)
            continue;
        r->free_kib = kib_sub(spare, overhead_kib);
        if (blocked || spare < want) {
            blocked = true;
            continue;
        }
        r->state = POLICY_RESERVATION_GRANTED;
        spare -= want;
    }
}

PolicyReservationState policy_admission_whatif(PolicyAllocItem *items, const uint64_t *assigned_kib,
                                               size_t n, PolicyAllocScratch *scratch,
                                               uint64_t budget_kib, uint64_t reserved_kib,
                                               uint64_t overhead_kib, uint64_t size_kib,
                                               uint32_t weight, uint64_t *ret_room_kib,
                                               uint64_t *trims_kib)
{
    uint64_t avail = kib_sub(budget_kib, reserved_kib), taken = 0;

    *ret_room_kib =
        kib_sub(kib_sub(avail, policy_admission_kept_kib(items, n, weight)), overhead_kib);
    for (size_t i = 0; i < n; i++) {
        trims_kib[i] = 0;
        taken = kib_add(taken, assigned_kib[i]);
    }
    if (size_kib > *ret_room_kib)
        return POLICY_RESERVATION_REFUSED;
    if (kib_add(size_kib, overhead_kib) <= kib_sub(avail, taken))
        return POLICY_RESERVATION_GRANTED;
    policy_alloc_scratch_reserve(scratch, n);
    policy_allocate(items, n, kib_sub(avail, kib_add(size_kib, overhead_kib)), scratch);
    for (size_t i = 0; i < n; i++)
        trims_kib[i] = kib_sub(assigned_kib[i], items[i].result_kib);
    return POLICY_RESERVATION_WAITING;
}
