/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sd-bus connection on the GLib main loop, and what the interface files
 * share. There is one loop (STYLE.md rule 7): a GSource polls the bus fd with
 * the events and timeout sd-bus asks for, re-read before every poll, and
 * dispatches by calling sd_bus_process() until it has nothing left.
 */
#include "bus.h"
#include "log.h"
#include "text.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECONNECT_INTERVAL_S 5
/* Messages handled per dispatch before other sources (the cycle timer) get
 * their turn; the source stays ready while more are queued. */
#define MAX_MESSAGES_PER_DISPATCH 64

/* ---- the GLib source ---------------------------------------------------- */

typedef struct {
    GSource source;
    sd_bus *bus;
    GPollFD pfd;
    DynmemBus *owner;
} BusSource;

static void connection_lost(DynmemBus *b, int error);

static gboolean bus_source_prepare(GSource *source, gint *ret_timeout)
{
    BusSource *s = (BusSource *)source;
    *ret_timeout = -1;
    int events = sd_bus_get_events(s->bus);
    if (events < 0) {
        *ret_timeout = 0;
        return TRUE; /* let dispatch see the error */
    }
    s->pfd.events = (events & POLLIN ? G_IO_IN : 0) | (events & POLLOUT ? G_IO_OUT : 0);
    s->pfd.revents = 0;

    uint64_t until;
    if (sd_bus_get_timeout(s->bus, &until) < 0 || until == UINT64_MAX)
        return FALSE;
    /* Both clocks are CLOCK_MONOTONIC in µs. 0 means "process now" (messages
     * are already queued). */
    int64_t now = g_source_get_time(source);
    if ((int64_t)until <= now) {
        *ret_timeout = 0;
        return TRUE;
    }
    uint64_t ms = ((uint64_t)until - (uint64_t)now + 999) / 1000;
    *ret_timeout = (gint)MIN(ms, (uint64_t)G_MAXINT);
    return FALSE;
}

static gboolean bus_source_check(GSource *source)
{
    BusSource *s = (BusSource *)source;
    if (s->pfd.revents & (G_IO_IN | G_IO_OUT | G_IO_HUP | G_IO_ERR))
        return TRUE;
    uint64_t until;
    if (sd_bus_get_timeout(s->bus, &until) < 0 || until == UINT64_MAX)
        return FALSE;
    return (int64_t)until <= g_source_get_time(source);
}

static gboolean bus_source_dispatch(GSource *source, GSourceFunc callback, gpointer userdata)
{
    BusSource *s = (BusSource *)source;
    for (int i = 0; i < MAX_MESSAGES_PER_DISPATCH; i++) {
        int r = sd_bus_process(s->bus, NULL);
        if (r < 0) {
            connection_lost(s->owner, r);
            return G_SOURCE_REMOVE;
        }
        if (r == 0)
            break;
    }
    return G_SOURCE_CONTINUE;
}

static void bus_source_finalize(GSource *source)
{
    BusSource *s = (BusSource *)source;
    sd_bus_unref(s->bus);
}

static GSourceFuncs bus_source_funcs = {
    .prepare = bus_source_prepare,
    .check = bus_source_check,
    .dispatch = bus_source_dispatch,
    .finalize = bus_source_finalize,
};

static GSource *bus_source_new(sd_bus *bus, DynmemBus *owner)
{
    GSource *source = g_source_new(&bus_source_funcs, sizeof(BusSource));
    BusSource *s = (BusSource *)source;
    s->bus = sd_bus_ref(bus);
    s->owner = owner;
    s->pfd.fd = sd_bus_get_fd(bus);
    g_source_add_poll(source, &s->pfd);
    g_source_set_name(source, "sd-bus");
    return source;
}

/* ---- connection --------------------------------------------------------- */

DynmemBus *dynmem_bus_new(Manager *m)
{
    DynmemBus *b = g_new0(DynmemBus, 1);
    b->manager = m;
    manager_add_listener(m, &bus_manager_listener, b);
    manager_add_listener(m, &bus_domain_listener, b);
    return b;
}

static void disconnect(DynmemBus *b)
{
    if (b->source) {
        g_source_destroy(b->source);
        g_clear_pointer(&b->source, g_source_unref);
    }
    if (b->bus)
        b->bus = sd_bus_flush_close_unref(b->bus);
    g_clear_pointer(&b->last_manager_props, g_free);
}

void dynmem_bus_free(DynmemBus *b)
{
    if (!b)
        return;
    if (b->reconnect_source)
        g_source_remove(b->reconnect_source);
    disconnect(b);
    bus_domain_forget_all(b->manager);
    g_free(b);
}

int dynmem_bus_connect(DynmemBus *b, char **ret_error)
{
    g_autoptr(sd_bus) bus = NULL;
    int r = sd_bus_open_system(&bus);
    if (r < 0) {
        *ret_error = g_strdup_printf("cannot connect to the system bus: %s", g_strerror(-r));
        return r;
    }
    (void)sd_bus_set_description(bus, "dynmemd");
    b->bus = bus;
    r = bus_manager_export(b);
    if (r >= 0)
        r = bus_domain_export(b);
    if (r < 0) {
        b->bus = NULL;
        *ret_error = g_strdup_printf("cannot export the D-Bus objects: %s", g_strerror(-r));
        return r;
    }
    r = sd_bus_request_name(bus, DYNMEM_BUS_NAME, 0);
    if (r < 0) {
        b->bus = NULL;
        if (r == -EEXIST)
            *ret_error =
                g_strdup("another process owns " DYNMEM_BUS_NAME " (is dynmemd already running?)");
        else
            *ret_error = g_strdup_printf("cannot own " DYNMEM_BUS_NAME " on the system bus: %s",
                                         g_strerror(-r));
        return r;
    }
    b->bus = g_steal_pointer(&bus);
    b->source = bus_source_new(b->bus, b);
    g_source_attach(b->source, NULL);
    return 0;
}

static gboolean on_reconnect(void *userdata)
{
    DynmemBus *b = userdata;
    g_autofree char *err = NULL;
    if (dynmem_bus_connect(b, &err) < 0) {
        log_debug("D-Bus: %s", err);
        return G_SOURCE_CONTINUE;
    }
    log_notice("D-Bus: connected again, " DYNMEM_BUS_NAME " is back");
    b->reconnect_source = 0;
    return G_SOURCE_REMOVE;
}

void dynmem_bus_connect_later(DynmemBus *b)
{
    if (!b->reconnect_source && !b->bus)
        b->reconnect_source = g_timeout_add_seconds(RECONNECT_INTERVAL_S, on_reconnect, b);
}

/* Called from inside the source's dispatch, which then removes itself. */
static void connection_lost(DynmemBus *b, int error)
{
    log_warning("D-Bus: lost the system bus connection (%s); balancing goes on, "
                "reconnecting every %d s",
                g_strerror(-error), RECONNECT_INTERVAL_S);
    g_clear_pointer(&b->source, g_source_unref);
    if (b->bus)
        b->bus = sd_bus_flush_close_unref(b->bus);
    g_clear_pointer(&b->last_manager_props, g_free);
    dynmem_bus_connect_later(b);
}

/* ---- shared helpers ----------------------------------------------------- */

int bus_check_privileged(sd_bus_message *msg, sd_bus_error *error)
{
    g_autoptr(sd_bus_creds) creds = NULL;
    uid_t uid = (uid_t)-1;
    /* The bus's own record of the peer (taken when it connected), not
     * /proc/<pid>, which a caller could race by exiting and reusing the
     * PID: no SD_BUS_CREDS_AUGMENT. dbus-daemon knows the uid; the euid
     * only where the bus reports it. */
    int r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID, &creds);
    if (r >= 0) {
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r == -ENODATA)
            r = sd_bus_creds_get_uid(creds, &uid);
    }
    if (r < 0)
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "cannot determine the caller's user: %s", g_strerror(-r));
    if (uid != 0) {
        log_debug("D-Bus: %s refused to uid %u", sd_bus_message_get_member(msg), (unsigned)uid);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "%s changes dynmemd's state and needs root (caller uid %u)",
                                 sd_bus_message_get_member(msg), (unsigned)uid);
    }
    return 0;
}

ManagerDomain *bus_find_domain(Manager *m, const char *name_or_uuid, sd_bus_error *error)
{
    size_t len = strlen(name_or_uuid);
    if (len > BUS_DOMAIN_NAME_MAX) {
        g_autofree char *q = policy_quote(name_or_uuid);
        sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                          "a domain name is at most %d bytes, this one has %zu: \"%s\"",
                          BUS_DOMAIN_NAME_MAX, len, q);
        return NULL;
    }
    ManagerDomain *d = manager_find_domain(m, name_or_uuid);
    if (!d) {
        g_autofree char *q = policy_quote(name_or_uuid);
        if (g_uuid_string_is_valid(name_or_uuid))
            sd_bus_error_setf(error, DYNMEM_ERROR_NO_SUCH_DOMAIN,
                              "no running domain has the UUID %s", q);
        else
            sd_bus_error_setf(error, DYNMEM_ERROR_NO_SUCH_DOMAIN,
                              "no running domain is called \"%s\"", q);
    }
    return d;
}

int bus_error_from_manager(sd_bus_error *error, int r, const char *message)
{
    const char *name =
        r == -EINVAL || r == -ERANGE ? DYNMEM_ERROR_INVALID_ARGUMENT : DYNMEM_ERROR_FAILED;
    return sd_bus_error_setf(error, name, "%s", message ? message : g_strerror(-r));
}

/* ---- introspection ------------------------------------------------------ */

/* sd-bus writes introspection XML only in answer to Introspect calls, so
 * the generator serves the vtables on a private peer-to-peer connection
 * over a socketpair and asks itself. No bus daemon is involved. */

typedef struct {
    bool done;
    char *xml;
    char *error;
} IntrospectReply;

static int on_introspect_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    IntrospectReply *ir = userdata;
    const sd_bus_error *e = sd_bus_message_get_error(reply);
    const char *xml = NULL;
    ir->done = true;
    if (e)
        ir->error = g_strdup_printf("%s: %s", e->name, e->message);
    else if (sd_bus_message_read(reply, "s", &xml) < 0)
        ir->error = g_strdup("cannot read the Introspect reply");
    else
        ir->xml = g_strdup(xml);
    return 1;
}

static int pump(sd_bus *a, sd_bus *b, const bool *done)
{
    while (!*done) {
        int ra = sd_bus_process(a, NULL);
        int rb = sd_bus_process(b, NULL);
        if (ra < 0)
            return ra;
        if (rb < 0)
            return rb;
        if (ra > 0 || rb > 0)
            continue;
        struct pollfd fds[2] = {
            {.fd = sd_bus_get_fd(a), .events = (short)sd_bus_get_events(a)},
            {.fd = sd_bus_get_fd(b), .events = (short)sd_bus_get_events(b)},
        };
        int n = poll(fds, 2, 5000);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
    }
    return 0;
}

static int introspect_path(sd_bus *server, sd_bus *client, const char *path, char **ret_xml,
                           char **ret_error)
{
    IntrospectReply ir = {0};
    int r =
        sd_bus_call_method_async(client, NULL, NULL, path, "org.freedesktop.DBus.Introspectable",
                                 "Introspect", on_introspect_reply, &ir, NULL);
    if (r >= 0)
        r = pump(server, client, &ir.done);
    if (r < 0 || ir.error) {
        *ret_error = ir.error ? ir.error : g_strdup_printf("%s", g_strerror(-r));
        g_free(ir.xml);
        return r < 0 ? r : -EIO;
    }
    *ret_xml = ir.xml;
    return 0;
}

/* Keep only our own interfaces: the standard ones are sd-bus's, the same
 * on every object and documented by the D-Bus specification. */
static void append_own_interfaces(GString *out, const char *xml)
{
    g_auto(GStrv) lines = g_strsplit(xml, "\n", -1);
    bool inside = false;
    for (char **l = lines; *l; l++) {
        const char *t = *l + strspn(*l, " ");
        if (g_str_has_prefix(t, "<interface name=\"org.dynmem1."))
            inside = true;
        if (inside)
            g_string_append_printf(out, "%s\n", *l);
        if (inside && g_str_has_prefix(t, "</interface>"))
            inside = false;
    }
}

int dynmem_bus_introspect(char **ret_xml, char **ret_error)
{
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        int r = -errno;
        *ret_error = g_strdup_printf("socketpair: %s", g_strerror(-r));
        return r;
    }
    g_autoptr(sd_bus) server = NULL;
    g_autoptr(sd_bus) client = NULL;
    sd_id128_t id;
    int r = sd_bus_new(&server);
    if (r >= 0)
        r = sd_bus_set_fd(server, fds[0], fds[0]);
    else
        close(fds[0]);
    if (r >= 0)
        r = sd_id128_randomize(&id);
    if (r >= 0)
        r = sd_bus_set_server(server, 1, id);
    if (r >= 0)
        r = sd_bus_add_object_vtable(server, NULL, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                                     bus_manager_vtable, NULL);
    if (r >= 0)
        r = bus_domain_export_example(server, DYNMEM_BUS_DOMAIN_PREFIX "/example");
    if (r >= 0)
        r = sd_bus_start(server);
    int r2 = sd_bus_new(&client);
    if (r2 >= 0)
        r2 = sd_bus_set_fd(client, fds[1], fds[1]);
    else
        close(fds[1]);
    if (r2 >= 0)
        r2 = sd_bus_start(client);
    if (r < 0 || r2 < 0) {
        r = r < 0 ? r : r2;
        *ret_error = g_strdup_printf("cannot set up a private connection: %s", g_strerror(-r));
        return r;
    }

    g_autoptr(GString) out = g_string_new(
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
        "\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
        "<!-- dynmem's D-Bus API, generated by `dynmemd --bus-introspect` from the vtables\n"
        "     in src/daemon/bus-*.c; docs/dbus.md describes every member. -->\n"
        "<node>\n");
    const char *paths[] = {DYNMEM_BUS_PATH, DYNMEM_BUS_DOMAIN_PREFIX "/example"};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autofree char *xml = NULL;
        r = introspect_path(server, client, paths[i], &xml, ret_error);
        if (r < 0)
            return r;
        append_own_interfaces(out, xml);
    }
    g_string_append(out, "</node>\n");
    *ret_xml = g_string_free(g_steal_pointer(&out), FALSE);
    return 0;
}
