/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemctl: query and steer dynmemd over D-Bus (docs/dbus.md). It talks
 * only D-Bus. Exit status: 0 ok, 1 the daemon refused or failed, 2 usage,
 * 3 the daemon cannot be reached.
 */
#include "bus-names.h"
#include "bus-props.h"
#include "settings.h"
#include "text.h"
#include "ctl-json.h"
#include "units.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    EXIT_OK = 0,
    EXIT_DAEMON = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3,
};

typedef struct {
    bool json;
    bool persist;
    bool dry_run;    /* admit: only ask (the hook admits for real) */
    long iterations; /* top: 0 = until interrupted */
} Options;

/* ---- what the daemon tells us ------------------------------------------ */

/* The properties are decoded with the daemon's own description of them
 * (bus-props.h); the strings in these snapshots are ours. */
typedef struct {
    char *path;
    BusDomainProps p;
} DomainInfo;

static void domain_info_free(DomainInfo *d)
{
    bus_props_clear(&bus_domain_props, &d->p);
    g_free(d->path);
    g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainInfo, domain_info_free)

typedef BusManagerProps ManagerInfo;

static void manager_info_clear(ManagerInfo *m)
{
    bus_props_clear(&bus_manager_props, m);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ManagerInfo, manager_info_clear)

/* ---- talking to the daemon ---------------------------------------------- */

static bool unreachable_error(const sd_bus_error *e)
{
    return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                  SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED,
                                  SD_BUS_ERROR_TIMEOUT);
}

/* Print one line for a failed call and return the exit status. */
static int report_error(const char *what, const sd_bus_error *e, int r)
{
    if (sd_bus_error_is_set(e) && unreachable_error(e)) {
        fprintf(stderr, "dynmemctl: dynmemd is not reachable (%s)\n", e->message);
        return EXIT_UNREACHABLE;
    }
    if (sd_bus_error_is_set(e)) {
        /* Multi-line messages (reload errors) stay readable. */
        fprintf(stderr, "dynmemctl: %s: %s\n", what, e->message);
        return EXIT_DAEMON;
    }
    fprintf(stderr, "dynmemctl: %s: %s\n", what, g_strerror(-r));
    return EXIT_DAEMON;
}

static int open_bus(sd_bus **ret)
{
    int r = sd_bus_open_system(ret);
    if (r < 0) {
        fprintf(stderr, "dynmemctl: cannot reach the system bus: %s\n", g_strerror(-r));
        return EXIT_UNREACHABLE;
    }
    return EXIT_OK;
}

static int call(sd_bus *bus, const char *path, const char *iface, const char *member,
                sd_bus_message **ret_reply, const char *types, ...)
{
    g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
    va_list ap;
    va_start(ap, types);
    g_autoptr(sd_bus_message) msg = NULL;
    int r = sd_bus_message_new_method_call(bus, &msg, DYNMEM_BUS_NAME, path, iface, member);
    if (r >= 0 && types)
        r = sd_bus_message_appendv(msg, types, ap);
    va_end(ap);
    if (r < 0)
        return report_error(member, &error, r);
    g_autoptr(sd_bus_message) reply = NULL;
    r = sd_bus_call(bus, msg, 0, &error, &reply);
    if (r < 0)
        return report_error(member, &error, r);
    if (ret_reply)
        *ret_reply = g_steal_pointer(&reply);
    return EXIT_OK;
}

static int get_manager(sd_bus *bus, ManagerInfo *ret)
{
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, "org.freedesktop.DBus.Properties", "GetAll", &reply, "s",
                 DYNMEM_BUS_MANAGER_IFACE);
    if (s != EXIT_OK)
        return s;
    if (bus_props_read(reply, &bus_manager_props, ret) < 0) {
        fprintf(stderr, "dynmemctl: cannot parse the daemon's answer\n");
        return EXIT_DAEMON;
    }
    return EXIT_OK;
}

static int cmp_domain(const void *a, const void *b)
{
    const DomainInfo *x = *(DomainInfo *const *)a;
    const DomainInfo *y = *(DomainInfo *const *)b;
    return g_strcmp0(x->p.name, y->p.name);
}

/* Every domain with all its properties, in one round trip. */
static int get_domains(sd_bus *bus, GPtrArray **ret)
{
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                 &reply, NULL);
    if (s != EXIT_OK)
        return s;
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func((GDestroyNotify)domain_info_free);
    int r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
    while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
        const char *path;
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
            r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
            const char *iface;
            r = sd_bus_message_read(reply, "s", &iface);
            if (r >= 0 && strcmp(iface, DYNMEM_BUS_DOMAIN_IFACE) == 0) {
                DomainInfo *d = g_new0(DomainInfo, 1);
                d->path = g_strdup(path);
                g_ptr_array_add(all, d);
                r = bus_props_read(reply, &bus_domain_props, &d->p);
            } else if (r >= 0) {
                r = sd_bus_message_skip(reply, "a{sv}");
            }
            if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        }
        if (r >= 0)
            r = sd_bus_message_exit_container(reply);
        if (r >= 0)
            r = sd_bus_message_exit_container(reply);
    }
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    if (r < 0) {
        fprintf(stderr, "dynmemctl: cannot parse the daemon's answer: %s\n", g_strerror(-r));
        return EXIT_DAEMON;
    }
    g_ptr_array_sort(all, cmp_domain);
    *ret = g_steal_pointer(&all);
    return EXIT_OK;
}

static int get_domain(sd_bus *bus, const char *name, DomainInfo **ret)
{
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "GetDomain", &reply, "s", name);
    if (s != EXIT_OK)
        return s;
    const char *path;
    if (sd_bus_message_read(reply, "o", &path) < 0)
        return EXIT_DAEMON;
    g_autoptr(DomainInfo) d = g_new0(DomainInfo, 1);
    d->path = g_strdup(path);
    g_autoptr(sd_bus_message) props = NULL;
    s = call(bus, path, "org.freedesktop.DBus.Properties", "GetAll", &props, "s",
             DYNMEM_BUS_DOMAIN_IFACE);
    if (s != EXIT_OK)
        return s;
    if (bus_props_read(props, &bus_domain_props, &d->p) < 0) {
        fprintf(stderr, "dynmemctl: cannot parse the daemon's answer\n");
        return EXIT_DAEMON;
    }
    *ret = g_steal_pointer(&d);
    return EXIT_OK;
}

/* Domains about to start, and recent refusals (ListReservations). */
typedef struct {
    char *name;
    char *uuid;
    char *state; /* waiting, reserved, refused */
    uint64_t size;
    uint32_t weight;
    uint64_t age_us;
    char *message;
} Reservation;

static void reservation_clear(void *p)
{
    Reservation *r = p;
    g_free(r->name);
    g_free(r->uuid);
    g_free(r->state);
    g_free(r->message);
}

static int get_reservations(sd_bus *bus, GArray **ret)
{
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "ListReservations", &reply, NULL);
    if (s != EXIT_OK)
        return s;
    g_autoptr(GArray) all = g_array_new(FALSE, TRUE, sizeof(Reservation));
    g_array_set_clear_func(all, reservation_clear);
    int r = sd_bus_message_enter_container(reply, 'a', "(ssstuts)");
    const char *name, *uuid, *state, *message;
    Reservation v;
    while (r >= 0 && (r = sd_bus_message_read(reply, "(ssstuts)", &name, &uuid, &state, &v.size,
                                              &v.weight, &v.age_us, &message)) > 0) {
        v.name = g_strdup(name);
        v.uuid = g_strdup(uuid);
        v.state = g_strdup(state);
        v.message = g_strdup(message);
        g_array_append_val(all, v);
    }
    if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    if (r < 0) {
        fprintf(stderr, "dynmemctl: cannot parse the daemon's answer: %s\n", g_strerror(-r));
        return EXIT_DAEMON;
    }
    *ret = g_steal_pointer(&all);
    return EXIT_OK;
}

/* ---- output ------------------------------------------------------------- */

static char *size(uint64_t bytes)
{
    return policy_format_size_kib(bytes / 1024);
}

static const char *str(const char *s)
{
    return s ? s : "";
}

/* ---- JSON (ctl-json.c) -------------------------------------------------- */

/* dynmemctl --json has always put the host's state second, before the
 * D-Bus order (bus-props.h) was the order of everything else; scripts
 * keep it. */
static const char *const json_manager_lead[] = {"Version", "State", NULL};

static void add_reservations_json(JsonBuilder *b, GArray *res)
{
    json_builder_set_member_name(b, "reservations");
    json_builder_begin_array(b);
    for (guint i = 0; i < res->len; i++) {
        const Reservation *r = &g_array_index(res, Reservation, i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        ctl_json_add_string(b, r->name);
        json_builder_set_member_name(b, "uuid");
        ctl_json_add_string(b, r->uuid);
        json_builder_set_member_name(b, "state");
        ctl_json_add_string(b, r->state);
        json_builder_set_member_name(b, "size");
        json_builder_add_int_value(b, (gint64)r->size);
        json_builder_set_member_name(b, "weight");
        json_builder_add_int_value(b, r->weight);
        json_builder_set_member_name(b, "age_us");
        json_builder_add_int_value(b, (gint64)r->age_us);
        json_builder_set_member_name(b, "message");
        ctl_json_add_string(b, r->message);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

static char *format_status_json(const ManagerInfo *m, GPtrArray *domains, GArray *res)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    ctl_json_add_props(b, &bus_manager_props, json_manager_lead, m);
    json_builder_set_member_name(b, "domains");
    json_builder_begin_array(b);
    for (guint i = 0; i < domains->len; i++) {
        json_builder_begin_object(b);
        ctl_json_add_props(b, &bus_domain_props, NULL, &((DomainInfo *)domains->pdata[i])->p);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    add_reservations_json(b, res);
    json_builder_end_object(b);
    return ctl_json_text(b);
}

static char *format_domain_json(const DomainInfo *d)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    ctl_json_add_props(b, &bus_domain_props, NULL, &d->p);
    json_builder_end_object(b);
    return ctl_json_text(b);
}

static char *format_dump_json(const char *dump)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "dump");
    ctl_json_add_string(b, dump);
    json_builder_end_object(b);
    return ctl_json_text(b);
}

/* ---- tables and text ---------------------------------------------------- */

static char *format_status_table(const ManagerInfo *m, GPtrArray *domains, GArray *res)
{
    GString *out = g_string_new(NULL);
    int w = 4;
    /* names as the daemon's log shows them: control characters escaped */
    g_auto(GStrv) names = g_new0(char *, domains->len + res->len + 1);
    for (guint i = 0; i < domains->len + res->len; i++) {
        names[i] =
            policy_escape(i < domains->len ? ((DomainInfo *)domains->pdata[i])->p.name
                                           : g_array_index(res, Reservation, i - domains->len).name,
                          0);
        w = MAX(w, (int)strlen(names[i]));
    }
    g_string_append_printf(out, " %-*s  %-13s %10s %10s %10s %10s %10s %6s %6s %8s  %-14s %10s\n",
                           w, "Name", "Status", "Assigned", "Demand", "Target", "Minimum",
                           "Maximum", "Buffer", "Weight", "Pressure", "Protection", "Absorbable");
    size_t width = out->len;
    for (size_t i = 0; i + 1 < width; i++)
        g_string_append_c(out, '-');
    g_string_append_c(out, '\n');
    for (guint i = 0; i < domains->len; i++) {
        const BusDomainProps *d = &((DomainInfo *)domains->pdata[i])->p;
        g_autofree char *assigned = size(d->assigned);
        g_autofree char *demand = size(d->demand);
        g_autofree char *target = size(d->target);
        g_autofree char *minimum = size(d->minimum);
        g_autofree char *maximum = size(d->maximum);
        g_autofree char *buffer = g_strdup_printf("%u%%", d->buffer);
        g_autofree char *pressure = g_strdup_printf("%u%%", d->pressure);
        g_autofree char *status = g_strdup_printf("%s%s", str(d->status), d->overridden ? "*" : "");
        g_autofree char *absorbable = size(d->absorbable);
        g_string_append_printf(out,
                               " %-*s  %-13s %10s %10s %10s %10s %10s %6s %6u %8s  %-14s %10s\n", w,
                               names[i], status, assigned, demand, target, minimum, maximum, buffer,
                               d->weight, pressure, str(d->protection), absorbable);
    }
    /* starting domains: what they are promised (reserved) or wait for */
    bool any_refused = false;
    for (guint i = 0; i < res->len; i++) {
        const Reservation *r = &g_array_index(res, Reservation, i);
        g_autofree char *want = size(r->size);
        if (strcmp(r->state, "refused") == 0) {
            any_refused = true;
            continue;
        }
        g_string_append_printf(out,
                               " %-*s  %-13s %10s %10s %10s %10s %10s %6s %6u %8s  %-14s %10s\n", w,
                               names[domains->len + i], r->state, want, "-", "-", "-", "-", "-",
                               r->weight, "-", "-", "-");
    }
    if (any_refused) {
        g_string_append(out, "\nrefused starts (the last 10 minutes):\n");
        for (guint i = 0; i < res->len; i++) {
            const Reservation *r = &g_array_index(res, Reservation, i);
            if (strcmp(r->state, "refused") != 0)
                continue;
            g_autofree char *why = policy_escape(r->message, 0);
            g_string_append_printf(out, "  %s, %" PRIu64 "s ago: %s\n", names[domains->len + i],
                                   r->age_us / G_USEC_PER_SEC, why);
        }
    }
    g_autofree char *budget = size(m->budget);
    g_autofree char *assigned = size(m->assigned);
    g_autofree char *demand = size(m->demand);
    g_autofree char *total = size(m->host_total);
    g_string_append_printf(
        out, "\nhost %s: %s assigned of a %s budget (demand %s, host %s)%s%s%s\n", str(m->state),
        assigned, budget, demand, total, m->connected ? "" : ", not connected to libvirt",
        m->paused ? ", paused" : "", m->dry_run ? ", dry-run" : "");
    if (m->deflate_reserve > 0) {
        g_autofree char *kept = size(m->deflate_reserve);
        g_string_append_printf(out, "kept free for autodeflate guests taking memory back: %s\n",
                               kept);
    }
    if (m->unprotected > 0)
        g_string_append_printf(out,
                               "%u guest(s) with protection none: a step beyond Absorbable "
                               "is an OOM kill\n",
                               m->unprotected);
    for (guint i = 0; i < domains->len; i++)
        if (((DomainInfo *)domains->pdata[i])->p.overridden) {
            g_string_append(out, "* a runtime override applies (dynmemctl show NAME)\n");
            break;
        }
    return g_string_free(out, FALSE);
}

static char *format_domain_text(const DomainInfo *info)
{
    const BusDomainProps *d = &info->p;
    GString *out = g_string_new(NULL);
    g_autofree char *assigned = size(d->assigned);
    g_autofree char *demand = size(d->demand);
    g_autofree char *target = size(d->target);
    g_autofree char *minimum = size(d->minimum);
    g_autofree char *startup = size(d->startup);
    g_autofree char *maximum = size(d->maximum);
    g_autofree char *mech = d->mechanisms && d->mechanisms[0]
                                ? g_strjoinv(", ", (char **)d->mechanisms)
                                : g_strdup("none");
    g_autofree char *name = policy_escape(d->name, 0);
    g_autofree char *reason = policy_escape(d->reason, 0);
    g_autofree char *absorbable = size(d->absorbable);
    g_autofree char *headroom = size(d->headroom);
    /* where the policy's values come from: the keys not at their default */
    g_autoptr(GString) sources = g_string_new(NULL);
    for (const char *const *p = d->policy_sources; p && *p; p++)
        if (!g_str_has_suffix(*p, "=default"))
            g_string_append_printf(sources, "%s%s", sources->len ? ", " : "", *p);
    /* the daemon's own message; the outside text it quotes is escaped */
    const char *problem = d->policy_problem && d->policy_problem[0] ? d->policy_problem : NULL;
    g_string_append_printf(out,
                           "Name:        %s\nUUID:        %s\nObject:      %s\nMode:        %s\n"
                           "Status:      %s\nReason:      %s\nAssigned:    %s\nDemand:      %s\n"
                           "Target:      %s\nPressure:    %u%%\nMinimum:     %s\nStartup:     %s\n"
                           "Maximum:     %s\nBuffer:      %u%%\nWeight:      %u\n"
                           "Mechanisms:  %s\nOverridden:  %s\nProtection:  %s\nHeadroom:    %s\n"
                           "Absorbable:  %s\n",
                           name, str(d->uuid), str(info->path), str(d->mode), str(d->status),
                           reason, assigned, demand, target, d->pressure, minimum, startup, maximum,
                           d->buffer, d->weight, mech, d->overridden ? "yes" : "no",
                           str(d->protection), headroom, absorbable);
    g_string_append_printf(out, "Policy from: %s\n",
                           sources->len ? sources->str : "defaults (every key)");
    if (problem)
        g_string_append_printf(out, "Metadata:    ignored: %s\n", problem);
    return g_string_free(out, FALSE);
}

/* ---- commands ----------------------------------------------------------- */

static int render_status(sd_bus *bus, const Options *o, char **ret)
{
    g_auto(ManagerInfo) m = {0};
    g_autoptr(GPtrArray) domains = NULL;
    g_autoptr(GArray) res = NULL;
    int s = get_manager(bus, &m);
    if (s == EXIT_OK)
        s = get_domains(bus, &domains);
    if (s == EXIT_OK)
        s = get_reservations(bus, &res);
    if (s != EXIT_OK)
        return s;
    *ret = o->json ? format_status_json(&m, domains, res) : format_status_table(&m, domains, res);
    return EXIT_OK;
}

static int cmd_status(sd_bus *bus, const Options *o, char **args)
{
    g_autofree char *text = NULL;
    int s = render_status(bus, o, &text);
    if (s == EXIT_OK)
        fputs(text, stdout);
    return s;
}

static int cmd_show(sd_bus *bus, const Options *o, char **args)
{
    g_autoptr(DomainInfo) d = NULL;
    int s = get_domain(bus, args[0], &d);
    if (s != EXIT_OK)
        return s;
    g_autofree char *text = o->json ? format_domain_json(d) : format_domain_text(d);
    fputs(text, stdout);
    return EXIT_OK;
}

static int cmd_set(sd_bus *bus, const Options *o, char **args)
{
    g_autoptr(sd_bus_message) msg = NULL;
    int r = sd_bus_message_new_method_call(bus, &msg, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                           DYNMEM_BUS_MANAGER_IFACE, "SetDomainPolicy");
    if (r >= 0)
        r = sd_bus_message_append(msg, "s", args[0]);
    if (r >= 0)
        r = sd_bus_message_open_container(msg, 'a', "{sv}");
    for (char **a = args + 1; r >= 0 && *a; a++) {
        const char *eq = strchr(*a, '=');
        if (!eq || eq == *a) {
            fprintf(stderr, "dynmemctl: set: expected key=value, got \"%s\"\n", *a);
            return EXIT_USAGE;
        }
        g_autofree char *key = g_strndup(*a, (gsize)(eq - *a));
        r = sd_bus_message_append(msg, "{sv}", key, "s", eq + 1);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(msg);
    if (r >= 0)
        r = sd_bus_message_append(msg, "b", (int)o->persist);
    g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
    if (r >= 0)
        r = sd_bus_call(bus, msg, 0, &error, NULL);
    if (r < 0)
        return report_error("set", &error, r);
    return EXIT_OK;
}

static int simple_call(sd_bus *bus, const char *member, const char *types, const void *arg)
{
    if (!types)
        return call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, member, NULL, NULL);
    if (types[0] == 'b')
        return call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, member, NULL, "b",
                    *(const int *)arg);
    return call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, member, NULL, "s",
                (const char *)arg);
}

static int cmd_reset(sd_bus *bus, const Options *o, char **args)
{
    return simple_call(bus, "ResetDomainPolicy", "s", args[0]);
}

static int cmd_reload(sd_bus *bus, const Options *o, char **args)
{
    return simple_call(bus, "Reload", NULL, NULL);
}

static int cmd_pause(sd_bus *bus, const Options *o, char **args)
{
    int yes = 1;
    return simple_call(bus, "SetPaused", "b", &yes);
}

static int cmd_resume(sd_bus *bus, const Options *o, char **args)
{
    int no = 0;
    return simple_call(bus, "SetPaused", "b", &no);
}

static int cmd_rebalance(sd_bus *bus, const Options *o, char **args)
{
    return simple_call(bus, "Rebalance", NULL, NULL);
}

static int cmd_dump(sd_bus *bus, const Options *o, char **args)
{
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "Dump", &reply, NULL);
    if (s != EXIT_OK)
        return s;
    const char *text;
    if (sd_bus_message_read(reply, "s", &text) < 0)
        return EXIT_DAEMON;
    if (o->json) {
        g_autofree char *json = format_dump_json(text);
        fputs(json, stdout);
    } else {
        fputs(text, stdout);
    }
    return EXIT_OK;
}

/* admit --dry-run DOMAIN SIZE: would a start be admitted now, and what
 * would be trimmed for it. Exit 0 when it would start (at once or after
 * trims), 1 when it would be refused. */
static int cmd_admit(sd_bus *bus, const Options *o, char **args)
{
    if (!o->dry_run) {
        fprintf(stderr, "dynmemctl: admit: only --dry-run is possible here; starts are admitted "
                        "by dynmemd's libvirt hook (docs/admission.md)\n");
        return EXIT_USAGE;
    }
    uint64_t kib;
    g_autofree char *err = NULL;
    if (policy_parse_size_kib(args[1], &kib, &err) < 0 || kib == 0) {
        fprintf(stderr, "dynmemctl: admit: %s\n", err ? err : "the size must be above 0");
        return EXIT_USAGE;
    }
    g_autoptr(sd_bus_message) reply = NULL;
    int s = call(bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "CheckAdmission", &reply, "st",
                 args[0], kib * 1024);
    if (s != EXIT_OK)
        return s;
    const char *verdict, *message, *name;
    uint64_t bytes;
    int r = sd_bus_message_read(reply, "ss", &verdict, &message);
    if (r >= 0)
        r = sd_bus_message_enter_container(reply, 'a', "(st)");
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GString) text = g_string_new(NULL);
    g_autofree char *msg = policy_escape(r >= 0 ? message : "", 0);
    g_string_append_printf(text, "%s\n", msg);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "verdict");
    ctl_json_add_string(b, r >= 0 ? verdict : "");
    json_builder_set_member_name(b, "message");
    ctl_json_add_string(b, r >= 0 ? message : "");
    json_builder_set_member_name(b, "trims");
    json_builder_begin_array(b);
    while (r >= 0 && (r = sd_bus_message_read(reply, "(st)", &name, &bytes)) > 0) {
        g_autofree char *label = policy_escape(name, 0);
        g_autofree char *amount = size(bytes);
        g_string_append_printf(text, "  trim %s by %s\n", label, amount);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        ctl_json_add_string(b, name);
        json_builder_set_member_name(b, "bytes");
        json_builder_add_int_value(b, (gint64)bytes);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    if (r < 0) {
        fprintf(stderr, "dynmemctl: cannot parse the daemon's answer: %s\n", g_strerror(-r));
        return EXIT_DAEMON;
    }
    if (o->json) {
        g_autofree char *json = ctl_json_text(b);
        fputs(json, stdout);
    } else {
        fputs(text->str, stdout);
    }
    return strcmp(verdict, "refused") == 0 ? EXIT_DAEMON : EXIT_OK;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = 1;
}

static int cmd_top(sd_bus *bus, const Options *o, char **args)
{
    struct sigaction sa = {.sa_handler = on_interrupt}; /* no SA_RESTART: wake the sleep */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO);
    for (long i = 0; !interrupted && (o->iterations == 0 || i < o->iterations); i++) {
        g_autofree char *text = NULL;
        int s = render_status(bus, o, &text);
        if (s != EXIT_OK)
            return s;
        if (tty)
            fputs("\033[H\033[2J", stdout); /* home, clear screen */
        else if (i > 0)
            fputc('\n', stdout);
        fputs(text, stdout);
        fflush(stdout);
        if (o->iterations && i + 1 >= o->iterations)
            break;
        struct timespec ts = {.tv_sec = 1};
        nanosleep(&ts, NULL);
    }
    return EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

typedef struct {
    const char *name;
    int min_args;
    int max_args; /* -1: any */
    int (*run)(sd_bus *bus, const Options *o, char **args);
} Command;

static const Command commands[] = {
    {"status", 0, 0, cmd_status}, {"show", 1, 1, cmd_show},           {"set", 2, -1, cmd_set},
    {"reset", 1, 1, cmd_reset},   {"reload", 0, 0, cmd_reload},       {"pause", 0, 0, cmd_pause},
    {"resume", 0, 0, cmd_resume}, {"rebalance", 0, 0, cmd_rebalance}, {"top", 0, 0, cmd_top},
    {"dump", 0, 0, cmd_dump},     {"admit", 2, 2, cmd_admit},
};

/* `keys`: the policy keys `set` takes, one per line with what it means,
 * from the policy's own key table (no daemon needed: the bash completion
 * reads it). */
static int list_keys(void)
{
    for (const PolicyKey *k = policy_domain_keys; k->name; k++)
        printf("%-16s %s\n", k->name, k->doc);
    return EXIT_OK;
}

static void usage(FILE *f)
{
    fputs("Usage: dynmemctl [OPTIONS] COMMAND [ARGS...]\n"
          "\n"
          "Query and steer dynmemd, the libvirt memory balancer, over D-Bus.\n"
          "\n"
          "Commands:\n"
          "  status                     every domain: status, memory, policy\n"
          "  show DOMAIN                one domain in detail (name or UUID)\n"
          "  set DOMAIN KEY=VALUE...    override a domain's policy (root)\n"
          "  keys                       the keys set takes, and what each means\n"
          "  reset DOMAIN               drop a domain's override (root)\n"
          "  reload                     re-read the policy file (root)\n"
          "  pause | resume             stop or restart changing memory (root)\n"
          "  rebalance                  run a balancing cycle now (root)\n"
          "  top                        status, refreshed every second\n"
          "  dump                       the daemon's whole state as text\n"
          "  admit --dry-run DOMAIN SIZE  would a start of SIZE be admitted now, and\n"
          "                             what would be trimmed for it\n"
          "\n"
          "Options:\n"
          "  -j, --json                 machine-readable output (sizes in bytes)\n"
          "  -p, --persist              set: keep the override across restarts\n"
          "  -n, --iterations=N         top: stop after N screens\n"
          "      --dry-run              admit: only ask, change nothing\n"
          "  -h, --help                 show this help\n"
          "  -V, --version              show the version\n"
          "\n"
          "Exit status: 0 ok, 1 the daemon refused or failed, 2 usage error,\n"
          "3 dynmemd cannot be reached. See dynmemctl(1).\n",
          f);
}

int main(int argc, char **argv)
{
    Options o = {0};
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"persist", no_argument, NULL, 'p'},
        {"iterations", required_argument, NULL, 'n'},
        {"dry-run", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "jpn:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o.json = true;
            break;
        case 'p':
            o.persist = true;
            break;
        case 'D':
            o.dry_run = true;
            break;
        case 'n': {
            char *end;
            errno = 0;
            o.iterations = strtol(optarg, &end, 10);
            if (errno || *end || o.iterations < 1) {
                fprintf(stderr,
                        "dynmemctl: --iterations: expected a positive number, got "
                        "\"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("dynmemctl %s\n", DYNMEM_VERSION);
            return EXIT_OK;
        default:
            fprintf(stderr, "dynmemctl: unknown option \"%s\" (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "dynmemctl: no command given (see --help)\n");
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    if (strcmp(name, "keys") == 0) {
        if (nargs > 0 || o.persist || o.json) {
            fprintf(stderr, "dynmemctl: keys takes no arguments and no --json or --persist\n");
            return EXIT_USAGE;
        }
        return list_keys();
    }
    const Command *cmd = NULL;
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "dynmemctl: unknown command \"%s\" (see --help)\n", name);
        return EXIT_USAGE;
    }
    if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
        fprintf(stderr, "dynmemctl: %s: wrong number of arguments (see --help)\n", name);
        return EXIT_USAGE;
    }
    if (o.persist && cmd->run != cmd_set) {
        fprintf(stderr, "dynmemctl: --persist applies to \"set\" only\n");
        return EXIT_USAGE;
    }
    if (o.dry_run && cmd->run != cmd_admit) {
        fprintf(stderr, "dynmemctl: --dry-run applies to \"admit\" only\n");
        return EXIT_USAGE;
    }
    g_autoptr(sd_bus) bus = NULL;
    int s = open_bus(&bus);
    if (s != EXIT_OK)
        return s;
    return cmd->run(bus, &o, args);
}
