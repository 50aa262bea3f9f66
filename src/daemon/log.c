/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"
#include "log-limit.h"
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-journal.h>

/* Process-wide state: where log lines go (set once at start-up, before the
 * main loop, and only read afterwards), and the repeated-warning limiter
 * below. */
static DynmemLog log_target = {.max_level = LOG_INFO, .journal = false};

static const char *const level_names[] = {
    [LOG_EMERG] = "emergency", [LOG_ALERT] = "alert",     [LOG_CRIT] = "critical",
    [LOG_ERR] = "error",       [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info",       [LOG_DEBUG] = "debug",
};

int dynmem_log_level_from_string(const char *s, int *ret_level)
{
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *ret_level = i;
            return 0;
        }
    }
    return -EINVAL;
}

/* systemd sets JOURNAL_STREAM=dev:ino for the stream it connected to our
 * stderr; only if stderr is still that stream do we speak journal. */
static bool stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void dynmem_log_setup(int max_level)
{
    log_target.max_level = max_level;
    log_target.journal = stderr_is_journal();
}

int dynmem_log_get_level(void)
{
    return log_target.max_level;
}

static void emit_line(int level, const char *msg)
{
    if (log_target.journal)
        sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=dynmemd", NULL);
    else
        fprintf(stderr, "dynmemd: %s: %s\n", level_names[level], msg);
}

/* Warnings and errors that repeat word for word: once a minute, with a
 * count (log-limit.h). Notices (each memory change) are never held. */
static LogLimiter log_limiter;

void dynmem_log(int level, const char *fmt, ...)
{
    if (level > log_target.max_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    uint64_t held = 0;
    if (level <= LOG_WARNING &&
        !log_limiter_admit(&log_limiter, msg, (uint64_t)g_get_monotonic_time(), &held))
        return;
    if (held > 0) {
        g_autofree char *counted = g_strdup_printf(
            "%s (and %" G_GUINT64_FORMAT " more times since it was last said)", msg, held);
        emit_line(level, counted);
        return;
    }
    emit_line(level, msg);
}

void dynmem_log_change(const char *domain, uint64_t from_kib, uint64_t to_kib,
                       const char *mechanism, const char *detail, const char *reason, bool dry_run)
{
    /* A change the line cannot show (the same MiB either side: a balloon
     * re-sent at the figure it has, to stop an inflation in flight, or a
     * step under a MiB) is no change for the journal: debug. On
     * dynmem-sim's overcommit-weights they were 11,803 of 130,155 lines. */
    int level = from_kib / 1024 == to_kib / 1024 ? LOG_DEBUG : LOG_NOTICE;
    if (level > log_target.max_level)
        return;
    g_autofree char *msg =
        g_strdup_printf("%s: %s %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " MiB by %s (%s): %s",
                        domain, dry_run ? "would change memory" : "memory", from_kib / 1024,
                        to_kib / 1024, mechanism, detail, reason);
    if (!log_target.journal) {
        emit_line(level, msg);
        return;
    }
    sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=dynmemd",
                    "DYNMEM_DOMAIN=%s", domain, "DYNMEM_FROM_KIB=%" G_GUINT64_FORMAT, from_kib,
                    "DYNMEM_TO_KIB=%" G_GUINT64_FORMAT, to_kib, "DYNMEM_MECHANISM=%s", mechanism,
                    "DYNMEM_DETAIL=%s", detail, "DYNMEM_REASON=%s", reason, "DYNMEM_DRY_RUN=%d",
                    dry_run ? 1 : 0, NULL);
}

void dynmem_log_action_error(const char *domain, const char *action, const char *message)
{
    /* libvirt's messages may quote the domain's name */
    g_autofree char *escaped = policy_escape(message, 0);
    g_autofree char *msg = g_strdup_printf("%s: %s failed: %s", domain, action, escaped);
    if (!log_target.journal) {
        emit_line(LOG_WARNING, msg);
        return;
    }
    sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", LOG_WARNING, "SYSLOG_IDENTIFIER=dynmemd",
                    "DYNMEM_DOMAIN=%s", domain, "DYNMEM_ACTION=%s", action, NULL);
}
