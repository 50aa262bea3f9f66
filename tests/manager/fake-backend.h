/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fake hypervisor behind the backend interface, for the manager's tests:
 * guests with a demand, a balloon that follows (or ignores) requests,
 * virtio-mem devices and DIMM slots, injectable errors and disconnects.
 */
#pragma once

#include "backend.h"

typedef struct FakeBackend FakeBackend;

typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN];
    char name[64];
    bool running;
    PolicyDomainCaps caps;
    uint64_t balloon_kib; /* boot + DIMMs - ballooned */
    uint64_t used_kib;    /* what the guest's workload holds (its demand) */
    bool stats;           /* the guest's balloon driver reports */
    bool cooperative;     /* the balloon follows requests */
    int64_t last_update_s;
    bool frozen_stats; /* last_update stops moving: stale */
    uint64_t swap_in_kib;
    int fail_next_apply;    /* negative errno for the next apply, 0: none */
    int fail_dimm_apply;    /* negative errno every DIMM attach returns, 0: none */
    unsigned dimm_attempts; /* DIMM attaches asked, failed ones included */
    bool vanish_on_apply;   /* destroyed between stats and action */
    unsigned vmem_ignore;   /* virtio-mem requests the guest does not act on */
    unsigned vmem_requests; /* virtio-mem requests received */
    unsigned applies;       /* successful actions */
    unsigned set_period_calls;
    /* non-zero: the bulk collection reports this balloon figure instead of
     * the true one (libvirt's stale balloon.current after a DIMM hot-add);
     * a live read (completing the sample) always tells the truth */
    uint64_t stale_bulk_kib;
    unsigned live_reads;               /* live reads of its figures */
    int fail_read_caps;                /* negative errno reading its definition, 0: none */
    int fail_live_reads;               /* negative errno a live read returns, 0: none */
    uint64_t largest_balloon_drop_kib; /* the largest single balloon shrink asked */
    /* non-zero: the balloon moves toward what was asked by at most this
     * much a collection (a guest inflating slowly), not at once */
    uint64_t balloon_rate_kib;
    uint64_t balloon_goal_kib;
    unsigned balloon_resends;  /* balloon requests for the figure it has now */
    unsigned self_deflations;  /* caps.balloon_autodeflate: pages taken back on OOM */
    bool held;                 /* starting (backend hold()): libvirt holds it */
    unsigned asked_while_held; /* questions about it meanwhile: each one a stall */
} FakeDomain;

FakeBackend *fake_backend_new(void);
Backend *fake_backend_base(FakeBackend *fb);

/* A running domain with boot_kib of memory (the balloon ceiling), all of it
 * assigned, used_kib in use by the guest. */
FakeDomain *fake_backend_add(FakeBackend *fb, const char *name, uint64_t boot_kib,
                             uint64_t used_kib);
/* Start it and send the "started" event. */
void fake_backend_boot(FakeBackend *fb, FakeDomain *d);
/* Destroy it and send the "stopped" event. */
void fake_backend_destroy(FakeBackend *fb, FakeDomain *d);
void fake_backend_add_virtio_mem(FakeDomain *d, const char *alias, uint64_t size_kib,
                                 uint64_t block_kib);
void fake_backend_add_dimm_slots(FakeDomain *d, unsigned slots, uint64_t max_memory_kib);
/* Someone else attaches a DIMM of size_kib (a free slot is needed) and
 * libvirt sends its device event. */
void fake_backend_attach_dimm(FakeBackend *fb, FakeDomain *d, uint64_t size_kib);
/* The connection drops (an event) and stays down until fake_backend_up(). */
void fake_backend_down(FakeBackend *fb);
void fake_backend_up(FakeBackend *fb);
uint64_t fake_domain_assigned_kib(const FakeDomain *d);
/* The definition the domain starts with, as libvirt hands it to a hook,
 * booting with current_kib. Newly allocated. */
char *fake_domain_definition(const FakeDomain *d, uint64_t current_kib);
unsigned fake_backend_total_applies(FakeBackend *fb);
