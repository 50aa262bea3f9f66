/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the D-Bus test script cannot do with busctl alone:
 *
 *   bus-helper watch          print every signal from org.dynmem1, one per
 *                             line, after a first line "READY" (the match is
 *                             in place), until killed
 *   bus-helper flood N        N calls (ListDomains, Get, GetDomain and
 *                             GetManagedObjects in turn),
 *                             up to 32 in flight; exit 0 when every one got
 *                             a reply
 *   bus-helper getdomain BYTES  GetDomain with a name of BYTES 'x's; print
 *                             "error NAME LENGTH" (the error's name and
 *                             the length of its message) or "path PATH"
 *   bus-helper admit BYTES    Admit with a definition of BYTES bytes; print
 *                             "error NAME" or "ok"
 *   bus-helper setpolicy DOMAIN BYTES  SetDomainPolicy on DOMAIN with one
 *                             key of BYTES 'k's (a boolean value); print
 *                             "error NAME LENGTH" or "ok"
 */
#include "bus-names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    const char *member = sd_bus_message_get_member(m);
    g_autoptr(GString) line = g_string_new(member);
    if (strcmp(member, "Adjusted") == 0) {
        const char *dom, *mech, *reason;
        uint64_t from, to;
        if (sd_bus_message_read(m, "sttss", &dom, &from, &to, &mech, &reason) >= 0)
            g_string_append_printf(line, " %s %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %s", dom,
                                   from, to, mech);
    } else if (strcmp(member, "StateChanged") == 0) {
        const char *state;
        if (sd_bus_message_read(m, "s", &state) >= 0)
            g_string_append_printf(line, " %s", state);
    } else if (strcmp(member, "PropertiesChanged") == 0) {
        const char *iface;
        g_string_append_printf(line, " %s", sd_bus_message_get_path(m));
        if (sd_bus_message_read(m, "s", &iface) >= 0 &&
            sd_bus_message_enter_container(m, 'a', "{sv}") >= 0) {
            g_string_append_printf(line, " %s", iface);
            const char *name;
            while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0 || sd_bus_message_skip(m, "v") < 0 ||
                    sd_bus_message_exit_container(m) < 0)
                    break;
                g_string_append_printf(line, " %s", name);
            }
        }
    } else if (strcmp(member, "StartRefused") == 0) {
        const char *dom, *uuid, *reason;
        uint64_t size;
        if (sd_bus_message_read(m, "ssts", &dom, &uuid, &size, &reason) >= 0)
            g_string_append_printf(line, " %s %s %" G_GUINT64_FORMAT " %s", dom, uuid, size,
                                   reason);
    } else if (strcmp(member, "InterfacesAdded") == 0 || strcmp(member, "InterfacesRemoved") == 0) {
        const char *path;
        if (sd_bus_message_read(m, "o", &path) >= 0)
            g_string_append_printf(line, " %s", path);
    }
    printf("%s\n", line->str);
    fflush(stdout);
    return 0;
}

static int watch(sd_bus *bus)
{
    int r = sd_bus_add_match(bus, NULL, "type='signal',sender='" DYNMEM_BUS_NAME "'", print_signal,
                             NULL);
    if (r < 0) {
        fprintf(stderr, "bus-helper: AddMatch: %s\n", g_strerror(-r));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0)
            return 1;
        if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
            return 1;
    }
}

typedef struct {
    long replies;
    long errors;
} Flood;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Flood *f = userdata;
    f->replies++;
    if (sd_bus_message_is_method_error(m, NULL))
        f->errors++;
    return 0;
}

static int flood(sd_bus *bus, long n)
{
    Flood f = {0};
    long sent = 0;
    while (f.replies < n) {
        while (sent < n && sent - f.replies < 32) {
            int r;
            switch (sent % 4) {
            case 3:
                r = sd_bus_call_method_async(bus, NULL, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                             "org.freedesktop.DBus.ObjectManager",
                                             "GetManagedObjects", on_reply, &f, NULL);
                break;
            case 0:
                r = sd_bus_call_method_async(bus, NULL, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                             DYNMEM_BUS_MANAGER_IFACE, "ListDomains", on_reply, &f,
                                             NULL);
                break;
            case 1:
                r = sd_bus_call_method_async(bus, NULL, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                             "org.freedesktop.DBus.Properties", "Get", on_reply, &f,
                                             "ss", DYNMEM_BUS_MANAGER_IFACE, "Assigned");
                break;
            default:
                r = sd_bus_call_method_async(bus, NULL, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                             DYNMEM_BUS_MANAGER_IFACE, "GetDomain", on_reply, &f,
                                             "s", "alpha");
                break;
            }
            if (r < 0) {
                fprintf(stderr, "bus-helper: call: %s\n", g_strerror(-r));
                return 1;
            }
            sent++;
        }
        int r = sd_bus_process(bus, NULL);
        if (r < 0) {
            fprintf(stderr, "bus-helper: %s\n", g_strerror(-r));
            return 1;
        }
        if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
            return 1;
    }
    printf("%ld replies, %ld errors\n", f.replies, f.errors);
    return f.errors ? 1 : 0;
}

static int get_domain_long_name(sd_bus *bus, long bytes)
{
    g_autofree char *name = g_malloc((gsize)bytes + 1);
    memset(name, 'x', (size_t)bytes);
    name[bytes] = '\0';
    sd_bus_error error = SD_BUS_ERROR_NULL;
    g_autoptr(sd_bus_message) reply = NULL;
    int r = sd_bus_call_method(bus, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                               "GetDomain", &error, &reply, "s", name);
    if (r < 0) {
        printf("error %s %zu\n", error.name ? error.name : g_strerror(-r),
               error.message ? strlen(error.message) : (size_t)0);
        sd_bus_error_free(&error);
        return 0;
    }
    const char *path = NULL;
    r = sd_bus_message_read(reply, "o", &path);
    printf("path %s\n", r < 0 ? "?" : path);
    return 0;
}

static int set_policy_long_key(sd_bus *bus, const char *domain, long bytes)
{
    g_autofree char *key = g_malloc((gsize)bytes + 1);
    memset(key, 'k', (size_t)bytes);
    key[bytes] = '\0';
    sd_bus_error error = SD_BUS_ERROR_NULL;
    int r =
        sd_bus_call_method(bus, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                           "SetDomainPolicy", &error, NULL, "sa{sv}b", domain, 1, key, "b", 1, 0);
    if (r < 0) {
        printf("error %s %zu\n", error.name ? error.name : g_strerror(-r),
               error.message ? strlen(error.message) : (size_t)0);
        sd_bus_error_free(&error);
        return 0;
    }
    printf("ok\n");
    return 0;
}

/* Admit with a definition of `bytes` bytes (spaces inside <domain>). */
static int admit_long(sd_bus *bus, long bytes)
{
    g_autofree char *def = g_malloc((size_t)MAX(bytes, 20) + 1);
    memset(def, ' ', (size_t)MAX(bytes, 20));
    memcpy(def, "<domain>", 8);
    memcpy(def + MAX(bytes, 20) - 9, "</domain>", 9);
    def[MAX(bytes, 20)] = '\0';
    g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
    g_autoptr(sd_bus_message) reply = NULL;
    int r = sd_bus_call_method(bus, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                               "Admit", &error, &reply, "s", def);
    if (r < 0)
        printf("error %s\n", error.name ? error.name : g_strerror(-r));
    else
        printf("ok\n");
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(sd_bus) bus = NULL;
    int r = sd_bus_open_system(&bus);
    if (r < 0) {
        fprintf(stderr, "bus-helper: system bus: %s\n", g_strerror(-r));
        return 1;
    }
    /* The answer is what is checked, not how soon it comes: a 32 MiB
     * request under AddressSanitizer took close to sd-bus's default 25 s
     * (a CI run got org.freedesktop.DBus.Error.Timeout). */
    r = sd_bus_set_method_call_timeout(bus, 300 * G_USEC_PER_SEC);
    if (r < 0) {
        fprintf(stderr, "bus-helper: call timeout: %s\n", g_strerror(-r));
        return 1;
    }
    if (argc == 2 && strcmp(argv[1], "watch") == 0)
        return watch(bus);
    if (argc == 3 && strcmp(argv[1], "flood") == 0)
        return flood(bus, strtol(argv[2], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "getdomain") == 0)
        return get_domain_long_name(bus, strtol(argv[2], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "admit") == 0)
        return admit_long(bus, strtol(argv[2], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "setpolicy") == 0)
        return set_policy_long_key(bus, argv[2], strtol(argv[3], NULL, 10));
    fprintf(stderr, "usage: bus-helper watch | flood N | getdomain BYTES | admit BYTES | setpolicy "
                    "DOMAIN BYTES\n");
    return 2;
}
