/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "qemu-sample.h"

#include <errno.h>

/* QEMU computes a balloon event's figure when the guest moves its balloon,
 * counting the DIMMs plugged at that moment, and may send it up to a
 * second later (it throttles the event). A DIMM plugged in between leaves
 * libvirt's balloon.current short by the DIMM's size until the balloon
 * moves again (seen in CI: the daemon read 640 MiB for a guest it had just
 * grown to 1152 and set it to 512). So a domain with DIMMs has its
 * balloon figure asked of QEMU itself each cycle. When that cannot be
 * done, the domain is held: its guest figures are dropped, so the engine
 * neither shrinks nor grows it (stale), and it is counted at the figure
 * QEMU last gave. */
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

/* Returns a BackendSampleSource or the read's negative errno. */
static int replace_dimm_figures(const char *uuid, uint64_t now_us, BackendDomainMemo *memo,
                                PolicyDomainSample *sample, bool *balloon_only,
                                QemuSampleReadFunc read, void *userdata, char **ret_error)
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
        return r;
    }
    if (r < 0) {
        hold(memo, sample, balloon_only);
        return r;
    }
    memo->has_live_balloon = true;
    memo->live_balloon_kib = live.balloon_kib;
    *sample = live;
    *balloon_only = true;
    return BACKEND_SAMPLE_LIVE;
}

/* libvirt's collected figure for a virtio-mem guest is QEMU's balloon
 * figure plus the virtio-mem plugged *when the balloon last moved*: a plug
 * or unplug since leaves it off by that much until the balloon moves again
 * (measured on a ramping guest: the balloon read 206 MiB where it was 256,
 * and the daemon "grew" it to 238, inflating it by 18 MiB). Whether the
 * collected figure can be trusted: yes while the plugged memory is what it
 * was when the figure changed last; else the balloon figure asked once
 * since serves until the collected one changes again. Returns whether to
 * ask now; *ret_reuse: use memo->live_balloon_kib instead. */
static bool vmem_figure_stale(const PolicyDomainCaps *caps, const PolicyDomainSample *sample,
                              BackendDomainMemo *memo, bool *ret_reuse)
{
    uint64_t vmem = 0;

    *ret_reuse = false;
    for (size_t i = 0; i < caps->n_virtio_mem; i++)
        vmem += caps->virtio_mem[i].current_kib;
    if (!memo->bulk_known || sample->assigned_kib != memo->bulk_kib) {
        /* the figure moved (a balloon event): libvirt counted the virtio-mem
         * plugged now; at first sight it is not known what it counted */
        memo->bulk_vmem_kib = memo->bulk_known || vmem == 0 ? vmem : UINT64_MAX;
        memo->bulk_known = true;
        memo->bulk_kib = sample->assigned_kib;
        memo->live_since_bulk = false;
    }
    if (vmem == memo->bulk_vmem_kib)
        return false;
    if (memo->live_since_bulk && memo->has_live_balloon) {
        *ret_reuse = true;
        return false;
    }
    return true;
}

int qemu_sample_complete(const char *uuid, const PolicyDomainCaps *caps, uint64_t now_us,
                         bool balloon_only, BackendDomainMemo *memo, PolicyDomainSample *sample,
                         QemuSampleReadFunc read, void *userdata, char **ret_error)
{
    int r = BACKEND_SAMPLE_COLLECTED;

    /* a sample that has the balloon figure alone was read live already */
    if (!balloon_only && caps->n_dimms > 0 && !memo->live_unsupported && read) {
        r = replace_dimm_figures(uuid, now_us, memo, sample, &balloon_only, read, userdata,
                                 ret_error);
    } else if (!balloon_only && caps->n_virtio_mem > 0 && sample->has_balloon_stats &&
               !memo->live_unsupported && read) {
        bool reuse;

        if (vmem_figure_stale(caps, sample, memo, &reuse)) {
            r = replace_dimm_figures(uuid, now_us, memo, sample, &balloon_only, read, userdata,
                                     ret_error);
            memo->live_since_bulk = r == BACKEND_SAMPLE_LIVE;
        } else if (reuse) {
            sample->balloon_kib = memo->live_balloon_kib;
            balloon_only = true;
        }
    }
    backend_sample_complete(caps, balloon_only, sample);
    return r;
}
