/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stand-in for dynmemd's admission methods, for test-hook.sh: it owns
 * org.dynmem1 on the (private) system bus and answers the Manager's Admit
 * and Release as its arguments say.
 *
 *   fake-dynmemd RECORD MODE [ARG]
 *
 * MODE, for Admit:
 *   admit MESSAGE      reply (true, MESSAGE)
 *   refuse MESSAGE     reply (false, MESSAGE)
 *   silent             never reply (to Release either)
 *   delay MS           reply (true, "") MS milliseconds after the call
 *   wrong-signature    reply with a single string
 *   exit               leave the bus without replying (exit 0)
 * Release replies at once, except in silent mode.
 *
 * Every call is appended to RECORD, one line each, before any reply:
 *   Admit name=NAME bytes=N sha256=HEX     (NAME: the first <name> in the XML)
 *   Release name=NAME
 * Prints "READY" on stdout once it owns the name.
 *
 *   fake-dynmemd --mute-socket PATH
 *
 * is a bus that never speaks: it listens on the Unix socket PATH, accepts
 * every connection and never writes a byte (a hung dbus-daemon), printing
 * "READY" once it listens.
 */
#include "bus-names.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *record;
    const char *mode;
    const char *arg;
    GPtrArray *held; /* calls never answered (silent), or answered later (delay) */
    GArray *due_ms;  /* delay: when each held call is answered */
    bool exit_now;
} Fake;

static uint64_t now_ms(void)
{
    return (uint64_t)(g_get_monotonic_time() / 1000);
}

static void record(Fake *f, const char *line)
{
    FILE *out = fopen(f->record, "a");
    if (!out) {
        fprintf(stderr, "fake-dynmemd: %s: %s\n", f->record, g_strerror(errno));
        exit(1);
    }
    fprintf(out, "%s\n", line);
    fclose(out);
}

/* The text between the first <name> and the next '<', or "?". */
static char *name_in_xml(const char *xml)
{
    const char *start = strstr(xml, "<name>");
    if (!start)
        return g_strdup("?");
    start += strlen("<name>");
    const char *end = strchr(start, '<');
    return end ? g_strndup(start, (gsize)(end - start)) : g_strdup("?");
}

static int on_admit(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Fake *f = userdata;
    const char *xml;
    int r = sd_bus_message_read(m, "s", &xml);
    if (r < 0)
        return r;

    g_autofree char *name = name_in_xml(xml);
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, xml, -1);
    g_autofree char *line =
        g_strdup_printf("Admit name=%s bytes=%zu sha256=%s", name, strlen(xml), sum);
    record(f, line);

    if (strcmp(f->mode, "admit") == 0)
        return sd_bus_reply_method_return(m, "bs", 1, f->arg);
    if (strcmp(f->mode, "refuse") == 0)
        return sd_bus_reply_method_return(m, "bs", 0, f->arg);
    if (strcmp(f->mode, "wrong-signature") == 0)
        return sd_bus_reply_method_return(m, "s", "admitted");
    if (strcmp(f->mode, "exit") == 0) {
        f->exit_now = true;
        return 1;
    }
    /* silent, delay: keep the call; delay answers it when due */
    g_ptr_array_add(f->held, sd_bus_message_ref(m));
    uint64_t due =
        strcmp(f->mode, "delay") == 0 ? now_ms() + strtoull(f->arg, NULL, 10) : UINT64_MAX;
    g_array_append_val(f->due_ms, due);
    return 1;
}

static int on_release(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
    Fake *f = userdata;
    const char *name;
    int r = sd_bus_message_read(m, "s", &name);
    if (r < 0)
        return r;
    g_autofree char *line = g_strdup_printf("Release name=%s", name);
    record(f, line);
    if (strcmp(f->mode, "silent") == 0) {
        g_ptr_array_add(f->held, sd_bus_message_ref(m));
        uint64_t never = UINT64_MAX;
        g_array_append_val(f->due_ms, never);
        return 1;
    }
    return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable fake_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Admit", SD_BUS_ARGS("s", domain_xml),
                            SD_BUS_RESULT("b", admitted, "s", message), on_admit,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("s", domain_name), SD_BUS_NO_RESULT, on_release,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

/* The same, declaring what wrong-signature replies (sd-bus checks a
 * reply against its method's declared result). */
static const sd_bus_vtable wrong_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Admit", SD_BUS_ARGS("s", domain_xml), SD_BUS_RESULT("s", nonsense),
                            on_admit, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("s", domain_name), SD_BUS_NO_RESULT, on_release,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

/* Answer the delayed calls that are due; returns the µs until the next. */
static uint64_t answer_due(Fake *f, sd_bus *bus)
{
    uint64_t next = UINT64_MAX, now = now_ms();
    for (guint i = 0; i < f->held->len;) {
        uint64_t due = g_array_index(f->due_ms, uint64_t, i);
        if (due <= now) {
            sd_bus_message *m = f->held->pdata[i];
            (void)sd_bus_reply_method_return(m, "bs", 1, "");
            (void)sd_bus_flush(bus);
            g_ptr_array_remove_index(f->held, i);
            g_array_remove_index(f->due_ms, i);
            continue;
        }
        if (due != UINT64_MAX)
            next = MIN(next, (due - now) * 1000);
        i++;
    }
    return next;
}

static void unref_message(gpointer m)
{
    sd_bus_message_unref(m);
}

static int mute_socket(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "fake-dynmemd: socket: %s\n", g_strerror(errno));
        return 1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        fprintf(stderr, "fake-dynmemd: %s: %s\n", path, g_strerror(errno));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);
    /* connections are kept open (never closed, never written) until killed */
    for (;;)
        if (accept(fd, NULL, NULL) < 0 && errno != EINTR)
            return 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--mute-socket") == 0)
        return mute_socket(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: fake-dynmemd RECORD MODE [ARG]\n");
        return 2;
    }
    Fake f = {
        .record = argv[1],
        .mode = argv[2],
        .arg = argc > 3 ? argv[3] : "",
        .held = g_ptr_array_new_with_free_func(unref_message),
        .due_ms = g_array_new(FALSE, FALSE, sizeof(uint64_t)),
    };
    g_autoptr(sd_bus) bus = NULL;
    int r = sd_bus_open_system(&bus);
    if (r >= 0)
        r = sd_bus_add_object_vtable(
            bus, NULL, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
            strcmp(f.mode, "wrong-signature") == 0 ? wrong_vtable : fake_vtable, &f);
    if (r >= 0)
        r = sd_bus_request_name(bus, DYNMEM_BUS_NAME, 0);
    if (r < 0) {
        fprintf(stderr, "fake-dynmemd: %s\n", g_strerror(-r));
        return 1;
    }
    printf("READY\n");
    fflush(stdout);

    while (!f.exit_now) {
        r = sd_bus_process(bus, NULL);
        if (r < 0) {
            fprintf(stderr, "fake-dynmemd: %s\n", g_strerror(-r));
            break;
        }
        uint64_t next = answer_due(&f, bus);
        if (r == 0 && sd_bus_wait(bus, next) < 0)
            break;
    }
    g_ptr_array_free(f.held, TRUE);
    g_array_free(f.due_ms, TRUE);
    return 0;
}
