/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The properties of dynmem's D-Bus interfaces, each declared once, in the
 * lists below. dynmemd builds from them its vtables (and so the
 * introspection XML, data/org.dynmem1.xml), its getters and its
 * PropertiesChanged decisions; dynmemctl decodes GetAll and
 * GetManagedObjects replies with them and prints its JSON from them.
 *
 * A row is X(Name, field, TYPE, CHANGE):
 *   Name    the property's name on the bus
 *   field   its member in the interface's snapshot struct (below)
 *   TYPE    BOOL "b", U32 "u", U64 "t", STRING "s" or STRV "as"
 *   CHANGE  CONST: fixed for the object's life; EMITS: named in
 *           PropertiesChanged when it changed; QUIET: changes, never named
 *           (sd-bus then tells introspection EmitsChangedSignal=false)
 * The order of the rows is the vtable's, the introspection XML's, that of
 * the names in PropertiesChanged and that of the keys in dynmemctl --json
 * (a key is the name in snake_case).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* org.dynmem1.Manager at /org/dynmem1 (docs/dbus.md) */
#define BUS_MANAGER_PROPERTIES(X)                                                                  \
    X(Version, version, STRING, CONST)                                                             \
    X(Connected, connected, BOOL, EMITS)                                                           \
    X(Paused, paused, BOOL, EMITS)                                                                 \
    X(DryRun, dry_run, BOOL, CONST)                                                                \
    X(Interval, interval_us, U64, EMITS)                                                           \
    X(HostTotal, host_total, U64, EMITS)                                                           \
    X(HostAvailable, host_available, U64, EMITS)                                                   \
    X(Budget, budget, U64, EMITS)                                                                  \
    X(Reserve, reserve, U64, EMITS)                                                                \
    X(Assigned, assigned, U64, EMITS)                                                              \
    X(Demand, demand, U64, EMITS)                                                                  \
    X(State, state, STRING, EMITS)                                                                 \
    X(Cycles, cycles, U64, QUIET) /* changes every cycle */                                        \
    X(DeflateReserve, deflate_reserve, U64, EMITS)                                                 \
    X(Unprotected, unprotected, U32, EMITS)                                                        \
    X(Admittable, admittable, U64, EMITS)                                                          \
    X(UnmetDemand, unmet_demand, U64, EMITS)                                                       \
    X(Reserved, reserved, U64, EMITS)                                                              \
    X(WaitingStarts, waiting_starts, U32, EMITS)

/* org.dynmem1.Domain at /org/dynmem1/domain/<escaped uuid>. Name is CONST:
 * libvirt renames only domains that are not running. Should the backend
 * still report a new name, reads give it, but no PropertiesChanged does.
 * Reason is this cycle's text: read, never compared. */
#define BUS_DOMAIN_PROPERTIES(X)                                                                   \
    X(Name, name, STRING, CONST)                                                                   \
    X(Uuid, uuid, STRING, CONST)                                                                   \
    X(Mode, mode, STRING, EMITS)                                                                   \
    X(Status, status, STRING, EMITS)                                                               \
    X(Reason, reason, STRING, QUIET)                                                               \
    X(Assigned, assigned, U64, EMITS)                                                              \
    X(Demand, demand, U64, EMITS)                                                                  \
    X(Target, target, U64, EMITS)                                                                  \
    X(Pressure, pressure, U32, EMITS)                                                              \
    X(Minimum, minimum, U64, EMITS)                                                                \
    X(Startup, startup, U64, EMITS)                                                                \
    X(Maximum, maximum, U64, EMITS)                                                                \
    X(Buffer, buffer, U32, EMITS)                                                                  \
    X(Weight, weight, U32, EMITS)                                                                  \
    X(Mechanisms, mechanisms, STRV, EMITS)                                                         \
    X(Overridden, overridden, BOOL, EMITS)                                                         \
    X(Protection, protection, STRING, EMITS)                                                       \
    X(Absorbable, absorbable, U64, EMITS)                                                          \
    X(Headroom, headroom, U64, EMITS)                                                              \
    X(PolicySources, policy_sources, STRV, EMITS)                                                  \
    X(PolicyProblem, policy_problem, STRING, EMITS)

/* ---- what a TYPE and a CHANGE mean -------------------------------------- */

typedef enum {
    BUS_PROP_BOOL = 0,
    BUS_PROP_U32,
    BUS_PROP_U64,
    BUS_PROP_STRING,
    BUS_PROP_STRV,
    BUS_PROP_LAST,
} BusPropType;

typedef enum {
    BUS_CHANGE_CONST = 0,
    BUS_CHANGE_EMITS,
    BUS_CHANGE_QUIET,
    BUS_CHANGE_LAST,
} BusPropChange;

/* C types of the snapshot fields. In dynmemd's snapshots strings are
 * static or live as long as the object; in what bus_props_read() fills
 * they are owned (bus_props_clear()). */
#define BUS_CTYPE_BOOL   bool
#define BUS_CTYPE_U32    uint32_t
#define BUS_CTYPE_U64    uint64_t
#define BUS_CTYPE_STRING const char *
#define BUS_CTYPE_STRV   const char *const * /* NULL-terminated; NULL: empty */

#define BUS_SIGNATURE_BOOL   "b"
#define BUS_SIGNATURE_U32    "u"
#define BUS_SIGNATURE_U64    "t"
#define BUS_SIGNATURE_STRING "s"
#define BUS_SIGNATURE_STRV   "as"

#define BUS_VTABLE_FLAGS_CONST SD_BUS_VTABLE_PROPERTY_CONST
#define BUS_VTABLE_FLAGS_EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define BUS_VTABLE_FLAGS_QUIET 0

/* One sd_bus_vtable entry for a row, served by `getter`; use it inside a
 * row macro of your own: X(Name, field, TYPE, CHANGE) BUS_VTABLE_PROPERTY(...). */
#define BUS_VTABLE_PROPERTY(getter, Name, TYPE, CHANGE)                                            \
    SD_BUS_PROPERTY(#Name, BUS_SIGNATURE_##TYPE, getter, 0, BUS_VTABLE_FLAGS_##CHANGE)

/* ---- snapshots: one field per row --------------------------------------- */

#define BUS_PROPS_FIELD_(Name, field, TYPE, CHANGE) BUS_CTYPE_##TYPE field;
typedef struct BusManagerProps {
    BUS_MANAGER_PROPERTIES(BUS_PROPS_FIELD_)
} BusManagerProps;
typedef struct BusDomainProps {
    BUS_DOMAIN_PROPERTIES(BUS_PROPS_FIELD_)
} BusDomainProps;
#undef BUS_PROPS_FIELD_

/* ---- the lists as data -------------------------------------------------- */

typedef struct {
    const char *name;
    BusPropType type;
    BusPropChange change;
    size_t offset; /* of the field in the snapshot struct */
} BusProp;

typedef struct {
    const BusProp *props;
    size_t n;
} BusPropTable;

extern const BusPropTable bus_manager_props; /* BusManagerProps */
extern const BusPropTable bus_domain_props;  /* BusDomainProps */

/* The D-Bus signature of a type ("b", "u", "t", "s", "as"). */
const char *bus_prop_signature(BusPropType type);

/* The row called `name`, or NULL. */
const BusProp *bus_prop_find(const BusPropTable *t, const char *name);

/* dynmemd: append one property's value from a snapshot to a message.
 * Returns what sd-bus returns. */
int bus_prop_append(sd_bus_message *m, const BusProp *p, const void *snapshot);

/* dynmemd: the names of the EMITS properties that differ between two
 * snapshots, NULL-terminated (g_strfreev), or NULL when none does. */
char **bus_props_changed(const BusPropTable *t, const void *last, const void *now);

/* dynmemctl: read an a{sv} of properties (GetAll, one interface of
 * GetManagedObjects) into a snapshot; strings are newly allocated. Unknown
 * names and values of another type are skipped (another daemon version
 * may have more or different ones). Returns 0 or a negative errno. */
int bus_props_read(sd_bus_message *m, const BusPropTable *t, void *snapshot);

/* Free what bus_props_read() allocated and zero those fields. */
void bus_props_clear(const BusPropTable *t, void *snapshot);

/* dst = src with its own copies of every string and string list (a
 * snapshot kept across cycles must not point into state that changes);
 * free them with bus_props_clear(). */
void bus_props_copy(const BusPropTable *t, void *dst, const void *src, size_t size);
