/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The mechanism planner: balloon, virtio-mem with block alignment, DIMM
 * attach, bounds after alignment. */
#include "planner.h"
#include "test-sizes.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

typedef struct {
    PolicyActionKind kind;
    uint64_t from, to;
    int node;
} WantAction;

typedef struct {
    const char *what;
    /* caps */
    uint64_t balloon_max;
    uint64_t vm_size, vm_block, vm_current, vm_requested; /* one device when vm_size > 0 */
    uint64_t max_memory, total_memory;
    uint32_t slots;
    int node;
    /* call */
    uint64_t balloon, target, lo, hi;
    /* expect */
    int ret;
    uint64_t result;
    size_t n;
    WantAction actions[4];
} PlanCase;

static const PlanCase cases[] = {
    {"balloon grow",
     2 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     1536 * MiB,
     0,
     4 * GiB,
     0,
     1536 * MiB,
     1,
     {{POLICY_ACTION_BALLOON, 1 * GiB, 1536 * MiB, -1}}},
    {"balloon shrink",
     2 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     768 * MiB,
     0,
     4 * GiB,
     0,
     768 * MiB,
     1,
     {{POLICY_ACTION_BALLOON, 1 * GiB, 768 * MiB, -1}}},
    {"balloon stops at its ceiling",
     2 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     3 * GiB,
     0,
     4 * GiB,
     0,
     2 * GiB,
     1,
     {{POLICY_ACTION_BALLOON, 1 * GiB, 2 * GiB, -1}}},
    {"no change",
     2 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     1 * GiB,
     0,
     4 * GiB,
     0,
     1 * GiB,
     0,
     {{0}}},
    /* 101 MiB more, block 2 MiB: requested rounds up to 102 MiB */
    {"virtio-mem grow rounds up",
     512 * MiB,
     1 * GiB,
     2 * MiB,
     0,
     0,
     0,
     0,
     0,
     -1,
     512 * MiB,
     613 * MiB,
     0,
     4 * GiB,
     0,
     614 * MiB,
     1,
     {{POLICY_ACTION_VIRTIO_MEM, 0, 102 * MiB, 0}}},
    /* ... unless that passes the maximum: then down */
    {"virtio-mem grow rounds down at max",
     512 * MiB,
     1 * GiB,
     2 * MiB,
     0,
     0,
     0,
     0,
     0,
     -1,
     512 * MiB,
     613 * MiB,
     0,
     613 * MiB,
     0,
     612 * MiB,
     1,
     {{POLICY_ACTION_VIRTIO_MEM, 0, 100 * MiB, 0}}},
    /* balloon first, then virtio-mem up to its size */
    {"balloon then virtio-mem",
     1 * GiB,
     256 * MiB,
     2 * MiB,
     0,
     0,
     0,
     0,
     0,
     -1,
     900 * MiB,
     2 * GiB,
     0,
     4 * GiB,
     0,
     1280 * MiB,
     2,
     {{POLICY_ACTION_BALLOON, 900 * MiB, 1 * GiB, -1},
      {POLICY_ACTION_VIRTIO_MEM, 0, 256 * MiB, 0}}},
    /* shrink 301 MiB: virtio-mem to ⌊99⌋ = 98 MiB (a block more, so the
     * balloon does not move while virtio-mem memory is plugged) */
    {"virtio-mem shrink first",
     512 * MiB,
     1 * GiB,
     2 * MiB,
     400 * MiB,
     400 * MiB,
     0,
     0,
     0,
     -1,
     512 * MiB,
     611 * MiB,
     0,
     4 * GiB,
     0,
     610 * MiB,
     1,
     {{POLICY_ACTION_VIRTIO_MEM, 400 * MiB, 98 * MiB, 0}}},
    /* a whole-block shrink leaves the balloon alone */
    {"virtio-mem shrink aligned",
     512 * MiB,
     1 * GiB,
     2 * MiB,
     400 * MiB,
     400 * MiB,
     0,
     0,
     0,
     -1,
     512 * MiB,
     812 * MiB,
     0,
     4 * GiB,
     0,
     812 * MiB,
     1,
     {{POLICY_ACTION_VIRTIO_MEM, 400 * MiB, 300 * MiB, 0}}},
    /* never below lo, even when asked */
    {"shrink stops at minimum",
     2 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     100 * MiB,
     600 * MiB,
     4 * GiB,
     0,
     600 * MiB,
     1,
     {{POLICY_ACTION_BALLOON, 1 * GiB, 600 * MiB, -1}}},
    /* 200 MiB more with the balloon full: one DIMM on node 0, not of the
     * 256 MiB shortfall but of its share of the room (3 GiB / 2 slots),
     * at most four times the shortfall: 1 GiB */
    {"dimm attach",
     1 * GiB,
     0,
     0,
     0,
     0,
     4 * GiB,
     1 * GiB,
     2,
     0,
     1 * GiB,
     1224 * MiB,
     0,
     4 * GiB,
     0,
     2 * GiB,
     1,
     {{POLICY_ACTION_DIMM, 0, 1 * GiB, 0}}},
    /* rounding up would pass the maximum: 128 MiB */
    {"dimm rounds down at max",
     1 * GiB,
     0,
     0,
     0,
     0,
     4 * GiB,
     1 * GiB,
     2,
     0,
     1 * GiB,
     1224 * MiB,
     0,
     1224 * MiB,
     0,
     1152 * MiB,
     1,
     {{POLICY_ACTION_DIMM, 0, 128 * MiB, 0}}},
    /* less than a block of room under the maximum: no DIMM */
    {"dimm skipped below a block",
     1 * GiB,
     0,
     0,
     0,
     0,
     4 * GiB,
     1 * GiB,
     2,
     0,
     1 * GiB,
     1100 * MiB,
     0,
     1100 * MiB,
     0,
     1 * GiB,
     0,
     {{0}}},
    {"dimm impossible: no node",
     1 * GiB,
     0,
     0,
     0,
     0,
     4 * GiB,
     1 * GiB,
     2,
     -1,
     1 * GiB,
     2 * GiB,
     0,
     4 * GiB,
     0,
     1 * GiB,
     0,
     {{0}}},
    {"dimm impossible: no slot",
     1 * GiB,
     0,
     0,
     0,
     0,
     4 * GiB,
     1 * GiB,
     0,
     0,
     1 * GiB,
     2 * GiB,
     0,
     4 * GiB,
     0,
     1 * GiB,
     0,
     {{0}}},
    /* the DIMM is limited by the room under maxMemory (1.5 GiB + 256 MiB
     * virtio-mem in <memory>: 2 GiB − 1.75 GiB = 256 MiB) */
    {"dimm limited by maxMemory",
     1536 * MiB,
     256 * MiB,
     2 * MiB,
     256 * MiB,
     256 * MiB,
     2 * GiB,
     1792 * MiB,
     4,
     0,
     1536 * MiB,
     3 * GiB,
     0,
     4 * GiB,
     0,
     2 * GiB,
     1,
     {{POLICY_ACTION_DIMM, 0, 256 * MiB, 0}}},
    /* all three in order; the last slot's DIMM is four times the
     * 384 MiB shortfall */
    {"balloon, virtio-mem, dimm",
     1 * GiB,
     512 * MiB,
     2 * MiB,
     0,
     0,
     8 * GiB,
     1536 * MiB,
     1,
     0,
     900 * MiB,
     1836 * MiB,
     0,
     8 * GiB,
     0,
     3 * GiB,
     3,
     {{POLICY_ACTION_BALLOON, 900 * MiB, 1 * GiB, -1},
      {POLICY_ACTION_VIRTIO_MEM, 0, 512 * MiB, 0},
      {POLICY_ACTION_DIMM, 0, 1536 * MiB, 0}}},
    {"lo above hi",
     1 * GiB,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     -1,
     1 * GiB,
     1 * GiB,
     2 * GiB,
     1 * GiB,
     -EINVAL,
     0,
     0,
     {{0}}},
};

static void fill_caps(const PlanCase *c, PolicyDomainCaps *caps)
{
    memset(caps, 0, sizeof(*caps));
    caps->has_balloon = true;
    caps->stats_period_s = 1;
    caps->balloon_max_kib = c->balloon_max;
    if (c->vm_size) {
        caps->n_virtio_mem = 1;
        g_strlcpy(caps->virtio_mem[0].alias, "vmem0", POLICY_ALIAS_MAX);
        caps->virtio_mem[0].node = 0;
        caps->virtio_mem[0].block_kib = c->vm_block;
        caps->virtio_mem[0].size_kib = c->vm_size;
        caps->virtio_mem[0].current_kib = c->vm_current;
        caps->virtio_mem[0].requested_kib = c->vm_requested;
    }
    caps->max_memory_kib = c->max_memory;
    caps->total_memory_kib = c->total_memory ? c->total_memory : c->balloon_max + c->vm_size;
    caps->free_dimm_slots = c->slots;
    caps->dimm_node = c->node;
    caps->dimm_block_kib = 128 * MiB;
}

static void test_plan_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const PlanCase *c = &cases[i];
        PolicyDomainCaps caps;
        PolicyAction actions[POLICY_MAX_ACTIONS];
        size_t n = 99;
        uint64_t result = 7;
        int r;

        fill_caps(c, &caps);
        r = policy_plan_mechanisms(&caps, c->balloon, c->target, c->lo, c->hi, actions, &n,
                                   &result);
        if (r != c->ret)
            fail_msg("%s: ret %d want %d", c->what, r, c->ret);
        if (r < 0) {
            assert_int_equal(n, 99);
            assert_int_equal(result, 7);
            continue;
        }
        if (result != c->result)
            fail_msg("%s: result %" PRIu64 " MiB want %" PRIu64 " MiB", c->what, result / MiB,
                     c->result / MiB);
        if (n != c->n)
            fail_msg("%s: %zu actions want %zu", c->what, n, c->n);
        for (size_t k = 0; k < n; k++) {
            const WantAction *w = &c->actions[k];

            if (actions[k].kind != w->kind || actions[k].from_kib != w->from ||
                actions[k].to_kib != w->to || actions[k].node != w->node)
                fail_msg("%s: action %zu: %s %" PRIu64 "->%" PRIu64 " MiB node %d, want %s %" PRIu64
                         "->%" PRIu64 " node %d",
                         c->what, k, policy_action_kind_to_string(actions[k].kind),
                         actions[k].from_kib / MiB, actions[k].to_kib / MiB, actions[k].node,
                         policy_action_kind_to_string(w->kind), w->from / MiB, w->to / MiB,
                         w->node);
            if (actions[k].kind == POLICY_ACTION_VIRTIO_MEM) {
                assert_string_equal(actions[k].alias, "vmem0");
                assert_int_equal(actions[k].to_kib % c->vm_block, 0);
            }
            if (actions[k].kind == POLICY_ACTION_DIMM)
                assert_int_equal(actions[k].to_kib % (128 * MiB), 0);
        }
        assert_true(result >= c->lo);
        assert_true(result <= c->hi || result == policy_caps_assigned_kib(&caps, c->balloon));
    }
}

static void test_reach(void **state)
{
    PlanCase c = {.balloon_max = 1 * GiB,
                  .vm_size = 1 * GiB,
                  .vm_block = 2 * MiB,
                  .max_memory = 8 * GiB,
                  .total_memory = 2 * GiB + 100 * MiB,
                  .slots = 3,
                  .node = 0};
    PolicyDomainCaps caps;

    (void)state;
    fill_caps(&c, &caps);
    /* room: 8 GiB − 2.1 GiB = 5.9 GiB, rounded down to 128 MiB: 5.875 GiB */
    assert_int_equal(policy_caps_dimm_room_kib(&caps), 5 * GiB + 896 * MiB);
    assert_int_equal(policy_caps_reach_kib(&caps), 2 * GiB + 5 * GiB + 896 * MiB);
    caps.dimm_node = -1;
    assert_int_equal(policy_caps_reach_kib(&caps), 2 * GiB);
    caps.virtio_mem[0].current_kib = 300 * MiB;
    assert_int_equal(policy_caps_assigned_kib(&caps, 724 * MiB), 1 * GiB);
}

/* An unplug under way (requested 0, the guest stuck at 1 GiB because the
 * memory is in use) is never left running past what the plan wants. */
static void test_pending_unplug(void **state)
{
    PolicyDomainCaps caps = {
        .has_balloon = true,
        .balloon_max_kib = 1 * GiB,
        .total_memory_kib = 3 * GiB,
        .n_virtio_mem = 1,
        .dimm_node = -1,
    };
    PolicyVirtioMem *vm = &caps.virtio_mem[0];
    g_strlcpy(vm->alias, "virtiomem0", sizeof(vm->alias));
    vm->size_kib = 2 * GiB;
    vm->block_kib = 2 * MiB;
    vm->current_kib = 1 * GiB;
    vm->requested_kib = 0;
    PolicyAction act[POLICY_MAX_ACTIONS];
    size_t n;
    uint64_t result;

    /* a small shrink: exactly that unplug, not the deeper one pending */
    assert_int_equal(
        policy_plan_mechanisms(&caps, 1 * GiB, 1800 * MiB, 512 * MiB, 3 * GiB, act, &n, &result),
        0);
    assert_int_equal(n, 1);
    assert_int_equal(act[0].kind, POLICY_ACTION_VIRTIO_MEM);
    assert_int_equal(act[0].to_kib, 776 * MiB);
    assert_int_equal(result, 1800 * MiB);

    /* no change wanted: the unplug is cancelled */
    assert_int_equal(
        policy_plan_mechanisms(&caps, 1 * GiB, 2 * GiB, 512 * MiB, 3 * GiB, act, &n, &result), 0);
    assert_int_equal(n, 1);
    assert_int_equal(act[0].kind, POLICY_ACTION_VIRTIO_MEM);
    assert_int_equal(act[0].to_kib, 1 * GiB);
    assert_int_equal(result, 2 * GiB);

    /* growth by the balloon alone: the unplug is cancelled too */
    assert_int_equal(
        policy_plan_mechanisms(&caps, 768 * MiB, 1900 * MiB, 512 * MiB, 3 * GiB, act, &n, &result),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(act[0].kind, POLICY_ACTION_BALLOON);
    assert_int_equal(act[1].kind, POLICY_ACTION_VIRTIO_MEM);
    assert_int_equal(act[1].to_kib, 1 * GiB);

    /* nothing pending: nothing to cancel */
    vm->requested_kib = vm->current_kib;
    assert_int_equal(policy_plan_cancel_unplugs(&caps, NULL, act, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_table),
        cmocka_unit_test(test_reach),
        cmocka_unit_test(test_pending_unplug),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
