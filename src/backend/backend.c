/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The backend interface's helpers every backend and the manager share. */
#include "backend.h"

const char *backend_event_kind_to_string(BackendEventKind kind)
{
    static const char *const names[BACKEND_EVENT_LAST] = {
        [BACKEND_EVENT_DOMAIN_STARTED] = "started",    [BACKEND_EVENT_DOMAIN_STOPPED] = "stopped",
        [BACKEND_EVENT_DOMAIN_CHANGED] = "changed",    [BACKEND_EVENT_DOMAIN_DEFINED] = "defined",
        [BACKEND_EVENT_DISCONNECTED] = "disconnected",
    };
    return (unsigned)kind < BACKEND_EVENT_LAST ? names[kind] : "unknown";
}

static void stats_clear(void *p)
{
    BackendDomainStats *s = p;
    g_free(s->name);
}

GArray *backend_stats_array_new(void)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(BackendDomainStats));
    g_array_set_clear_func(a, stats_clear);
    return a;
}
