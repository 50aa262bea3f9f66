/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "planner.h"

#include "kib-math.h"

#include <errno.h>
#include <string.h>

uint64_t policy_caps_dimm_room_kib(const PolicyDomainCaps *caps)
{
    uint64_t block = caps->dimm_block_kib ? caps->dimm_block_kib : POLICY_DIMM_BLOCK_KIB_DEFAULT;

    if (caps->free_dimm_slots == 0 || caps->dimm_node < 0 || caps->max_memory_kib == 0)
        return 0;
    /* one DIMM may take all the room, so the slot count only gates it */
    return kib_round_down(kib_sub(caps->max_memory_kib, caps->total_memory_kib), block);
}

uint64_t policy_caps_reach_without_dimms_kib(const PolicyDomainCaps *caps)
{
    uint64_t reach = caps->balloon_max_kib;
    size_t n =
        caps->n_virtio_mem < POLICY_MAX_VIRTIO_MEM ? caps->n_virtio_mem : POLICY_MAX_VIRTIO_MEM;

    for (size_t i = 0; i < n; i++)
        reach = kib_add(reach, caps->virtio_mem[i].size_kib);
    return reach;
}

uint64_t policy_caps_reach_kib(const PolicyDomainCaps *caps)
{
    return kib_add(policy_caps_reach_without_dimms_kib(caps), policy_caps_dimm_room_kib(caps));
}

uint64_t policy_caps_assigned_kib(const PolicyDomainCaps *caps, uint64_t balloon_kib)
{
    uint64_t a = balloon_kib;
    size_t n =
        caps->n_virtio_mem < POLICY_MAX_VIRTIO_MEM ? caps->n_virtio_mem : POLICY_MAX_VIRTIO_MEM;

    for (size_t i = 0; i < n; i++)
        a = kib_add(a, caps->virtio_mem[i].current_kib);
    return a;
}

static PolicyAction *push(PolicyAction *actions, size_t *n, PolicyActionKind kind, uint64_t from,
                          uint64_t to)
{
    PolicyAction *a = &actions[(*n)++];

    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->from_kib = from;
    a->to_kib = to;
    a->node = -1;
    return a;
}

static uint64_t block_of(const PolicyVirtioMem *vm)
{
    return vm->block_kib ? vm->block_kib : 1;
}

static void set_request(PolicyAction *actions, size_t *n, const PolicyVirtioMem *vm, uint64_t req,
                        bool *touched, size_t i)
{
    PolicyAction *a = push(actions, n, POLICY_ACTION_VIRTIO_MEM, vm->requested_kib, req);

    g_strlcpy(a->alias, vm->alias, sizeof(a->alias));
    a->node = vm->node;
    if (touched)
        touched[i] = true;
}

size_t policy_plan_cancel_unplugs(const PolicyDomainCaps *caps, const bool *touched,
                                  PolicyAction *actions, size_t n)
{
    size_t n_vm = kib_min(caps->n_virtio_mem, POLICY_MAX_VIRTIO_MEM);

    /* An unplug still under way that this plan does not want goes on
     * eating the guest's memory (it may be stuck on pages in use and
     * finish much later): ask for what is plugged now instead. */
    for (size_t i = 0; i < n_vm && n < POLICY_MAX_ACTIONS; i++) {
        const PolicyVirtioMem *vm = &caps->virtio_mem[i];

        if ((touched && touched[i]) || vm->requested_kib >= vm->current_kib)
            continue;
        set_request(actions, &n, vm, vm->current_kib, NULL, i);
    }
    return n;
}

/* Grow from `have` toward target, staying <= hi. */
static uint64_t plan_grow(const PolicyDomainCaps *caps, uint64_t balloon, uint64_t have,
                          uint64_t target, uint64_t hi, PolicyAction *actions, size_t *n,
                          bool *touched)
{
    size_t n_vm = kib_min(caps->n_virtio_mem, POLICY_MAX_VIRTIO_MEM);

    target = kib_min(target, hi);

    /* 1. the balloon, KiB-exact, up to its ceiling */
    if (have < target && balloon < caps->balloon_max_kib) {
        uint64_t step = kib_min(target - have, caps->balloon_max_kib - balloon);

        push(actions, n, POLICY_ACTION_BALLOON, balloon, balloon + step);
        have += step;
    }

    /* 2. virtio-mem, in device order, requested rounded up to the block
     * unless that would pass hi (then down) */
    for (size_t i = 0; i < n_vm && have < target; i++) {
        const PolicyVirtioMem *vm = &caps->virtio_mem[i];
        uint64_t block = block_of(vm), size = kib_round_down(vm->size_kib, block);
        uint64_t want, room_to_hi, req;

        if (vm->current_kib >= size)
            continue;
        want = kib_add(vm->current_kib, target - have);
        room_to_hi = hi - have;
        req = kib_min(kib_round_up(want, block), size);
        if (req - vm->current_kib > room_to_hi)
            req = kib_round_down(kib_add(vm->current_kib, room_to_hi), block);
        if (req <= vm->current_kib)
            continue;
        /* a larger request already pending covers this */
        if (req > vm->requested_kib)
            set_request(actions, n, vm, req, touched, i);
        have += req - vm->current_kib;
    }

    /* 3. one DIMM; the next cycle re-reads the domain and plans again.
     * Slots are few and a DIMM is never detached, so it is not sized to
     * this cycle's shortfall alone: at least its share of the room left
     * (room / free slots). What it brings beyond the target is free memory
     * the balloon takes back over the next cycles; sized to the shortfall,
     * a ramping guest used up its slots in small DIMMs (measured,
     * bench/e2e-measure.sh; its OOM kills there came from its small idle
     * headroom, docs/benchmarks.md, not from the DIMMs). */
    if (have < target) {
        uint64_t block =
            caps->dimm_block_kib ? caps->dimm_block_kib : POLICY_DIMM_BLOCK_KIB_DEFAULT;
        uint64_t room = policy_caps_dimm_room_kib(caps);
        uint64_t shortfall = kib_round_up(target - have, block);
        uint64_t share =
            caps->free_dimm_slots ? kib_round_down(room / caps->free_dimm_slots, block) : 0;
        /* ... but no more than four times the shortfall: what the budget
         * counts as taken until the balloon has it back */
        uint64_t size = kib_min(kib_max(shortfall, kib_min(share, kib_mul(shortfall, 4))), room);

        if (size > hi - have)
            size = kib_round_down(hi - have, block);
        if (size > 0) {
            PolicyAction *a = push(actions, n, POLICY_ACTION_DIMM, 0, size);

            a->node = caps->dimm_node;
            /* the attach raises the balloon figure by the DIMM's size */
            have += size;
        }
    }
    return have;
}

/* Shrink from `have` toward target, staying >= lo. */
static uint64_t plan_shrink(const PolicyDomainCaps *caps, uint64_t balloon, uint64_t have,
                            uint64_t target, uint64_t lo, PolicyAction *actions, size_t *n,
                            bool *touched)
{
    size_t n_vm = kib_min(caps->n_virtio_mem, POLICY_MAX_VIRTIO_MEM);

    target = kib_max(target, lo);

    /* 1. virtio-mem first, last device first: a real unplug. Rounded down
     * (unplugging up to a block more than asked), so the balloon is not
     * inflated by a sub-block remainder while virtio-mem memory is still
     * plugged; rounded up only where down would pass the minimum. */
    for (size_t j = n_vm; j-- > 0 && have > target;) {
        const PolicyVirtioMem *vm = &caps->virtio_mem[j];
        uint64_t block = block_of(vm);
        uint64_t req = kib_round_down(kib_sub(vm->current_kib, have - target), block);

        if (have - (vm->current_kib - req) < lo)
            req = kib_round_up(kib_sub(vm->current_kib, have - target), block);

        if (req >= vm->current_kib)
            continue;
        /* exactly this unplug, also when a deeper one is pending: the guest
         * would otherwise go on unplugging past the target */
        if (req != vm->requested_kib)
            set_request(actions, n, vm, req, touched, j);
        else
            touched[j] = true;
        have -= vm->current_kib - req;
    }

    /* 2. the balloon, KiB-exact */
    if (have > target && balloon > 0) {
        uint64_t step = kib_min(have - target, balloon);

        push(actions, n, POLICY_ACTION_BALLOON, balloon, balloon - step);
        have -= step;
    }
    return have;
}

int policy_plan_mechanisms(const PolicyDomainCaps *caps, uint64_t balloon_kib, uint64_t target_kib,
                           uint64_t lo_kib, uint64_t hi_kib, PolicyAction *actions, size_t *ret_n,
                           uint64_t *ret_result_kib)
{
    uint64_t have = policy_caps_assigned_kib(caps, balloon_kib), result;
    bool touched[POLICY_MAX_VIRTIO_MEM] = {false};
    size_t n = 0;

    if (lo_kib > hi_kib)
        return -EINVAL;

    if (target_kib > have && have < hi_kib)
        result = plan_grow(caps, balloon_kib, have, target_kib, hi_kib, actions, &n, touched);
    else if (target_kib < have && have > lo_kib)
        result = plan_shrink(caps, balloon_kib, have, target_kib, lo_kib, actions, &n, touched);
    else
        result = have;
    n = policy_plan_cancel_unplugs(caps, touched, actions, n);

    *ret_n = n;
    *ret_result_kib = result;
    return 0;
}
