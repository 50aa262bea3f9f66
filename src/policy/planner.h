/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mechanism planner (DESIGN.md §3.9): from what a domain has and the
 * target the engine chose, the ordered actions that get it there.
 */
#pragma once

#include "engine.h"

/* Free DIMM capacity: (max_memory − total_memory) rounded down to the DIMM
 * block, when a slot is free and a NUMA node is known; else 0. */
uint64_t policy_caps_dimm_room_kib(const PolicyDomainCaps *caps);

/* The most the domain can physically reach: balloon ceiling + Σ virtio-mem
 * sizes + free DIMM capacity (saturating). */
uint64_t policy_caps_reach_kib(const PolicyDomainCaps *caps);
/* ... without attaching a DIMM: balloon ceiling + Σ virtio-mem sizes. */
uint64_t policy_caps_reach_without_dimms_kib(const PolicyDomainCaps *caps);

/* What the domain has now by the planner's reckoning: balloon_kib + Σ
 * virtio-mem current. */
uint64_t policy_caps_assigned_kib(const PolicyDomainCaps *caps, uint64_t balloon_kib);

/* Plan the actions that move the domain from balloon_kib (+ Σ virtio-mem
 * current, from caps) toward target_kib. Grow: balloon up to its ceiling,
 * then virtio-mem requested (block-aligned, <= size), then one DIMM (size a
 * multiple of the DIMM block, with a free slot, a node and room under
 * maxMemory). Shrink: virtio-mem first (block-aligned), then the balloon.
 * Alignment rounds toward the target's safe side and never leaves
 * [lo_kib, hi_kib] (the caller's minimum and maximum; a step that cannot be
 * aligned inside them is skipped). DIMMs are never detached. Every
 * virtio-mem device ends with one consistent request: an unplug under way
 * that the plan does not want is cancelled (requested back to current).
 * Writes up to POLICY_MAX_ACTIONS actions, *ret_n, and *ret_result_kib, the
 * assigned figure once they are done. Returns 0 or -EINVAL (lo > hi). */
/* Cancel every virtio-mem unplug still under way (requested < current) on
 * devices not in touched[] (may be NULL): append actions setting requested
 * back to current, from actions[n]. Returns the new action count. A plan
 * that does not shrink a device must not leave it unplugging. */
size_t policy_plan_cancel_unplugs(const PolicyDomainCaps *caps, const bool *touched,
                                  PolicyAction *actions, size_t n);

int policy_plan_mechanisms(const PolicyDomainCaps *caps, uint64_t balloon_kib, uint64_t target_kib,
                           uint64_t lo_kib, uint64_t hi_kib, PolicyAction *actions, size_t *ret_n,
                           uint64_t *ret_result_kib);
