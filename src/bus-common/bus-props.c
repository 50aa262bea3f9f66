/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The property lists of bus-props.h as tables, and the two directions of
 * their wire format: dynmemd appends snapshot fields to messages,
 * dynmemctl reads messages back into the same snapshot structs.
 */
#include "bus-props.h"

#include <errno.h>
#include <string.h>

#define MANAGER_ROW(Name, field, TYPE, CHANGE)                                                     \
    {#Name, BUS_PROP_##TYPE, BUS_CHANGE_##CHANGE, offsetof(BusManagerProps, field)},
static const BusProp manager_rows[] = {BUS_MANAGER_PROPERTIES(MANAGER_ROW)};
#undef MANAGER_ROW
const BusPropTable bus_manager_props = {manager_rows, G_N_ELEMENTS(manager_rows)};

#define DOMAIN_ROW(Name, field, TYPE, CHANGE)                                                      \
    {#Name, BUS_PROP_##TYPE, BUS_CHANGE_##CHANGE, offsetof(BusDomainProps, field)},
static const BusProp domain_rows[] = {BUS_DOMAIN_PROPERTIES(DOMAIN_ROW)};
#undef DOMAIN_ROW
const BusPropTable bus_domain_props = {domain_rows, G_N_ELEMENTS(domain_rows)};

const char *bus_prop_signature(BusPropType type)
{
    static const char *const signatures[BUS_PROP_LAST] = {
        [BUS_PROP_BOOL] = BUS_SIGNATURE_BOOL, [BUS_PROP_U32] = BUS_SIGNATURE_U32,
        [BUS_PROP_U64] = BUS_SIGNATURE_U64,   [BUS_PROP_STRING] = BUS_SIGNATURE_STRING,
        [BUS_PROP_STRV] = BUS_SIGNATURE_STRV,
    };
    return (unsigned)type < BUS_PROP_LAST ? signatures[type] : NULL;
}

const BusProp *bus_prop_find(const BusPropTable *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->props[i].name, name) == 0)
            return &t->props[i];
    return NULL;
}

/* The field of row p in a snapshot, as an lvalue of its C type. */
#define FIELD(ctype, snapshot, p)       (*(ctype *)((char *)(snapshot) + (p)->offset))
#define CONST_FIELD(ctype, snapshot, p) (*(const ctype *)((const char *)(snapshot) + (p)->offset))

typedef BUS_CTYPE_STRING BusString;
typedef BUS_CTYPE_STRV BusStrv;

int bus_prop_append(sd_bus_message *m, const BusProp *p, const void *snapshot)
{
    switch (p->type) {
    case BUS_PROP_BOOL:
        return sd_bus_message_append(m, "b", (int)CONST_FIELD(bool, snapshot, p));
    case BUS_PROP_U32:
        return sd_bus_message_append(m, "u", CONST_FIELD(uint32_t, snapshot, p));
    case BUS_PROP_U64:
        return sd_bus_message_append(m, "t", CONST_FIELD(uint64_t, snapshot, p));
    case BUS_PROP_STRING: {
        BusString s = CONST_FIELD(BusString, snapshot, p);
        return sd_bus_message_append(m, "s", s ? s : "");
    }
    case BUS_PROP_STRV: {
        static const char *const empty[] = {NULL};
        BusStrv v = CONST_FIELD(BusStrv, snapshot, p);
        /* sd-bus only reads the strings; its prototype is not const */
        return sd_bus_message_append_strv(m, (char **)(v ? v : empty));
    }
    default:
        return -EINVAL;
    }
}

static bool strv_equal(BusStrv a, BusStrv b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    /* equal when both end here (a NULL list is an empty one) */
    return !(a && a[i]) && !(b && b[i]);
}

static bool prop_equal(const BusProp *p, const void *a, const void *b)
{
    switch (p->type) {
    case BUS_PROP_BOOL:
        return CONST_FIELD(bool, a, p) == CONST_FIELD(bool, b, p);
    case BUS_PROP_U32:
        return CONST_FIELD(uint32_t, a, p) == CONST_FIELD(uint32_t, b, p);
    case BUS_PROP_U64:
        return CONST_FIELD(uint64_t, a, p) == CONST_FIELD(uint64_t, b, p);
    case BUS_PROP_STRING:
        return g_strcmp0(CONST_FIELD(BusString, a, p), CONST_FIELD(BusString, b, p)) == 0;
    case BUS_PROP_STRV:
        return strv_equal(CONST_FIELD(BusStrv, a, p), CONST_FIELD(BusStrv, b, p));
    default:
        return true;
    }
}

char **bus_props_changed(const BusPropTable *t, const void *last, const void *now)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < t->n; i++)
        if (t->props[i].change == BUS_CHANGE_EMITS && !prop_equal(&t->props[i], last, now))
            g_ptr_array_add(names, g_strdup(t->props[i].name));
    if (names->len == 0)
        return NULL;
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static void clear_field(const BusProp *p, void *snapshot)
{
    /* the strings of a snapshot filled by bus_props_read() are ours */
    if (p->type == BUS_PROP_STRING)
        g_free((char *)g_steal_pointer(&FIELD(BusString, snapshot, p)));
    else if (p->type == BUS_PROP_STRV)
        g_strfreev((char **)g_steal_pointer(&FIELD(BusStrv, snapshot, p)));
}

/* The value of one property, positioned at its variant. */
static int read_value(sd_bus_message *m, const BusProp *p, void *snapshot)
{
    int r = sd_bus_message_enter_container(m, 'v', bus_prop_signature(p->type));
    if (r < 0)
        return r;
    switch (p->type) {
    case BUS_PROP_BOOL: {
        int b = 0;
        r = sd_bus_message_read(m, "b", &b);
        if (r >= 0)
            FIELD(bool, snapshot, p) = b;
        break;
    }
    case BUS_PROP_U32:
        r = sd_bus_message_read(m, "u", &FIELD(uint32_t, snapshot, p));
        break;
    case BUS_PROP_U64:
        r = sd_bus_message_read(m, "t", &FIELD(uint64_t, snapshot, p));
        break;
    case BUS_PROP_STRING: {
        const char *s;
        r = sd_bus_message_read(m, "s", &s);
        if (r >= 0) {
            clear_field(p, snapshot);
            FIELD(BusString, snapshot, p) = g_strdup(s);
        }
        break;
    }
    case BUS_PROP_STRV: {
        char **v = NULL;
        r = sd_bus_message_read_strv(m, &v);
        if (r >= 0) {
            clear_field(p, snapshot);
            /* sd-bus allocates with malloc, as GLib does on Linux */
            FIELD(BusStrv, snapshot, p) = (BusStrv)v;
        }
        break;
    }
    default:
        r = -EINVAL;
        break;
    }
    if (r < 0)
        return r;
    return sd_bus_message_exit_container(m);
}

int bus_props_read(sd_bus_message *m, const BusPropTable *t, void *snapshot)
{
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char *name;
        const char *contents;
        r = sd_bus_message_read(m, "s", &name);
        if (r >= 0)
            r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
            return r;
        const BusProp *p = bus_prop_find(t, name);
        if (p && strcmp(contents, bus_prop_signature(p->type)) == 0)
            r = read_value(m, p, snapshot);
        else
            r = sd_bus_message_skip(m, "v");
        if (r >= 0)
            r = sd_bus_message_exit_container(m);
        if (r < 0)
            return r;
    }
    if (r < 0)
        return r;
    r = sd_bus_message_exit_container(m);
    return r < 0 ? r : 0;
}

void bus_props_clear(const BusPropTable *t, void *snapshot)
{
    for (size_t i = 0; i < t->n; i++)
        clear_field(&t->props[i], snapshot);
}

void bus_props_copy(const BusPropTable *t, void *dst, const void *src, size_t size)
{
    memcpy(dst, src, size);
    for (size_t i = 0; i < t->n; i++) {
        const BusProp *p = &t->props[i];
        if (p->type == BUS_PROP_STRING)
            FIELD(BusString, dst, p) = g_strdup(CONST_FIELD(BusString, src, p));
        else if (p->type == BUS_PROP_STRV)
            FIELD(BusStrv, dst, p) = (BusStrv)g_strdupv((char **)CONST_FIELD(BusStrv, src, p));
    }
}
