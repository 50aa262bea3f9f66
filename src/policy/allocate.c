/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "allocate.h"

#include "kib-math.h"

#include <glib.h>

const char *policy_regime_to_string(PolicyRegime regime)
{
    static const char *const names[POLICY_REGIME_LAST] = {
        [POLICY_REGIME_DESIRED] = "desired",
        [POLICY_REGIME_NEEDS] = "needs",
        [POLICY_REGIME_FLOORS] = "floors",
        [POLICY_REGIME_OVERCOMMITTED] = "overcommitted",
    };

    if ((unsigned)regime >= POLICY_REGIME_LAST)
        return "invalid";
    return names[regime];
}

void policy_alloc_scratch_reserve(PolicyAllocScratch *scratch, size_t n)
{
    if (n <= scratch->capacity)
        return;
    /* grow geometrically so a slowly rising domain count reallocates rarely */
    size_t cap = scratch->capacity ? scratch->capacity : 16;
    while (cap < n)
        cap *= 2;
    scratch->slots = g_renew(PolicyFillSlot, scratch->slots, cap);
    scratch->capacity = cap;
    scratch->n_reallocs++;
}

void policy_alloc_scratch_clear(PolicyAllocScratch *scratch)
{
    g_free(scratch->slots);
    scratch->slots = NULL;
    scratch->capacity = 0;
}

/* a before b: ascending room/weight, compared exactly by
 * cross-multiplication, ties by index (a total order, so any correct sort
 * gives the same result). */
static inline bool slot_less(const PolicyFillSlot *a, const PolicyFillSlot *b)
{
    unsigned __int128 l = (unsigned __int128)a->room_kib * b->weight;
    unsigned __int128 r = (unsigned __int128)b->room_kib * a->weight;

    if (l != r)
        return l < r;
    return a->index < b->index;
}

static inline void slot_swap(PolicyFillSlot *a, PolicyFillSlot *b)
{
    PolicyFillSlot t = *a;

    *a = *b;
    *b = t;
}

static void slots_sift_down(PolicyFillSlot *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;

        if (child >= n)
            return;
        if (child + 1 < n && slot_less(&v[child], &v[child + 1]))
            child++;
        if (!slot_less(&v[root], &v[child]))
            return;
        slot_swap(&v[root], &v[child]);
        root = child;
    }
}

static void slots_heapsort(PolicyFillSlot *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        slots_sift_down(v, i, n);
    for (size_t end = n; end-- > 1;) {
        slot_swap(&v[0], &v[end]);
        slots_sift_down(v, 0, end);
    }
}

/* Introsort: quicksort (median of three), insertion sort for short runs,
 * heapsort when the partitions go bad. In place: glibc's qsort() may
 * malloc a buffer, and a steady cycle allocates nothing. */
static void slots_sort(PolicyFillSlot *v, size_t n, unsigned depth)
{
    while (n > 16) {
        size_t mid = n / 2, i = 0, j = n - 1;

        if (depth-- == 0) {
            slots_heapsort(v, n);
            return;
        }
        if (slot_less(&v[mid], &v[0]))
            slot_swap(&v[mid], &v[0]);
        if (slot_less(&v[n - 1], &v[0]))
            slot_swap(&v[n - 1], &v[0]);
        if (slot_less(&v[n - 1], &v[mid]))
            slot_swap(&v[n - 1], &v[mid]);
        PolicyFillSlot pivot = v[mid];

        /* Hoare partition: v[0..j] <= pivot <= v[j+1..n) */
        for (;;) {
            while (slot_less(&v[i], &pivot))
                i++;
            while (slot_less(&pivot, &v[j]))
                j--;
            if (i >= j)
                break;
            slot_swap(&v[i], &v[j]);
            i++;
            j--;
        }
        /* recurse into the smaller side, loop on the larger: O(log n) stack */
        if (j + 1 < n - j - 1) {
            slots_sort(v, j + 1, depth);
            v += j + 1;
            n -= j + 1;
        } else {
            slots_sort(v + j + 1, n - j - 1, depth);
            n = j + 1;
        }
    }
    for (size_t i = 1; i < n; i++) {
        PolicyFillSlot x = v[i];
        size_t k = i;

        for (; k > 0 && slot_less(&x, &v[k - 1]); k--)
            v[k] = v[k - 1];
        v[k] = x;
    }
}

uint64_t policy_waterfill(PolicyFillSlot *slots, size_t n, uint64_t rest_kib)
{
    uint64_t total_room = 0, total_weight = 0, given = 0;
    size_t n_active = 0;

    for (size_t i = 0; i < n; i++) {
        slots[i].give_kib = 0;
        total_room = kib_add(total_room, slots[i].room_kib);
    }
    if (total_room <= rest_kib) {
        /* everyone who may receive gets all the room they have */
        for (size_t i = 0; i < n; i++) {
            if (slots[i].weight == 0)
                continue;
            slots[i].give_kib = slots[i].room_kib;
            given += slots[i].room_kib;
        }
        return given;
    }

    /* only slots that may receive take part: move them to the front, so the
     * sort sees positive weights only and its order is total */
    for (size_t i = 0; i < n; i++) {
        if (slots[i].weight == 0 || slots[i].room_kib == 0)
            continue;
        if (i != n_active) {
            PolicyFillSlot t = slots[n_active];
            slots[n_active] = slots[i];
            slots[i] = t;
        }
        total_weight += slots[n_active].weight;
        n_active++;
    }
    if (n_active == 0 || rest_kib == 0)
        return 0;

    slots_sort(slots, n_active, 2 * (unsigned)(64 - __builtin_clzll(n_active | 1)));

    uint64_t rest = rest_kib;
    size_t k = 0;
    for (; k < n_active; k++) {
        PolicyFillSlot *s = &slots[k];

        /* saturates if room/w <= rest/W, i.e. λ would overshoot its room */
        if ((unsigned __int128)s->room_kib * total_weight > (unsigned __int128)rest * s->weight)
            break;
        s->give_kib = s->room_kib;
        given += s->room_kib;
        rest -= s->room_kib;
        total_weight -= s->weight;
    }
    /* everyone left gets ⌊rest·w/W⌋ (< room, by the break above) */
    for (; k < n_active; k++) {
        PolicyFillSlot *s = &slots[k];

        s->give_kib = (uint64_t)((unsigned __int128)rest * s->weight / total_weight);
        given += s->give_kib;
    }
    return given;
}

static uint64_t fill_toward(PolicyAllocItem *items, size_t n, PolicyAllocScratch *scratch,
                            uint64_t rest, bool toward_cap)
{
    PolicyFillSlot *slots;
    uint64_t given;

    policy_alloc_scratch_reserve(scratch, n);
    slots = scratch->slots;
    for (size_t i = 0; i < n; i++) {
        uint64_t top = toward_cap ? items[i].cap_kib : items[i].need_kib;

        slots[i] = (PolicyFillSlot){
            .room_kib = kib_sub(top, items[i].result_kib),
            .weight = items[i].weight,
            .index = i,
        };
    }
    given = policy_waterfill(slots, n, rest);
    for (size_t i = 0; i < n; i++)
        items[slots[i].index].result_kib += slots[i].give_kib;
    return given;
}

PolicyRegime policy_allocate(PolicyAllocItem *items, size_t n, uint64_t budget_kib,
                             PolicyAllocScratch *scratch)
{
    uint64_t sum_floor = 0, sum_need = 0, sum_cap = 0;

    for (size_t i = 0; i < n; i++) {
        PolicyAllocItem *it = &items[i];

        it->cap_kib = kib_max(it->cap_kib, it->floor_kib);
        it->need_kib = kib_clamp(it->need_kib, it->floor_kib, it->cap_kib);
        sum_floor = kib_add(sum_floor, it->floor_kib);
        sum_need = kib_add(sum_need, it->need_kib);
        sum_cap = kib_add(sum_cap, it->cap_kib);
    }

    if (sum_cap <= budget_kib) {
        for (size_t i = 0; i < n; i++)
            items[i].result_kib = items[i].cap_kib;
        return POLICY_REGIME_DESIRED;
    }
    if (sum_need <= budget_kib) {
        /* the buffers are what is given up first (as Hyper-V does) */
        for (size_t i = 0; i < n; i++)
            items[i].result_kib = items[i].need_kib;
        fill_toward(items, n, scratch, budget_kib - sum_need, true);
        return POLICY_REGIME_NEEDS;
    }
    for (size_t i = 0; i < n; i++)
        items[i].result_kib = items[i].floor_kib;
    if (sum_floor <= budget_kib) {
        fill_toward(items, n, scratch, budget_kib - sum_floor, false);
        return POLICY_REGIME_FLOORS;
    }
    return POLICY_REGIME_OVERCOMMITTED;
}
