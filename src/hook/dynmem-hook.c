/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmem-hook: libvirt's qemu hook for admission control (dynmem-hook(8)).
 *
 * libvirtd runs it as `HOOK DOMAIN OPERATION SUBOPERATION EXTRA` with the
 * domain XML on stdin and waits for it, so it never calls libvirt (that
 * would deadlock). On `prepare begin` it asks dynmemd's Admit over D-Bus
 * and exits 1 to refuse the start; on `stopped end` and `release end` it
 * tells dynmemd to Release the domain; everything else is left alone.
 *
 * It never writes to stdout: in /etc/libvirt/hooks/qemu.d/ each script's
 * output is the next one's XML, and empty output means "unchanged".
 */
#include "bus-names.h"
#include "config-file.h"
#include "dynmem-config.h"
#include "hook-core.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG_PATH DYNMEM_SYSCONFDIR "/policy.yaml"

/* What the alarm says and returns when a call outlives its timeout (a bus
 * that accepted the connection and then hung). Set before the alarm is
 * armed; the handler only writes and exits. */
static char *alarm_line;
static int alarm_status;

static void on_alarm(int sig)
{
    if (alarm_line) {
        ssize_t k = write(STDERR_FILENO, alarm_line, strlen(alarm_line));
        (void)k;
    }
    _exit(alarm_status);
}

/* Arm the alarm for a call of timeout_us; line (may be NULL) and status
 * are what the hook says and returns if it goes off. */
static void arm_alarm(uint64_t timeout_us, const char *line, int status)
{
    g_free(alarm_line);
    alarm_line = line ? g_strdup_printf("%s\n", line) : NULL;
    alarm_status = status;
    uint64_t seconds = (timeout_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC + HOOK_ALARM_GRACE_S;
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)MIN(seconds, 24u * 3600u));
}

static void disarm_alarm(void)
{
    alarm(0);
}

static void say(const char *line)
{
    if (line)
        fprintf(stderr, "%s\n", line);
}

/* Read stdin to its end: at most max_bytes kept, the rest read and dropped
 * (libvirt writes the whole XML and must never meet a closed pipe). A
 * terminal is not read (a person trying the hook by hand). Returns 0 or a
 * negative errno (-EFBIG: more than max_bytes; the text is then empty). */
static int drain_stdin(size_t max_bytes, GByteArray **ret_text)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    bool too_large = false;
    int r = 0;

    if (isatty(STDIN_FILENO)) {
        *ret_text = g_steal_pointer(&buf);
        return 0;
    }
    for (;;) {
        guint8 chunk[65536];
        ssize_t k = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            /* stdin closed or not readable: nothing more to drain */
            r = errno == EBADF ? 0 : -errno;
            break;
        }
        if (k == 0)
            break;
        if (too_large)
            continue;
        if (buf->len + (size_t)k > max_bytes) {
            too_large = true;
            g_byte_array_set_size(buf, 0);
            continue;
        }
        g_byte_array_append(buf, chunk, (guint)k);
    }
    if (too_large)
        r = -EFBIG;
    *ret_text = g_steal_pointer(&buf);
    return r;
}

/* A call of dynmemd's METHOD with one string argument, on a new
 * connection to the system bus: *ret_bus and *ret_m. Returns 0, or a
 * negative errno and *ret_reason (one line). */
static int new_manager_call(const char *method, const char *arg, sd_bus **ret_bus,
                            sd_bus_message **ret_m, char **ret_reason)
{
    g_autoptr(sd_bus) bus = NULL;
    g_autoptr(sd_bus_message) m = NULL;

    /* sd-bus honours DBUS_SYSTEM_BUS_ADDRESS (tests); libvirt passes no
     * such variable, so it is the system bus's socket. */
    int r = sd_bus_open_system(&bus);
    if (r < 0) {
        *ret_reason = g_strdup_printf("cannot connect to the system bus: %s", g_strerror(-r));
        return r;
    }
    r = sd_bus_message_new_method_call(bus, &m, DYNMEM_BUS_NAME, DYNMEM_BUS_PATH,
                                       DYNMEM_BUS_MANAGER_IFACE, method);
    if (r >= 0)
        /* dynmemd is a service of its own, never started for a call */
        r = sd_bus_message_set_auto_start(m, 0);
    if (r >= 0)
        r = sd_bus_message_append(m, "s", arg);
    if (r < 0) {
        *ret_reason = g_strdup_printf("cannot build the %s call: %s", method, g_strerror(-r));
        return r;
    }
    *ret_bus = g_steal_pointer(&bus);
    *ret_m = g_steal_pointer(&m);
    return 0;
}

/* Call dynmemd's METHOD with one string argument. Returns 0 and *ret_reply;
 * or a negative errno and *ret_reason (why there is no reply, one line). */
static int call_manager(const char *method, const char *arg, uint64_t timeout_us,
                        sd_bus_message **ret_reply, char **ret_reason)
{
    g_autoptr(sd_bus) bus = NULL;
    g_autoptr(sd_bus_message) m = NULL;
    g_autoptr(sd_bus_message) reply = NULL;
    g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;

    int r = new_manager_call(method, arg, &bus, &m, ret_reason);
    if (r < 0)
        return r;
    r = sd_bus_call(bus, m, timeout_us, &error, &reply);
    if (r < 0) {
        *ret_reason = hook_call_failure_reason(r, error.name, error.message, method, timeout_us);
        return r;
    }
    *ret_reply = g_steal_pointer(&reply);
    return 0;
}

/* prepare begin. Returns the exit status. */
static int admit(const HookArgs *a, int stdin_r, GByteArray *xml)
{
    const char *path = a->config_path ? a->config_path : DEFAULT_CONFIG_PATH;
    g_autoptr(PolicyConfig) cfg = NULL;
    g_autoptr(GPtrArray) errors = NULL;

    int r = dynmem_config_load_file(path, &cfg, &errors);
    if (r == -ENOENT) {
        cfg = policy_config_new_default();
    } else if (r < 0) {
        /* We cannot know what the operator wanted here; dynmemd still runs
         * its last good policy, so it decides, and without an answer the
         * built-in admission-unreachable (allow) applies. */
        g_autofree char *line = hook_policy_problem_line(path, errors);
        say(line);
        cfg = policy_config_new_default();
    }
    if (cfg->admission == POLICY_ADMISSION_OFF)
        return 0;

    g_autofree char *reason = NULL;
    g_autofree char *line = NULL;
    if (stdin_r == -EFBIG)
        reason = g_strdup_printf("the domain XML is larger than %d MiB, the most the hook reads",
                                 HOOK_STDIN_MAX_BYTES / (1024 * 1024));
    else if (stdin_r < 0)
        reason = g_strdup_printf("cannot read the domain XML: %s", g_strerror(-stdin_r));
    else if (memchr(xml->data, '\0', xml->len) ||
             !g_utf8_validate((const char *)xml->data, (gssize)xml->len, NULL))
        /* a D-Bus string is UTF-8 without NUL; libvirt's XML always is */
        reason = g_strdup("the domain XML is not valid UTF-8 text");
    if (reason) {
        int status = hook_unreachable_outcome(a->domain, reason, cfg->unreachable, &line);
        say(line);
        return status;
    }
    g_byte_array_append(xml, (const guint8 *)"", 1);

    uint64_t timeout_us = hook_call_timeout_us(cfg->admission_wait_us, a->margin_us);
    g_autofree char *late = hook_call_failure_reason(-ETIMEDOUT, NULL, NULL, "Admit", timeout_us);
    g_autofree char *late_line = NULL;
    int late_status = hook_unreachable_outcome(a->domain, late, cfg->unreachable, &late_line);
    arm_alarm(timeout_us, late_line, late_status);

    g_autoptr(sd_bus_message) reply = NULL;
    r = call_manager("Admit", (const char *)xml->data, timeout_us, &reply, &reason);
    int admitted = 0;
    const char *message = NULL;
    if (r >= 0) {
        if (sd_bus_message_has_signature(reply, "bs") <= 0) {
            g_autofree char *sig = hook_message_for_line(sd_bus_message_get_signature(reply, 1));
            reason = g_strdup_printf("a reply of type '%s' to Admit, not 'bs'", sig);
        } else if ((r = sd_bus_message_read(reply, "bs", &admitted, &message)) < 0) {
            reason = g_strdup_printf("cannot read Admit's reply: %s", g_strerror(-r));
        }
    }
    disarm_alarm();
    int status = reason ? hook_unreachable_outcome(a->domain, reason, cfg->unreachable, &line)
                        : hook_answer_outcome(a->domain, admitted, message, &line);
    say(line);
    return status;
}

/* stopped end, release end: whatever happens, the stop goes on. Release
 * is sent without waiting for a reply: libvirt holds the domain while its
 * hooks run, and dynmemd may be in a call to libvirt that waits for it. */
static void release(const HookArgs *a)
{
    g_autoptr(sd_bus) bus = NULL;
    g_autoptr(sd_bus_message) m = NULL;
    g_autofree char *reason = NULL;

    /* a name D-Bus cannot carry names no domain dynmemd knows */
    if (!g_utf8_validate(a->domain, -1, NULL))
        return;
    arm_alarm(HOOK_RELEASE_TIMEOUT_US, NULL, 0);
    if (new_manager_call("Release", a->domain, &bus, &m, &reason) >= 0 &&
        sd_bus_message_set_expect_reply(m, 0) >= 0 && sd_bus_send(bus, m, NULL) >= 0)
        (void)sd_bus_flush(bus);
    disarm_alarm();
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: dynmem-hook [--config FILE] [--timeout-margin DURATION] "
               "DOMAIN OPERATION SUBOPERATION EXTRA\n"
               "libvirt's qemu hook for dynmem's admission control: installed as\n"
               "/etc/libvirt/hooks/qemu.d/dynmem, run by libvirtd with the domain XML on\n"
               "stdin. See dynmem-hook(8).\n"
               "  --config FILE              the policy (default " DEFAULT_CONFIG_PATH ")\n"
               "  --timeout-margin DURATION  added to host.admission-wait (default 10s)\n");
}

int main(int argc, char **argv)
{
    HookArgs a;
    g_autofree char *error = NULL;

    /* a closed stderr must not kill the hook mid-decision */
    signal(SIGPIPE, SIG_IGN);

    int r = hook_args_parse(argc, argv, &a, &error);
    if (r == 0 && a.help) {
        usage(stdout);
        return 0;
    }
    if (r == 0 && a.version) {
        printf("dynmem-hook %s\n", DYNMEM_VERSION);
        return 0;
    }

    g_autoptr(GByteArray) xml = NULL;
    int stdin_r = drain_stdin(HOOK_STDIN_MAX_BYTES, &xml);

    if (r < 0) {
        /* A hook that cannot tell what libvirt asks never blocks it. */
        fprintf(stderr, "dynmem: dynmem-hook: %s; nothing done (see dynmem-hook(8))\n", error);
        return 0;
    }

    switch (hook_action_for(a.operation, a.suboperation)) {
    case HOOK_ACTION_ADMIT:
        return admit(&a, stdin_r, xml);
    case HOOK_ACTION_RELEASE:
        release(&a);
        return 0;
    case HOOK_ACTION_NONE:
    case HOOK_ACTION_LAST:
        break;
    }
    return 0;
}
