/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemd on the system bus: the connection, its place in the GLib main
 * loop, and what the interface files (bus-manager.c, bus-domain.c) share.
 *
 * The D-Bus front end is a listener of the manager: it never changes state
 * itself, it calls the manager and reports the manager's events as signals.
 */
#pragma once

#include "bus-names.h"
#include "bus-props.h"
#include "manager.h"
#include "props.h"

#include <stdbool.h>

typedef struct DynmemBus DynmemBus;

/* Create the front end and register it as a manager listener. Does not
 * connect. Free it before the manager (manager_free() emits nothing). */
DynmemBus *dynmem_bus_new(Manager *m);
void dynmem_bus_free(DynmemBus *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DynmemBus, dynmem_bus_free)

/* Connect to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured), export
 * the objects, join the default GLib main context and request org.dynmem1.
 * Returns 0, or a negative errno and *ret_error: -EEXIST when another
 * process owns the name. After a later loss of the connection the front end
 * reconnects by itself every few seconds. */
int dynmem_bus_connect(DynmemBus *b, char **ret_error);

/* Keep trying to connect in the background (after a failed first try). */
void dynmem_bus_connect_later(DynmemBus *b);

/* The introspection XML of org.dynmem1.Manager and org.dynmem1.Domain,
 * generated from the same vtables the daemon exports (dynmemd
 * --bus-introspect, data/org.dynmem1.xml). Newly allocated. */
int dynmem_bus_introspect(char **ret_xml, char **ret_error);

/* ---- shared by the interface files -------------------------------------- */

struct DynmemBus {
    Manager *manager;
    sd_bus *bus; /* NULL while not connected */
    GSource *source;
    guint reconnect_source;
    BusManagerProps *last_manager_props; /* last emitted (bus-manager.c); NULL: none */
};

/* Refuse callers that are not uid 0: returns 0, or a negative errno with
 * *error set to org.freedesktop.DBus.Error.AccessDenied. */
int bus_check_privileged(sd_bus_message *msg, sd_bus_error *error);

/* Longer names are refused before any lookup: libvirt keeps a running
 * QEMU domain's state in a file named after it (NAME_MAX, 255 bytes, less
 * ".xml"), so no running domain has one. */
#define BUS_DOMAIN_NAME_MAX 255

/* The domain a method argument names (manager_find_domain()); NULL with a
 * bounded error set: InvalidArgument for a name longer than libvirt
 * allows, NoSuchDomain for one that no running domain has. */
ManagerDomain *bus_find_domain(Manager *m, const char *name_or_uuid, sd_bus_error *error);

/* Set *error from a negative errno and a manager message: InvalidArgument
 * for -EINVAL/-ERANGE, else Failed. Returns a negative errno. */
int bus_error_from_manager(sd_bus_error *error, int r, const char *message);

/* bus-manager.c */
extern const sd_bus_vtable bus_manager_vtable[];
int bus_manager_export(DynmemBus *b);
extern const ManagerListener bus_manager_listener;

/* bus-domain.c */
extern const sd_bus_vtable bus_domain_vtable[];
int bus_domain_export(DynmemBus *b);
extern const ManagerListener bus_domain_listener;
/* The object path of a domain, newly allocated. */
char *bus_domain_path(const ManagerDomain *d);
/* Drop the per-domain data (at exit). */
void bus_domain_forget_all(Manager *m);
/* For the introspection generator: export the Domain interface on one
 * plain object whose getters are never called. */
int bus_domain_export_example(sd_bus *bus, const char *path);
