/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.dynmem1.Domain: one object per running domain at
 * /org/dynmem1/domain/<escaped uuid>, served by a fallback vtable and a node
 * enumerator, announced through the ObjectManager at /org/dynmem1.
 *
 * Values are those of the last cycle (one consistent plan); after each cycle
 * PropertiesChanged names what changed since the last one emitted.
 */
#include "bus.h"
#include "log.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* What the front end keeps per domain (ManagerDomain.bus_data). */
typedef struct {
    BusDomainProps last; /* as last announced on the bus */
    bool announced;
} DomainBusData;

char *bus_domain_path(const ManagerDomain *d)
{
    char *path = NULL;
    if (sd_bus_path_encode(DYNMEM_BUS_DOMAIN_PREFIX, d->uuid, &path) < 0)
        g_error("out of memory"); /* the only way sd_bus_path_encode fails */
    return path;
}

/* ---- objects ------------------------------------------------------------ */

static int find_domain(sd_bus *bus, const char *path, const char *interface, void *userdata,
                       void **ret_found, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    g_autofree char *uuid = NULL;
    if (sd_bus_path_decode(path, DYNMEM_BUS_DOMAIN_PREFIX, &uuid) <= 0)
        return 0;
    /* by UUID only: a domain named like another's UUID must not answer */
    ManagerDomain *found = manager_find_domain_by_uuid(b->manager, uuid);
    if (!found)
        return 0;
    *ret_found = found;
    return 1;
}

static int enumerate_domains(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                             sd_bus_error *error)
{
    DynmemBus *b = userdata;
    g_autoptr(GPtrArray) all = manager_list_domains(b->manager);
    /* sd-bus frees the array with free(): build it with malloc. */
    char **nodes = calloc(all->len + 1, sizeof(char *));
    if (!nodes)
        return -ENOMEM;
    for (guint i = 0; i < all->len; i++) {
        if (sd_bus_path_encode(DYNMEM_BUS_DOMAIN_PREFIX, ((ManagerDomain *)all->pdata[i])->uuid,
                               &nodes[i]) < 0) {
            for (guint k = 0; k < i; k++)
                free(nodes[k]);
            free(nodes);
            return -ENOMEM;
        }
    }
    *ret_nodes = nodes;
    return 0;
}

/* For a fallback vtable, userdata is what find_domain() returned. */
static int get_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    const ManagerDomain *d = userdata;
    const BusProp *p = bus_prop_find(&bus_domain_props, property);
    if (!p)
        return -ENOENT;
    BusDomainProps now;
    dynmem_domain_props(d, &now);
    return bus_prop_append(reply, p, &now);
}

/* The properties are the rows of BUS_DOMAIN_PROPERTIES (bus-props.h). */
#define PROPERTY(Name, field, TYPE, CHANGE) BUS_VTABLE_PROPERTY(get_property, Name, TYPE, CHANGE),

/* clang-format would join the list's expansion to the entry after it */
/* clang-format off */
const sd_bus_vtable bus_domain_vtable[] = {
    SD_BUS_VTABLE_START(0),
    BUS_DOMAIN_PROPERTIES(PROPERTY)
    SD_BUS_VTABLE_END,
};
/* clang-format on */

int bus_domain_export(DynmemBus *b)
{
    int r = sd_bus_add_fallback_vtable(b->bus, NULL, DYNMEM_BUS_DOMAIN_PREFIX,
                                       DYNMEM_BUS_DOMAIN_IFACE, bus_domain_vtable, find_domain, b);
    if (r < 0)
        return r;
    r = sd_bus_add_node_enumerator(b->bus, NULL, DYNMEM_BUS_DOMAIN_PREFIX, enumerate_domains, b);
    if (r < 0)
        return r;
    return sd_bus_add_object_manager(b->bus, NULL, DYNMEM_BUS_PATH);
}

int bus_domain_export_example(sd_bus *bus, const char *path)
{
    return sd_bus_add_object_vtable(bus, NULL, path, DYNMEM_BUS_DOMAIN_IFACE, bus_domain_vtable,
                                    NULL);
}

/* ---- signals ------------------------------------------------------------ */

static void bus_data_free(void *p)
{
    DomainBusData *data = p;
    bus_props_clear(&bus_domain_props, &data->last);
    g_free(data);
}

/* Keep what was announced: with copies of its strings, which the manager
 * may free or change before the next cycle compares. */
static void keep_last(DomainBusData *data, const BusDomainProps *now)
{
    bus_props_clear(&bus_domain_props, &data->last);
    bus_props_copy(&bus_domain_props, &data->last, now, sizeof(*now));
}

static DomainBusData *bus_data(ManagerDomain *d)
{
    if (!d->bus_data)
        d->bus_data = g_new0(DomainBusData, 1);
    return d->bus_data;
}

static void announce(DynmemBus *b, ManagerDomain *d)
{
    DomainBusData *data = bus_data(d);
    BusDomainProps now;
    dynmem_domain_props(d, &now);
    keep_last(data, &now);
    data->announced = true;
    if (!b->bus)
        return;
    g_autofree char *path = bus_domain_path(d);
    int r = sd_bus_emit_interfaces_added(b->bus, path, DYNMEM_BUS_DOMAIN_IFACE, NULL);
    if (r < 0)
        log_debug("D-Bus: cannot emit InterfacesAdded for %s: %s", d->label, g_strerror(-r));
}

static void on_domain_added(Manager *m, ManagerDomain *d, void *userdata)
{
    announce(userdata, d);
}

static void on_domain_removed(Manager *m, ManagerDomain *d, void *userdata)
{
    DynmemBus *b = userdata;
    if (b->bus) {
        g_autofree char *path = bus_domain_path(d);
        int r = sd_bus_emit_interfaces_removed(b->bus, path, DYNMEM_BUS_DOMAIN_IFACE, NULL);
        if (r < 0)
            log_debug("D-Bus: cannot emit InterfacesRemoved for %s: %s", d->label, g_strerror(-r));
    }
    g_clear_pointer(&d->bus_data, bus_data_free);
}

static void on_cycle_done(Manager *m, void *userdata)
{
    DynmemBus *b = userdata;
    g_autoptr(GPtrArray) all = manager_list_domains(m);
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        DomainBusData *data = bus_data(d);
        if (!data->announced) {
            announce(b, d);
            continue;
        }
        BusDomainProps now;
        dynmem_domain_props(d, &now);
        g_auto(GStrv) names = bus_props_changed(&bus_domain_props, &data->last, &now);
        if (names)
            keep_last(data, &now);
        if (!names || !b->bus)
            continue;
        g_autofree char *path = bus_domain_path(d);
        int r = sd_bus_emit_properties_changed_strv(b->bus, path, DYNMEM_BUS_DOMAIN_IFACE, names);
        if (r < 0)
            log_debug("D-Bus: cannot emit PropertiesChanged for %s: %s", d->label, g_strerror(-r));
    }
}

const ManagerListener bus_domain_listener = {
    .domain_added = on_domain_added,
    .domain_removed = on_domain_removed,
    .cycle_done = on_cycle_done,
};

void bus_domain_forget_all(Manager *m)
{
    g_autoptr(GPtrArray) all = manager_list_domains(m);
    for (guint i = 0; i < all->len; i++)
        g_clear_pointer(&((ManagerDomain *)all->pdata[i])->bus_data, bus_data_free);
}
