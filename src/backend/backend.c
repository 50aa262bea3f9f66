/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The backend interface's helpers every backend and the manager share. */
#include "backend.h"

const char *backend_event_kind_to_string(BackendEventKind kind)
{
    static const char *const names[BACKEND_EVENT_LAST] = {
        [BACKEND_EVENT_DOMAIN_STARTED] = "started",    [BACKEND_EVENT_DOMAIN_STOPPED] = "stopped",
        [BACKEND_EVENT_DOMAIN_CHANGED] = "changed",    [BACKEND_EVENT_DOMAIN_DEFINED] = "defined",
        [BACKEND_EVENT_DISCONNECTED] = "disconnected", [BACKEND_EVENT_POLICY_CHANGED] = "policy",
        [BACKEND_EVENT_DOMAIN_ARRIVED] = "arrived",
    };
    return (unsigned)kind < BACKEND_EVENT_LAST ? names[kind] : "unknown";
}

GArray *backend_stats_array_new(void)
{
    return backend_stats_array_sized_new(0);
}

GArray *backend_stats_array_sized_new(guint reserved)
{
    return g_array_sized_new(FALSE, TRUE, sizeof(BackendDomainStats), reserved);
}

void backend_sample_complete(const PolicyDomainCaps *caps, bool balloon_only,
                             PolicyDomainSample *sample)
{
    uint64_t vmem = 0;
    for (size_t i = 0; i < caps->n_virtio_mem; i++)
        vmem += caps->virtio_mem[i].current_kib;
    if (caps->balloon_autodeflate)
        sample->has_available = false;
    if (balloon_only)
        sample->assigned_kib = sample->balloon_kib + vmem;
    else
        sample->balloon_kib = sample->assigned_kib > vmem ? sample->assigned_kib - vmem : 0;
}

void backend_start_clear(BackendStart *s)
{
    g_clear_pointer(&s->name, g_free);
    g_clear_pointer(&s->policy_pairs, g_ptr_array_unref);
    g_clear_pointer(&s->policy_problem, g_free);
}
