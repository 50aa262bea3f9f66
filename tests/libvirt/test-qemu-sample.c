/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Completing a QEMU guest's sample (qemu-sample.c) with a scripted live
 * reader: when the hypervisor is asked, what is held, what is counted.
 * No libvirt: the reading is the reader's.
 */
#include "qemu-sample.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#define M UINT64_C(1024)
#define G (UINT64_C(1024) * 1024)

typedef struct {
    int result;       /* what the next read returns */
    uint64_t balloon; /* the balloon figure it gives */
    unsigned reads;
} Reader;

static int scripted_read(void *userdata, const char *uuid, uint64_t now_us, PolicyDomainSample *ret,
                         char **ret_error)
{
    Reader *r = userdata;
    r->reads++;
    if (r->result < 0) {
        *ret_error = g_strdup("scripted failure");
        return r->result;
    }
    *ret = (PolicyDomainSample){.timestamp_us = now_us,
                                .has_balloon_stats = true,
                                .balloon_kib = r->balloon,
                                .has_usable = true,
                                .usable_kib = 300 * M};
    return 0;
}

/* A guest of 1 GiB boot memory, a 512 MiB DIMM and 256 MiB of virtio-mem
 * plugged; what libvirt's bulk stats say of it (assigned includes the
 * virtio-mem). */
static void guest(PolicyDomainCaps *caps, PolicyDomainSample *s, uint32_t n_dimms,
                  uint64_t bulk_assigned)
{
    memset(caps, 0, sizeof(*caps));
    caps->has_balloon = true;
    caps->balloon_max_kib = 1536 * M;
    caps->n_dimms = n_dimms;
    caps->n_virtio_mem = 1;
    caps->virtio_mem[0].current_kib = 256 * M;
    *s = (PolicyDomainSample){.has_balloon_stats = true,
                              .assigned_kib = bulk_assigned,
                              .has_usable = true,
                              .usable_kib = 100 * M,
                              .has_available = true,
                              .available_kib = 1 * G};
}

static int complete(const PolicyDomainCaps *caps, bool balloon_only, BackendDomainMemo *memo,
                    PolicyDomainSample *s, Reader *r)
{
    g_autofree char *err = NULL;
    int ret = qemu_sample_complete("u", caps, 7, balloon_only, memo, s, scripted_read, r, &err);
    assert_true((ret < 0) == (err != NULL));
    return ret;
}

/* No DIMM and no virtio-mem plugged, or a figure read per domain
 * already: nothing is asked; the sample is completed either way round. */
static void test_no_dimm_not_asked(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.balloon = 2 * G};

    guest(&caps, &s, 0, 1 * G);
    caps.virtio_mem[0].current_kib = 0;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.assigned_kib, 1 * G);
    assert_int_equal(s.balloon_kib, 1 * G);

    guest(&caps, &s, 1, 0);
    s.balloon_kib = 1 * G;
    assert_int_equal(complete(&caps, true, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.assigned_kib, 1280 * M);
    assert_int_equal(r.reads, 0);
}

/* A DIMM guest whose libvirt figure is short: QEMU's figures, asked now,
 * every cycle while the two disagree. */
static void test_dimm_read_live(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.balloon = 1536 * M};

    for (int i = 0; i < 3; i++) {
        guest(&caps, &s, 1, 1280 * M); /* libvirt's stale figure */
        assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_LIVE);
        assert_int_equal(s.balloon_kib, 1536 * M);
        assert_int_equal(s.assigned_kib, 1536 * M + 256 * M);
        assert_int_equal(s.usable_kib, 300 * M);
        assert_int_equal(s.timestamp_us, 7);
    }
    assert_int_equal(r.reads, 3);
    assert_true(memo.has_live_balloon);
    assert_int_equal(memo.live_balloon_kib, 1536 * M);
}

/* The window of live reads: open at the first sample and after every
 * change of the DIMMs (count or balloon ceiling), for
 * QEMU_SAMPLE_WINDOW_US at least, then until QEMU's figure and libvirt's
 * agree; outside it a DIMM guest is asked nothing. */
static void test_dimm_window(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.balloon = 1 * G};
    uint64_t now = 1000 * G_USEC_PER_SEC;
    g_autofree char *err = NULL;

    /* agreeing figures (1 GiB balloon + 256 MiB virtio-mem): read for the
     * window's length, one cycle a second, then never */
    unsigned cycles = 0;
    for (uint64_t t = now; t < now + 60 * G_USEC_PER_SEC; t += G_USEC_PER_SEC, cycles++) {
        guest(&caps, &s, 1, 1280 * M);
        int ret = qemu_sample_complete("u", &caps, t, false, &memo, &s, scripted_read, &r, &err);
        assert_int_equal(ret, t <= now + QEMU_SAMPLE_WINDOW_US ? BACKEND_SAMPLE_LIVE
                                                               : BACKEND_SAMPLE_COLLECTED);
        assert_int_equal(s.assigned_kib, 1280 * M);
    }
    assert_int_equal(cycles, 60);
    assert_int_equal(r.reads, QEMU_SAMPLE_WINDOW_US / G_USEC_PER_SEC + 1);
    assert_false(memo.live_window);
    assert_false(memo.has_live_balloon);

    /* outside the window, busy in a job: the collected figure, not held */
    guest(&caps, &s, 1, 1280 * M);
    s.has_balloon_stats = false;
    now += 60 * G_USEC_PER_SEC;
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.assigned_kib, 1280 * M);

    /* a DIMM of 512 MiB plugged (ours or anyone's): the ceiling and the
     * count rise, QEMU says 1.5 GiB, libvirt's late event 1 GiB. Read
     * every cycle while they disagree, however long */
    unsigned reads = r.reads;
    r.balloon = 1536 * M;
    for (int i = 0; i < 30; i++) {
        now += G_USEC_PER_SEC;
        guest(&caps, &s, 2, 1280 * M);
        caps.balloon_max_kib = 2 * G;
        assert_int_equal(
            qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
            BACKEND_SAMPLE_LIVE);
        assert_int_equal(s.assigned_kib, 1536 * M + 256 * M);
    }
    assert_int_equal(r.reads, reads + 30);
    assert_true(memo.live_window);

    /* the balloon moved: libvirt agrees, and the window closes */
    reads = r.reads;
    guest(&caps, &s, 2, 1536 * M + 256 * M);
    caps.balloon_max_kib = 2 * G;
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_LIVE);
    for (int i = 0; i < 10; i++) {
        guest(&caps, &s, 2, 1536 * M + 256 * M);
        caps.balloon_max_kib = 2 * G;
        assert_int_equal(
            qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
            BACKEND_SAMPLE_COLLECTED);
    }
    assert_int_equal(r.reads, reads + 1);
}

/* The late event: the figures agree at first after a plug (libvirt adds
 * the DIMM itself), and QEMU's event computed before the plug arrives a
 * second later. The window is still open then, and stays open. */
static void test_dimm_window_late_event(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.balloon = 1536 * M};
    uint64_t now = 1000 * G_USEC_PER_SEC;
    g_autofree char *err = NULL;

    guest(&caps, &s, 1, 1536 * M + 256 * M);
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_LIVE);
    now += G_USEC_PER_SEC;
    guest(&caps, &s, 1, 1280 * M); /* the late event: short by 512 MiB */
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_LIVE);
    assert_int_equal(s.assigned_kib, 1536 * M + 256 * M);
    now += 100 * G_USEC_PER_SEC;
    guest(&caps, &s, 1, 1280 * M);
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_LIVE);
    assert_int_equal(s.assigned_kib, 1536 * M + 256 * M);
    assert_int_equal(r.reads, 3);

    /* busy meanwhile: held at QEMU's figure, as before */
    guest(&caps, &s, 1, 1280 * M);
    s.has_balloon_stats = false;
    assert_int_equal(
        qemu_sample_complete("u", &caps, now, false, &memo, &s, scripted_read, &r, &err),
        BACKEND_SAMPLE_HELD);
    assert_int_equal(s.assigned_kib, 1536 * M + 256 * M);
    assert_int_equal(r.reads, 3);
}

/* Busy in a job (no guest figures collected): not asked, held at the
 * figure QEMU gave last; a failing read holds it the same way. */
static void test_dimm_held(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {.has_live_balloon = true, .live_balloon_kib = 1400 * M};
    Reader r = {.balloon = 1536 * M};

    guest(&caps, &s, 1, 1280 * M);
    s.has_balloon_stats = false;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_HELD);
    assert_int_equal(r.reads, 0);
    assert_false(s.has_usable || s.has_available || s.has_unused);
    assert_int_equal(s.assigned_kib, 1400 * M + 256 * M);

    r.result = -EIO;
    guest(&caps, &s, 1, 1280 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), -EIO);
    assert_int_equal(r.reads, 1);
    assert_false(s.has_balloon_stats || s.has_usable || s.has_available || s.has_unused);
    assert_int_equal(s.assigned_kib, 1400 * M + 256 * M);

    /* never read yet: held at libvirt's figure, the only one there is */
    BackendDomainMemo fresh = {0};
    guest(&caps, &s, 1, 1280 * M);
    assert_int_equal(complete(&caps, false, &fresh, &s, &r), -EIO);
    assert_false(s.has_usable);
    assert_int_equal(s.assigned_kib, 1280 * M);
    assert_int_equal(s.balloon_kib, 1 * G);
}

/* A hypervisor that cannot be asked: its collected figures from then on,
 * and it is not asked again. */
static void test_dimm_unsupported(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.result = -EOPNOTSUPP};

    guest(&caps, &s, 1, 1280 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), -EOPNOTSUPP);
    assert_true(memo.live_unsupported);
    assert_true(s.has_usable);
    assert_int_equal(s.assigned_kib, 1280 * M);
    assert_int_equal(s.balloon_kib, 1 * G);
    guest(&caps, &s, 1, 1280 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(r.reads, 1);
}

/* A virtio-mem guest: libvirt's figure counts the virtio-mem plugged when
 * the balloon last moved. Asked once at first sight (what it counted is not
 * known), once after a plug or unplug (the figure is off by it), and that
 * answer serves until the figure moves again, when it is trusted. */
static void test_virtio_mem_figure(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {.balloon = 1 * G};

    /* first sight, 256 MiB plugged: asked */
    guest(&caps, &s, 0, 1280 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_LIVE);
    assert_int_equal(s.assigned_kib, 1280 * M);
    assert_int_equal(r.reads, 1);
    /* nothing moved: the answer serves, not asked again */
    guest(&caps, &s, 0, 1280 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.balloon_kib, 1 * G);
    assert_int_equal(r.reads, 1);

    /* the balloon moved (libvirt's figure changed, counting 256 MiB):
     * trusted, not asked */
    guest(&caps, &s, 0, 1200 * M);
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.balloon_kib, 944 * M);
    assert_int_equal(r.reads, 1);

    /* 128 MiB more plugged, libvirt's figure unchanged (no balloon event):
     * it would read the balloon 128 MiB short; asked instead */
    r.balloon = 944 * M;
    guest(&caps, &s, 0, 1200 * M);
    caps.virtio_mem[0].current_kib = 384 * M;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_LIVE);
    assert_int_equal(s.balloon_kib, 944 * M);
    assert_int_equal(s.assigned_kib, 944 * M + 384 * M);
    assert_int_equal(r.reads, 2);
    /* ... and the answer serves while the figure stands, plugs included */
    guest(&caps, &s, 0, 1200 * M);
    caps.virtio_mem[0].current_kib = 512 * M;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_int_equal(s.assigned_kib, 944 * M + 512 * M);
    assert_int_equal(r.reads, 2);

    /* the balloon moved and 64 MiB more were plugged in the same cycle:
     * libvirt may have counted either, so asked once more */
    r.balloon = 900 * M;
    guest(&caps, &s, 0, 1300 * M);
    caps.virtio_mem[0].current_kib = 576 * M;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_LIVE);
    assert_int_equal(s.assigned_kib, 900 * M + 576 * M);
    assert_int_equal(r.reads, 3);

    /* a failed read holds it, as a DIMM guest's */
    BackendDomainMemo fresh = {0};
    r.result = -EIO;
    guest(&caps, &s, 0, 1280 * M);
    assert_int_equal(complete(&caps, false, &fresh, &s, &r), -EIO);
    assert_false(s.has_usable);
}

/* An autodeflate guest's MemTotal counts its ballooned pages: dropped. */
static void test_autodeflate_drops_memtotal(void **state)
{
    PolicyDomainCaps caps;
    PolicyDomainSample s;
    BackendDomainMemo memo = {0};
    Reader r = {0};

    guest(&caps, &s, 0, 1280 * M);
    caps.virtio_mem[0].current_kib = 0; /* nothing to ask about */
    caps.balloon_autodeflate = true;
    assert_int_equal(complete(&caps, false, &memo, &s, &r), BACKEND_SAMPLE_COLLECTED);
    assert_false(s.has_available);
    assert_true(s.has_usable);

    /* figures QEMU's balloon-only reading and the bulk one share */
    caps.virtio_mem[0].current_kib = 256 * M;
    PolicyDomainSample b = {.assigned_kib = 100 * M};
    backend_sample_complete(&caps, false, &b);
    assert_int_equal(b.balloon_kib, 0); /* never below 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_dimm_not_asked), cmocka_unit_test(test_dimm_read_live),
        cmocka_unit_test(test_dimm_window),       cmocka_unit_test(test_dimm_window_late_event),
        cmocka_unit_test(test_dimm_held),         cmocka_unit_test(test_dimm_unsupported),
        cmocka_unit_test(test_virtio_mem_figure), cmocka_unit_test(test_autodeflate_drops_memtotal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
