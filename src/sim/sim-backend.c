/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-backend.h"

#include <errno.h>
#include <string.h>

typedef struct {
    Backend base;
    SimWorld *world;
    bool open;
} SimBackend;

static SimBackend *sb(Backend *b)
{
    return (SimBackend *)b;
}

static SimVm *find(Backend *b, const char *uuid, char **ret_error)
{
    SimVm *vm = g_hash_table_lookup(sb(b)->world->by_uuid, uuid);
    if (!vm || !vm->running) {
        *ret_error = g_strdup("sim: domain is not running");
        return NULL;
    }
    return vm;
}

static int sim_open(Backend *b, const char *uri, char **ret_error)
{
    sb(b)->open = true;
    return 0;
}

static void sim_close(Backend *b)
{
    sb(b)->open = false;
}

static bool sim_is_open(Backend *b)
{
    return sb(b)->open;
}

static int sim_collect(Backend *b, uint64_t now_us, GArray **ret_stats, char **ret_error)
{
    SimWorld *w = sb(b)->world;
    GArray *out = backend_stats_array_new();
    for (size_t i = 0; i < w->n; i++) {
        SimVm *vm = &w->vms[i];
        if (!vm->running)
            continue;
        BackendDomainStats s = {0};
        g_strlcpy(s.uuid, vm->uuid, sizeof(s.uuid));
        s.name = vm->name;
        s.has_sample = true;
        s.balloon_only = false; /* bulk balloon.current: balloon + virtio-mem */
        sim_vm_sample(vm, now_us, w->epoch_s, &s.sample);
        g_array_append_val(out, s);
    }
    *ret_stats = out;
    return 0;
}

static int sim_read_caps(Backend *b, const char *uuid, PolicyDomainCaps *ret, char **ret_error)
{
    SimVm *vm = find(b, uuid, ret_error);
    if (!vm)
        return -ENOENT;
    sim_vm_caps(vm, ret);
    return 0;
}

static int sim_set_stats_period(Backend *b, const char *uuid, unsigned period_s, char **ret_error)
{
    return find(b, uuid, ret_error) ? 0 : -ENOENT;
}

static int sim_apply(Backend *b, const char *uuid, const PolicyAction *a, char **ret_error)
{
    SimWorld *w = sb(b)->world;
    SimVm *vm = find(b, uuid, ret_error);
    int r;
    if (!vm)
        return -ENOENT;
    switch (a->kind) {
    case POLICY_ACTION_BALLOON:
        r = sim_vm_set_balloon(vm, a->to_kib);
        break;
    case POLICY_ACTION_VIRTIO_MEM:
        r = sim_vm_set_vmem(vm, a->to_kib);
        break;
    case POLICY_ACTION_DIMM:
        r = sim_vm_attach_dimm(w->model, vm, a->to_kib, w->now_us);
        break;
    default:
        r = -EINVAL;
    }
    if (r < 0) {
        *ret_error = g_strdup_printf("sim: refused %s to %" G_GUINT64_FORMAT " KiB",
                                     policy_action_kind_to_string(a->kind), a->to_kib);
        return -EIO;
    }
    return 0;
}

static void sim_free(Backend *b)
{
    g_free(b);
}

static const BackendOps sim_ops = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .is_open = sim_is_open,
    .collect = sim_collect,
    .read_caps = sim_read_caps,
    .set_stats_period = sim_set_stats_period,
    .apply = sim_apply,
    .free = sim_free,
};

Backend *sim_backend_new(SimWorld *world)
{
    SimBackend *b = g_new0(SimBackend, 1);
    b->base.ops = &sim_ops;
    b->world = world;
    return &b->base;
}

void sim_backend_event(Backend *b, BackendEventKind kind, const SimVm *vm)
{
    if (b->event_cb)
        b->event_cb(kind, vm ? vm->uuid : NULL, vm ? vm->name : NULL, b->event_userdata);
}
