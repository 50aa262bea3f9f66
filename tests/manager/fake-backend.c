/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fake-backend.h"
#include "domain-xml.h"
#include "qemu-sample.h"

#include "guest-sim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define FAKE_MAX_DOMAINS 64

struct FakeBackend {
    Backend base;
    bool open;
    bool down;
    FakeDomain domains[FAKE_MAX_DOMAINS];
    size_t n;
    unsigned total_applies;
};

static FakeBackend *fake(Backend *b)
{
    return (FakeBackend *)b;
}

/* A running domain by UUID. One held (starting) counts the question:
 * libvirt would keep the asker waiting. */
static FakeDomain *find(FakeBackend *fb, const char *uuid)
{
    for (size_t i = 0; i < fb->n; i++)
        if (fb->domains[i].running && strcmp(fb->domains[i].uuid, uuid) == 0) {
            if (fb->domains[i].held)
                fb->domains[i].asked_while_held++;
            return &fb->domains[i];
        }
    return NULL;
}

uint64_t fake_domain_assigned_kib(const FakeDomain *d)
{
    uint64_t a = d->balloon_kib;
    for (size_t i = 0; i < d->caps.n_virtio_mem; i++)
        a += d->caps.virtio_mem[i].current_kib;
    return a;
}

static int fake_open(Backend *b, const char *uri, char **ret_error)
{
    FakeBackend *fb = fake(b);
    if (fb->down) {
        *ret_error = g_strdup("fake: hypervisor is down");
        return -ENOTCONN;
    }
    fb->open = true;
    return 0;
}

static void fake_close(Backend *b)
{
    fake(b)->open = false;
}

static bool fake_is_open(Backend *b)
{
    return fake(b)->open && !fake(b)->down;
}

/* What the guest reports: assigned_kib is the true figure (balloon and
 * virtio-mem), usable what the workload leaves. */
static void fill_sample(const FakeDomain *d, PolicyDomainSample *p)
{
    p->assigned_kib = fake_domain_assigned_kib(d);
    p->has_balloon_stats = d->stats;
    if (d->stats) {
        p->has_usable = true;
        p->usable_kib = p->assigned_kib > d->used_kib ? p->assigned_kib - d->used_kib : 0;
        p->has_unused = true;
        p->unused_kib = p->usable_kib;
        p->has_swap_in = true;
        p->swap_in_kib = d->swap_in_kib;
        p->last_update_s = d->last_update_s;
    }
}

static int fake_collect(Backend *b, uint64_t now_us, GArray **ret_stats, char **ret_error)
{
    FakeBackend *fb = fake(b);
    if (!fb->open || fb->down) {
        *ret_error = g_strdup("fake: not connected");
        return -ENOTCONN;
    }
    GArray *out = backend_stats_array_new();
    for (size_t i = 0; i < fb->n; i++) {
        FakeDomain *d = &fb->domains[i];
        if (!d->running || d->held)
            continue;
        BackendDomainStats s = {0};
        g_strlcpy(s.uuid, d->uuid, sizeof(s.uuid));
        s.name = d->name;
        s.has_sample = true;
        PolicyDomainSample *p = &s.sample;
        p->timestamp_us = now_us;
        /* the guest reports once per second of (fake) time unless frozen */
        p->wallclock_s = 1000 + (int64_t)(now_us / 1000000);
        if (!d->frozen_stats)
            d->last_update_s = p->wallclock_s;
        if (d->balloon_rate_kib && d->balloon_goal_kib && d->cooperative) {
            uint64_t r = d->balloon_rate_kib, have = d->balloon_kib, goal = d->balloon_goal_kib;
            d->balloon_kib = goal < have ? (have - goal > r ? have - r : goal)
                                         : (goal - have > r ? have + r : goal);
        }
        /* deflate-on-oom: a guest short of memory takes balloon pages
         * back (what it lacks, and a little), up to its boot size */
        if (d->stats && sim_oom_deflate(&d->caps, &d->balloon_kib, d->used_kib) > 0) {
            d->balloon_goal_kib = d->balloon_kib;
            d->self_deflations++;
        }
        /* a guest asked to hold more than it has swaps */
        uint64_t assigned = fake_domain_assigned_kib(d);
        if (d->used_kib > assigned)
            d->swap_in_kib += d->used_kib - assigned;
        fill_sample(d, p);
        if (d->stale_bulk_kib)
            p->assigned_kib = d->stale_bulk_kib;
        p->balloon_kib = p->assigned_kib;
        g_array_append_val(out, s);
    }
    *ret_stats = out;
    return 0;
}

static int fake_read_caps(Backend *b, const char *uuid, PolicyDomainCaps *ret, char **ret_error)
{
    FakeDomain *d = find(fake(b), uuid);
    if (!d) {
        *ret_error = g_strdup("fake: no such domain");
        return -ENOENT;
    }
    if (d->fail_read_caps) {
        *ret_error = g_strdup("fake: cannot read the definition");
        return d->fail_read_caps;
    }
    *ret = d->caps;
    return 0;
}

/* The live figures (QEMU's own, not libvirt's stale bulk one). */
static int fake_read_sample(void *userdata, const char *uuid, uint64_t now_us,
                            PolicyDomainSample *ret, char **ret_error)
{
    FakeBackend *fb = userdata;
    FakeDomain *d = find(fb, uuid);
    if (!fb->open || fb->down) {
        *ret_error = g_strdup("fake: not connected");
        return -ENOTCONN;
    }
    if (!d || !d->running) {
        *ret_error = g_strdup("fake: no such domain");
        return -ENOENT;
    }
    d->live_reads++;
    if (d->fail_live_reads) {
        *ret_error = g_strdup("fake: injected failure reading the memory stats");
        return d->fail_live_reads;
    }
    PolicyDomainSample s = {.timestamp_us = now_us,
                            .wallclock_s = 1000 + (int64_t)(now_us / 1000000)};
    fill_sample(d, &s);
    s.balloon_kib = d->balloon_kib; /* the balloon figure alone */
    s.assigned_kib = 0;
    *ret = s;
    return 0;
}

/* The fake plays libvirt's stale bulk figure of a DIMM guest
 * (stale_bulk_kib), so it completes samples as the libvirt backend does. */
static int fake_complete_sample(Backend *b, const char *uuid, const PolicyDomainCaps *caps,
                                uint64_t now_us, bool balloon_only, BackendDomainMemo *memo,
                                PolicyDomainSample *sample, char **ret_error)
{
    return qemu_sample_complete(uuid, caps, now_us, balloon_only, memo, sample, fake_read_sample,
                                fake(b), ret_error);
}

static int fake_set_stats_period(Backend *b, const char *uuid, unsigned period_s, char **ret_error)
{
    FakeDomain *d = find(fake(b), uuid);
    if (!d) {
        *ret_error = g_strdup("fake: no such domain");
        return -ENOENT;
    }
    d->set_period_calls++;
    d->caps.stats_period_s = period_s;
    return 0;
}

static int fake_apply(Backend *b, const char *uuid, const PolicyAction *a, char **ret_error)
{
    FakeBackend *fb = fake(b);
    if (!fb->open || fb->down) {
        *ret_error = g_strdup("fake: not connected");
        return -ENOTCONN;
    }
    FakeDomain *d = find(fb, uuid);
    if (!d) {
        *ret_error = g_strdup("fake: no such domain");
        return -ENOENT;
    }
    if (d->vanish_on_apply) {
        d->running = false;
        *ret_error = g_strdup("fake: domain is not running");
        return -ENOENT;
    }
    if (d->fail_next_apply) {
        int r = d->fail_next_apply;
        d->fail_next_apply = 0;
        *ret_error = g_strdup("fake: internal error: injected failure");
        return r;
    }
    switch (a->kind) {
    case POLICY_ACTION_BALLOON:
        if (a->to_kib > d->caps.balloon_max_kib) {
            *ret_error = g_strdup("fake: cannot set memory higher than max memory");
            return -EIO;
        }
        if (a->to_kib < d->balloon_kib)
            d->largest_balloon_drop_kib =
                MAX(d->largest_balloon_drop_kib, d->balloon_kib - a->to_kib);
        if (a->to_kib == d->balloon_kib)
            d->balloon_resends++;
        d->balloon_goal_kib = a->to_kib;
        if (d->cooperative && !d->balloon_rate_kib)
            d->balloon_kib = a->to_kib;
        break;
    case POLICY_ACTION_VIRTIO_MEM: {
        PolicyVirtioMem *vm = NULL;
        for (size_t i = 0; i < d->caps.n_virtio_mem; i++)
            if (strcmp(d->caps.virtio_mem[i].alias, a->alias) == 0)
                vm = &d->caps.virtio_mem[i];
        if (!vm || a->to_kib > vm->size_kib || a->to_kib % vm->block_kib != 0) {
            *ret_error = g_strdup("fake: bad virtio-mem request");
            return -EIO;
        }
        vm->requested_kib = a->to_kib;
        d->vmem_requests++;
        if (d->vmem_ignore > 0)
            d->vmem_ignore--; /* blocks in use: the guest does not unplug yet */
        else if (d->cooperative)
            vm->current_kib = a->to_kib;
        break;
    }
    case POLICY_ACTION_DIMM:
        d->dimm_attempts++;
        if (d->fail_dimm_apply) {
            *ret_error = g_strdup("fake: internal error: unable to execute QEMU command "
                                  "'device_add': injected failure");
            return d->fail_dimm_apply;
        }
        if (d->caps.free_dimm_slots == 0 || d->caps.dimm_node < 0 ||
            d->caps.total_memory_kib + a->to_kib > d->caps.max_memory_kib ||
            a->to_kib % d->caps.dimm_block_kib != 0) {
            *ret_error = g_strdup("fake: cannot attach this DIMM");
            return -EIO;
        }
        d->caps.free_dimm_slots--;
        d->caps.n_dimms++;
        d->caps.total_memory_kib += a->to_kib;
        d->caps.balloon_max_kib += a->to_kib;
        d->balloon_kib += a->to_kib; /* the balloon figure rises with it */
        break;
    default:
        return -EINVAL;
    }
    d->applies++;
    fb->total_applies++;
    return 0;
}

static void fake_free(Backend *b)
{
    g_free(b);
}

static void fake_hold(Backend *b, const char *uuid, bool held)
{
    FakeBackend *fb = fake(b);
    for (size_t i = 0; i < fb->n; i++)
        if (strcmp(fb->domains[i].uuid, uuid) == 0)
            fb->domains[i].held = held;
}

static int fake_describe_start(Backend *b, const char *definition, BackendStart *ret,
                               char **ret_error)
{
    return domain_xml_parse_start(definition, ret, ret_error);
}

char *fake_domain_definition(const FakeDomain *d, uint64_t current_kib)
{
    return g_strdup_printf("<domain type='kvm'><name>%s</name><uuid>%s</uuid>"
                           "<memory unit='KiB'>%" G_GUINT64_FORMAT "</memory>"
                           "<currentMemory unit='KiB'>%" G_GUINT64_FORMAT "</currentMemory>"
                           "<devices><memballoon model='virtio'><stats period='1'/></memballoon>"
                           "</devices></domain>",
                           d->name, d->uuid, d->caps.total_memory_kib, current_kib);
}

static const BackendOps fake_ops = {
    .name = "fake",
    .open = fake_open,
    .close = fake_close,
    .is_open = fake_is_open,
    .collect = fake_collect,
    .read_caps = fake_read_caps,
    .complete_sample = fake_complete_sample,
    .describe_start = fake_describe_start,
    .hold = fake_hold,
    .set_stats_period = fake_set_stats_period,
    .apply = fake_apply,
    .free = fake_free,
};

FakeBackend *fake_backend_new(void)
{
    FakeBackend *fb = g_new0(FakeBackend, 1);
    fb->base.ops = &fake_ops;
    return fb;
}

Backend *fake_backend_base(FakeBackend *fb)
{
    return &fb->base;
}

FakeDomain *fake_backend_add(FakeBackend *fb, const char *name, uint64_t boot_kib,
                             uint64_t used_kib)
{
    g_assert(fb->n < FAKE_MAX_DOMAINS);
    FakeDomain *d = &fb->domains[fb->n];
    memset(d, 0, sizeof(*d));
    snprintf(d->uuid, sizeof(d->uuid), "00000000-0000-4000-8000-%012zx", fb->n + 1);
    g_strlcpy(d->name, name, sizeof(d->name));
    d->running = true;
    d->caps.has_balloon = true;
    d->caps.stats_period_s = 1;
    d->caps.balloon_max_kib = boot_kib;
    d->caps.total_memory_kib = boot_kib;
    d->caps.dimm_node = -1;
    d->caps.dimm_block_kib = POLICY_DIMM_BLOCK_KIB_DEFAULT;
    d->balloon_kib = boot_kib;
    d->used_kib = used_kib;
    d->stats = true;
    d->cooperative = true;
    d->last_update_s = 1000;
    fb->n++;
    return d;
}

void fake_backend_boot(FakeBackend *fb, FakeDomain *d)
{
    d->running = true;
    if (fb->base.event_cb)
        fb->base.event_cb(BACKEND_EVENT_DOMAIN_STARTED, d->uuid, d->name, fb->base.event_userdata);
}

void fake_backend_destroy(FakeBackend *fb, FakeDomain *d)
{
    d->running = false;
    if (fb->base.event_cb)
        fb->base.event_cb(BACKEND_EVENT_DOMAIN_STOPPED, d->uuid, d->name, fb->base.event_userdata);
}

void fake_backend_add_virtio_mem(FakeDomain *d, const char *alias, uint64_t size_kib,
                                 uint64_t block_kib)
{
    g_assert(d->caps.n_virtio_mem < POLICY_MAX_VIRTIO_MEM);
    PolicyVirtioMem *vm = &d->caps.virtio_mem[d->caps.n_virtio_mem++];
    memset(vm, 0, sizeof(*vm));
    g_strlcpy(vm->alias, alias, sizeof(vm->alias));
    vm->size_kib = size_kib;
    vm->block_kib = block_kib;
    d->caps.total_memory_kib += size_kib;
}

void fake_backend_add_dimm_slots(FakeDomain *d, unsigned slots, uint64_t max_memory_kib)
{
    d->caps.free_dimm_slots = slots;
    d->caps.max_memory_kib = max_memory_kib;
    d->caps.dimm_node = 0;
}

void fake_backend_attach_dimm(FakeBackend *fb, FakeDomain *d, uint64_t size_kib)
{
    g_assert(d->caps.free_dimm_slots > 0);
    d->caps.free_dimm_slots--;
    d->caps.n_dimms++;
    d->caps.total_memory_kib += size_kib;
    d->caps.balloon_max_kib += size_kib;
    d->balloon_kib += size_kib;
    if (fb->base.event_cb)
        fb->base.event_cb(BACKEND_EVENT_DOMAIN_CHANGED, d->uuid, d->name, fb->base.event_userdata);
}

void fake_backend_down(FakeBackend *fb)
{
    fb->down = true;
    if (fb->base.event_cb)
        fb->base.event_cb(BACKEND_EVENT_DISCONNECTED, NULL, NULL, fb->base.event_userdata);
}

void fake_backend_up(FakeBackend *fb)
{
    fb->down = false;
}

unsigned fake_backend_total_applies(FakeBackend *fb)
{
    return fb->total_applies;
}
