/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "qemu-sample.h"

#include <errno.h>

/* QEMU computes a balloon event's figure when the guest moves its balloon,
 * counting the DIMMs plugged at that moment, and may send it up to a
 * second later (it throttles the event). A DIMM plugged in between leaves
 * libvirt's balloon.current short by the DIMM's size until the balloon
 * moves again (seen in CI: the daemon read 640 MiB for a guest it had just
 * grown to 1152 and set it to 512). So a DIMM guest's balloon figure is
 * asked of QEMU itself while libvirt's may be wrong, and only then: in a
 * window that opens when its DIMMs change (our attach or anyone's: the
 * manager re-reads the capabilities after its own DIMM action and after
 * libvirt's device-added event, and the DIMM count and the balloon
 * ceiling, boot memory + DIMMs, rise with every plug) or when the domain
 * is new to us (found, reconnected: nothing known of its last events).
 * The window lasts QEMU_SAMPLE_WINDOW_US at least, well past the one
 * throttled event that can still come with the old figure, and then until
 * a live figure agrees with libvirt's. A balloon change alone cannot part
 * the two figures: only a plug while an event is pending does, and the
 * plug shows in the capabilities. Outside the window a DIMM guest costs
 * no more than any other (one extra virDomainMemoryStats per DIMM guest
 * and cycle before: libvirt asks QEMU for the balloon and the guest's
 * stats each time).
 *
 * In the window, when the figures cannot be asked, the domain is held:
 * its guest figures are dropped, so the engine neither shrinks nor grows
 * it (stale), and it is counted at the figure QEMU last gave. */
static void hold(const BackendDomainMemo *memo, PolicyDomainSample *sample, bool *balloon_only)
{
    sample->has_balloon_stats = false;
    sample->has_usable = false;
    sample->has_available = false;
    sample->has_unused = false;
    if (memo->has_live_balloon) {
        sample->balloon_kib = memo->live_balloon_kib;
        *balloon_only = true;
    }
}

static uint64_t vmem_plugged_kib(const PolicyDomainCaps *caps)
{
    uint64_t vmem = 0;
    for (size_t i = 0; i < caps->n_virtio_mem; i++)
        vmem += caps->virtio_mem[i].current_kib;
    return vmem;
}

/* libvirt's balloon figure alone, from a collected sample that includes
 * the virtio-mem memory. */
static uint64_t collected_balloon_kib(const PolicyDomainCaps *caps,
                                      const PolicyDomainSample *sample)
{
    uint64_t vmem = vmem_plugged_kib(caps);
    return sample->assigned_kib > vmem ? sample->assigned_kib - vmem : 0;
}

/* Opens the window when the DIMMs differ from those seen last time. */
static void watch_dimms(const PolicyDomainCaps *caps, uint64_t now_us, BackendDomainMemo *memo)
{
    if (memo->has_seen_dimms && memo->seen_n_dimms == caps->n_dimms &&
        memo->seen_ceiling_kib == caps->balloon_max_kib)
        return;
    memo->has_seen_dimms = true;
    memo->seen_n_dimms = caps->n_dimms;
    memo->seen_ceiling_kib = caps->balloon_max_kib;
    if (caps->n_dimms > 0) {
        memo->live_window = true;
        memo->live_window_until_us = now_us + QEMU_SAMPLE_WINDOW_US;
    }
}

/* Returns a BackendSampleSource or the read's negative errno. */
static int replace_dimm_figures(const char *uuid, const PolicyDomainCaps *caps, uint64_t now_us,
                                BackendDomainMemo *memo, PolicyDomainSample *sample,
                                bool *balloon_only, QemuSampleReadFunc read, void *userdata,
                                char **ret_error)
{
    PolicyDomainSample live;
    int r;

    if (!sample->has_balloon_stats) {
        /* busy in a job (NOWAIT) or no balloon driver: asking now would
         * wait for the job; without guest figures the engine holds it */
        hold(memo, sample, balloon_only);
        return BACKEND_SAMPLE_HELD;
    }
    r = read(userdata, uuid, now_us, &live, ret_error);
    if (r == -EOPNOTSUPP) {
        memo->live_unsupported = true;
        memo->live_window = false;
        return r;
    }
    if (r < 0) {
        hold(memo, sample, balloon_only);
        return r;
    }
    bool agree = live.balloon_kib == collected_balloon_kib(caps, sample);
    if (agree && now_us >= memo->live_window_until_us) {
        /* libvirt's figure is right again, and stays right until the
         * DIMMs change: the last live one is no use after that */
        memo->live_window = false;
        memo->has_live_balloon = false;
    } else {
        memo->has_live_balloon = true;
        memo->live_balloon_kib = live.balloon_kib;
    }
    *sample = live;
    *balloon_only = true;
    return BACKEND_SAMPLE_LIVE;
}

/* libvirt's collected figure for a virtio-mem guest is QEMU's balloon
 * figure plus the virtio-mem plugged when libvirt took the balloon event:
 * a plug or unplug since leaves it off by that much until libvirt updates
 * it (seen on a ramping guest: the balloon read 206 MiB where 256 had been
 * asked, and the daemon "grew" it to 238). Whether the
 * collected figure can be trusted: yes while the plugged memory is what it
 * was when the figure changed last; else the balloon figure asked once
 * since serves until the collected one changes again. Returns whether to
 * ask now; *ret_reuse: use memo->live_balloon_kib instead. */
static bool vmem_figure_stale(const PolicyDomainCaps *caps, const PolicyDomainSample *sample,
                              BackendDomainMemo *memo, bool *ret_reuse)
{
    uint64_t vmem = vmem_plugged_kib(caps);

    *ret_reuse = false;
    if (!memo->bulk_known || sample->assigned_kib != memo->bulk_kib) {
        /* the figure moved (a balloon event): libvirt counted the virtio-mem
         * plugged now, unless a plug came about the same time (libvirt may
         * have taken the event before or after it) or this is the first
         * sight (what it counted is not known): then QEMU is asked once */
        bool sure = memo->bulk_known ? vmem == memo->seen_vmem_kib : vmem == 0;
        memo->bulk_vmem_kib = sure ? vmem : UINT64_MAX;
        memo->bulk_known = true;
        memo->bulk_kib = sample->assigned_kib;
        memo->live_since_bulk = false;
    }
    memo->seen_vmem_kib = vmem;
    if (vmem == memo->bulk_vmem_kib)
        return false;
    if (memo->live_since_bulk && memo->has_live_balloon) {
        *ret_reuse = true;
        return false;
    }
    return true;
}

/* QEMU's answer for a virtio-mem guest against libvirt's figure bulk
 * (collected: its balloon part): the same, and libvirt's counts what is
 * plugged now; else the answer serves until libvirt's figure changes. */
static void note_vmem_answer(const PolicyDomainCaps *caps, uint64_t bulk, uint64_t collected,
                             uint64_t live, BackendDomainMemo *memo)
{
    if (!memo->bulk_known || memo->bulk_kib != bulk) {
        memo->bulk_known = true;
        memo->bulk_kib = bulk;
        memo->bulk_vmem_kib = UINT64_MAX;
    }
    if (live == collected) {
        memo->bulk_vmem_kib = vmem_plugged_kib(caps);
        memo->live_since_bulk = false;
        return;
    }
    memo->live_since_bulk = true;
    memo->has_live_balloon = true;
    memo->live_balloon_kib = live;
}

int qemu_sample_complete(const char *uuid, const PolicyDomainCaps *caps, uint64_t now_us,
                         bool balloon_only, BackendDomainMemo *memo, PolicyDomainSample *sample,
                         QemuSampleReadFunc read, void *userdata, char **ret_error)
{
    int r = BACKEND_SAMPLE_COLLECTED;

    watch_dimms(caps, now_us, memo);
    /* a sample that has the balloon figure alone was read live already */
    uint64_t bulk = sample->assigned_kib, collected = collected_balloon_kib(caps, sample);
    bool asked = false, reuse = false;

    if (!balloon_only && caps->n_dimms > 0 && memo->live_window && !memo->live_unsupported &&
        read) {
        r = replace_dimm_figures(uuid, caps, now_us, memo, sample, &balloon_only, read, userdata,
                                 ret_error);
        asked = true;
    } else if (!balloon_only && caps->n_virtio_mem > 0 && sample->has_balloon_stats &&
               !memo->live_unsupported && read) {
        if (vmem_figure_stale(caps, sample, memo, &reuse)) {
            r = replace_dimm_figures(uuid, caps, now_us, memo, sample, &balloon_only, read,
                                     userdata, ret_error);
            asked = true;
        } else if (reuse) {
            sample->balloon_kib = memo->live_balloon_kib;
            balloon_only = true;
        }
    }
    if (asked && r == BACKEND_SAMPLE_LIVE && caps->n_virtio_mem > 0)
        note_vmem_answer(caps, bulk, collected, sample->balloon_kib, memo);
    backend_sample_complete(caps, balloon_only, sample);
    return r;
}
