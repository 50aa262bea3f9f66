/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names of dynmem's D-Bus API (docs/dbus.md), shared by dynmemd and
 * dynmemctl, and g_autoptr support for the sd-bus types.
 */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#define DYNMEM_BUS_NAME          "org.dynmem1"
#define DYNMEM_BUS_PATH          "/org/dynmem1"
#define DYNMEM_BUS_DOMAIN_PREFIX "/org/dynmem1/domain"
#define DYNMEM_BUS_MANAGER_IFACE "org.dynmem1.Manager"
#define DYNMEM_BUS_DOMAIN_IFACE  "org.dynmem1.Domain"

#define DYNMEM_ERROR_NO_SUCH_DOMAIN   "org.dynmem1.Error.NoSuchDomain"
#define DYNMEM_ERROR_INVALID_ARGUMENT "org.dynmem1.Error.InvalidArgument"
#define DYNMEM_ERROR_RELOAD_FAILED    "org.dynmem1.Error.ReloadFailed"
#define DYNMEM_ERROR_NOT_CONNECTED    "org.dynmem1.Error.NotConnected"
#define DYNMEM_ERROR_BUSY             "org.dynmem1.Error.Busy"
#define DYNMEM_ERROR_FAILED           "org.dynmem1.Error.Failed"

/* sd_*_unref return NULL for chaining; g_autoptr wants a void function. */
static inline void dynmem_sd_bus_unref(sd_bus *b)
{
    (void)sd_bus_flush_close_unref(b);
}
static inline void dynmem_sd_bus_message_unref(sd_bus_message *m)
{
    (void)sd_bus_message_unref(m);
}
static inline void dynmem_sd_bus_creds_unref(sd_bus_creds *c)
{
    (void)sd_bus_creds_unref(c);
}
static inline void dynmem_sd_bus_slot_unref(sd_bus_slot *s)
{
    (void)sd_bus_slot_unref(s);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus, dynmem_sd_bus_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, dynmem_sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_creds, dynmem_sd_bus_creds_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_slot, dynmem_sd_bus_slot_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(sd_bus_error, sd_bus_error_free)
