/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Completing a sample of a QEMU guest whose bulk balloon figure libvirt
 * may have wrong (docs/architecture.md, "Reading a DIMM guest's memory").
 * No libvirt here: the reading is a function the caller passes, so the
 * decisions are tested alone and the fake backend of the manager's tests,
 * which plays libvirt's stale figure, takes them too.
 */
#pragma once

#include "backend.h"

/* One domain's figures asked of the hypervisor now: balloon_kib the
 * balloon figure alone (without virtio-mem), assigned_kib left 0. Returns
 * 0 or a negative errno with *ret_error. */
typedef int (*QemuSampleReadFunc)(void *userdata, const char *uuid, uint64_t now_us,
                                  PolicyDomainSample *ret, char **ret_error);

/* How long the live read's window stays open at least once a DIMM guest's
 * DIMMs changed: QEMU's late balloon event (one a second at most) is in
 * well before. */
#define QEMU_SAMPLE_WINDOW_US (5 * G_USEC_PER_SEC)

/* BackendOps.complete_sample for QEMU through libvirt: a domain with a
 * DIMM plugged whose sample came from the bulk stats has its figures
 * asked with `read` while its window is open (memo: from a change of its
 * DIMMs or its first sample, QEMU_SAMPLE_WINDOW_US at least, then until
 * QEMU's balloon figure and libvirt's agree); a virtio-mem domain (outside
 * that window) once after each plug or unplug that libvirt's figure does
 * not count yet (the answer kept in memo until that figure changes). Either is
 * held when they cannot be: busy in a job (no guest figures collected:
 * asking would wait for the job) or the read failing. A held domain is
 * counted at the balloon figure last read (memo), not libvirt's.
 * -EOPNOTSUPP from `read` is remembered in memo: libvirt's figure from
 * then on. */
int qemu_sample_complete(const char *uuid, const PolicyDomainCaps *caps, uint64_t now_us,
                         bool balloon_only, BackendDomainMemo *memo, PolicyDomainSample *sample,
                         QemuSampleReadFunc read, void *userdata, char **ret_error);
