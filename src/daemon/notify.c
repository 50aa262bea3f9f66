/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify.h"
#include "log.h"

#include <systemd/sd-daemon.h>
#include <time.h>

struct DynmemNotify {
    bool ready;
    char *last_status;
    guint watchdog_source;
    guint waiting_source;
};

static void send_status(DynmemNotify *n, Manager *m)
{
    g_autofree char *status = manager_status_line(m);
    if (g_strcmp0(status, n->last_status) == 0)
        return;
    sd_notifyf(0, "STATUS=%s", status);
    g_free(n->last_status);
    n->last_status = g_steal_pointer(&status);
}

void dynmem_notify_ready(DynmemNotify *n, Manager *m)
{
    send_status(n, m);
    sd_notify(0, "READY=1");
    n->ready = true;
}

static void on_cycle_done(Manager *m, void *userdata)
{
    DynmemNotify *n = userdata;
    if (!n->ready)
        dynmem_notify_ready(n, m);
    else
        send_status(n, m);
}

static void on_settings_changed(Manager *m, void *userdata)
{
    DynmemNotify *n = userdata;
    if (n->ready)
        send_status(n, m);
}

static const ManagerListener notify_listener = {
    .cycle_done = on_cycle_done,
    .settings_changed = on_settings_changed,
};

static gboolean on_watchdog(void *userdata)
{
    sd_notify(0, "WATCHDOG=1");
    return G_SOURCE_CONTINUE;
}

typedef struct {
    DynmemNotify *n;
    Manager *m;
} WaitCtx;

/* libvirtd may be down when we start: say we are up (and waiting) after a
 * few seconds rather than let systemd time the start out. */
static gboolean on_still_waiting(void *userdata)
{
    WaitCtx *w = userdata;
    w->n->waiting_source = 0;
    if (!w->n->ready)
        dynmem_notify_ready(w->n, w->m);
    return G_SOURCE_REMOVE;
}

DynmemNotify *dynmem_notify_new(Manager *m)
{
    DynmemNotify *n = g_new0(DynmemNotify, 1);
    manager_add_listener(m, &notify_listener, n);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        /* ping at half the period, from the main loop: a stuck loop stops it */
        n->watchdog_source = g_timeout_add((guint)MAX(1, usec / 2000), on_watchdog, NULL);
        log_debug("watchdog every %" G_GUINT64_FORMAT " ms", usec / 2000);
    }
    WaitCtx *w = g_new0(WaitCtx, 1);
    w->n = n;
    w->m = m;
    n->waiting_source =
        g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, 5, on_still_waiting, w, g_free);
    return n;
}

void dynmem_notify_reloading(DynmemNotify *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* MONOTONIC_USEC is what systemd >= 253 expects with RELOADING=1. */
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
               (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
}

void dynmem_notify_stopping(DynmemNotify *n)
{
    sd_notify(0, "STOPPING=1");
}

void dynmem_notify_free(DynmemNotify *n)
{
    if (!n)
        return;
    if (n->watchdog_source)
        g_source_remove(n->watchdog_source);
    if (n->waiting_source)
        g_source_remove(n->waiting_source);
    g_free(n->last_status);
    g_free(n);
}
