/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * systemd notifications: READY=1 after the first cycle, or 5 s after start
 * when no cycle has run by then (libvirtd unreachable: the service is up and
 * waiting), and again after each reload; STATUS= after a cycle when it
 * changed, WATCHDOG=1 at half the unit's WatchdogSec=, RELOADING=1 and
 * STOPPING=1. Without $NOTIFY_SOCKET all of it is a no-op.
 */
#pragma once

#include "manager.h"

typedef struct DynmemNotify DynmemNotify;

DynmemNotify *dynmem_notify_new(Manager *m);
void dynmem_notify_free(DynmemNotify *n);
void dynmem_notify_ready(DynmemNotify *n, Manager *m);
void dynmem_notify_reloading(DynmemNotify *n);
void dynmem_notify_stopping(DynmemNotify *n);
