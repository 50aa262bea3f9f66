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

typedef struct {
    /* Name is declared const: libvirt renames only domains that are not
     * running. Should the backend still report a new name, the manager
     * takes it (logs, GetDomain) and reads of Name give it, but no
     * PropertiesChanged announces it. */
    const char *name;
    const char *uuid;
    const char *mode;
    const char *status;
    const char *reason; /* this cycle's text: read, never compared */
    uint64_t assigned;
    uint64_t demand;
    uint64_t target;
    uint32_t pressure;
    uint64_t minimum;
    uint64_t startup;
    uint64_t maximum;
    uint32_t buffer;
    uint32_t weight;
    uint32_t mechanisms;
    bool overridden;
    const char *protection;
    uint64_t absorbable;
    uint64_t headroom;
} DomainProps;

/* What the front end keeps per domain (ManagerDomain.bus_data). */
typedef struct {
    DomainProps last; /* as last announced on the bus */
    bool announced;
} DomainBusData;

#define P(name, kind, field, emits)                                                                \
    {                                                                                              \
        name, kind, offsetof(DomainProps, field), emits                                            \
    }
static const BusProp domain_props[] = {
    P("Name", BUS_PROP_STRING, name, false),
    P("Uuid", BUS_PROP_STRING, uuid, false),
    P("Mode", BUS_PROP_STRING, mode, true),
    P("Status", BUS_PROP_STRING, status, true),
    P("Reason", BUS_PROP_STRING, reason, false),
    P("Assigned", BUS_PROP_U64, assigned, true),
    P("Demand", BUS_PROP_U64, demand, true),
    P("Target", BUS_PROP_U64, target, true),
    P("Pressure", BUS_PROP_U32, pressure, true),
    P("Minimum", BUS_PROP_U64, minimum, true),
    P("Startup", BUS_PROP_U64, startup, true),
    P("Maximum", BUS_PROP_U64, maximum, true),
    P("Buffer", BUS_PROP_U32, buffer, true),
    P("Weight", BUS_PROP_U32, weight, true),
    P("Mechanisms", BUS_PROP_MECHANISMS, mechanisms, true),
    P("Overridden", BUS_PROP_BOOL, overridden, true),
    P("Protection", BUS_PROP_STRING, protection, true),
    P("Absorbable", BUS_PROP_U64, absorbable, true),
    P("Headroom", BUS_PROP_U64, headroom, true),
};
#undef P

static uint32_t domain_mechanisms(const ManagerDomain *d)
{
    if (!d->caps_valid)
        return 0;
    uint32_t m = 0;
    if (d->caps.has_balloon)
        m |= BUS_MECHANISM_BALLOON;
    if (d->caps.n_virtio_mem > 0)
        m |= BUS_MECHANISM_VIRTIO_MEM;
    if (d->caps.dimm_node >= 0 && d->caps.free_dimm_slots > 0)
        m |= BUS_MECHANISM_DIMM;
    return m;
}

static void domain_snapshot(const ManagerDomain *d, DomainProps *ret)
{
    const PolicyPlanEntry *e = d->has_entry ? &d->entry : NULL;
    *ret = (DomainProps){
        .name = d->name,
        .uuid = d->uuid,
        .mode = policy_mode_to_string(d->policy.mode),
        /* "new": found, not planned yet */
        .status = e ? policy_status_to_string(e->status) : "new",
        .reason = e ? e->reason : "",
        .assigned = e ? e->assigned_kib * 1024 : 0,
        .demand = e ? e->demand_kib * 1024 : 0,
        .target = e ? e->target_kib * 1024 : 0,
        .pressure = e ? e->pressure_pct : 0,
        .minimum = e ? e->minimum_kib * 1024 : 0,
        .startup = e ? e->startup_kib * 1024 : 0,
        .maximum = e ? e->maximum_kib * 1024 : 0,
        .buffer = d->policy.buffer_pct,
        .weight = d->policy.weight,
        .mechanisms = domain_mechanisms(d),
        .overridden = d->policy.overridden,
        /* unmanaged, static, not planned yet: nothing of ours protects it */
        .protection = e && e->managed ? policy_protection_to_string(e->protection) : "none",
        .absorbable = e ? e->absorbable_kib * 1024 : 0,
        .headroom = e && e->managed ? e->headroom_kib * 1024 : 0,
    };
}

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
    const BusProp *p = bus_prop_find(domain_props, G_N_ELEMENTS(domain_props), property);
    if (!p)
        return -ENOENT;
    DomainProps now;
    domain_snapshot(d, &now);
    return bus_prop_append(reply, p, &now);
}

#define PROP(name, sig, flags) SD_BUS_PROPERTY(name, sig, get_property, 0, flags)
#define EMITS                  SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST                  SD_BUS_VTABLE_PROPERTY_CONST

const sd_bus_vtable bus_domain_vtable[] = {
    SD_BUS_VTABLE_START(0),          PROP("Name", "s", CONST),       PROP("Uuid", "s", CONST),
    PROP("Mode", "s", EMITS),        PROP("Status", "s", EMITS),     PROP("Reason", "s", 0),
    PROP("Assigned", "t", EMITS),    PROP("Demand", "t", EMITS),     PROP("Target", "t", EMITS),
    PROP("Pressure", "u", EMITS),    PROP("Minimum", "t", EMITS),    PROP("Startup", "t", EMITS),
    PROP("Maximum", "t", EMITS),     PROP("Buffer", "u", EMITS),     PROP("Weight", "u", EMITS),
    PROP("Mechanisms", "as", EMITS), PROP("Overridden", "b", EMITS), PROP("Protection", "s", EMITS),
    PROP("Absorbable", "t", EMITS),  PROP("Headroom", "t", EMITS),   SD_BUS_VTABLE_END,
};

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

static DomainBusData *bus_data(ManagerDomain *d)
{
    if (!d->bus_data)
        d->bus_data = g_new0(DomainBusData, 1);
    return d->bus_data;
}

static void announce(DynmemBus *b, ManagerDomain *d)
{
    DomainBusData *data = bus_data(d);
    domain_snapshot(d, &data->last);
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
    g_clear_pointer(&d->bus_data, g_free);
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
        DomainProps now;
        domain_snapshot(d, &now);
        g_auto(GStrv) names =
            bus_props_changed(domain_props, G_N_ELEMENTS(domain_props), &data->last, &now);
        data->last = now;
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
        g_clear_pointer(&((ManagerDomain *)all->pdata[i])->bus_data, g_free);
}
