/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The recorder (daemon.record-file, dynmemd --record): each cycle, one
 * line per domain of what the manager saw and planned, appended to a CSV
 * file that dynmem-sim --from-recording turns into a scenario. The format
 * is dynmemd(8)'s RECORDING section.
 *
 * Recording must never hurt balancing: the file is bounded
 * (daemon.record-max-size), a failure to open or write it is logged once
 * and stops the recording, and nothing else depends on it. A reload
 * opens, closes or switches the file; a reload naming the same file tries
 * it again after a failure.
 */
#include "log.h"
#include "manager-private.h"
#include "record-format.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The mode of a file the recorder creates, whatever the umask: the
 * figures are no secret from the host's administrators' group, but no one
 * else needs them. */
#define RECORD_FILE_MODE 0640

const char *const manager_record_columns = DYNMEM_RECORD_COLUMNS;

static void record_close(Manager *m)
{
    if (m->record_fd >= 0)
        close(m->record_fd);
    m->record_fd = -1;
}

/* Stop for good (until a reload names the file again), saying why once. */
static void G_GNUC_PRINTF(2, 3) record_stop(Manager *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *q = policy_quote(m->record_path);
    log_warning("recording to \"%s\" stopped: %s; balancing goes on", q, why);
    record_close(m);
}

/* Open path for appending: never through a symlink, never anything but a
 * regular file (a FIFO would block the loop, a device is no record).
 * Returns an fd, or a negative errno with *ret_error. */
static int record_open(const char *path, uint64_t *ret_size, char **ret_error)
{
    /* read too: the last byte is looked at */
    const int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
    struct stat st;
    bool created = true;

    if (!g_path_is_absolute(path)) {
        *ret_error = g_strdup("not an absolute path");
        return -EINVAL;
    }
    int fd = open(path, flags | O_CREAT | O_EXCL, RECORD_FILE_MODE);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, flags);
    }
    if (fd < 0) {
        int e = errno;
        /* a FIFO without a reader, a device without a driver: ENXIO */
        *ret_error = g_strdup(e == ELOOP   ? "it is a symbolic link"
                              : e == ENXIO ? "not a regular file"
                                           : g_strerror(e));
        return -e;
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        *ret_error = g_strdup(g_strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        *ret_error = g_strdup("not a regular file");
        return -EINVAL;
    }
    /* root appending to a file linked from elsewhere writes there too */
    if (st.st_nlink > 1) {
        close(fd);
        *ret_error = g_strdup("it has other hard links");
        return -EINVAL;
    }
    /* a regular file never blocks; appends are plain writes from now on */
    if (fcntl(fd, F_SETFL, O_APPEND) < 0 || (created && fchmod(fd, RECORD_FILE_MODE) < 0)) {
        int e = errno;
        close(fd);
        *ret_error = g_strdup(g_strerror(e));
        return -e;
    }
    /* a line cut short before (an earlier run's full disk, a crash) ends
     * here, so the next line starts on its own */
    if (st.st_size > 0) {
        char last = '\n';
        if (pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n' && write(fd, "\n", 1) == 1)
            st.st_size++;
    }
    *ret_size = (uint64_t)st.st_size;
    return fd;
}

void manager_record_configure(Manager *m)
{
    const char *want = m->record_override ? m->record_override : m->cfg->record_file;
    uint64_t max_kib = m->cfg->record_max_kib;
    m->record_max_bytes = max_kib > UINT64_MAX / 1024 ? UINT64_MAX : max_kib * 1024;

    if (want && m->record_fd >= 0 && g_strcmp0(want, m->record_path) == 0)
        return; /* the same file: it goes on */
    if (m->record_fd >= 0) {
        g_autofree char *q = policy_quote(m->record_path);
        log_notice("recording to \"%s\" ended", q);
        record_close(m);
    }
    g_clear_pointer(&m->record_path, g_free);
    if (!want)
        return;
    m->record_path = g_strdup(want);
    m->record_session_started = false;
    g_autofree char *q = policy_quote(want);
    g_autofree char *err = NULL;
    int fd = record_open(want, &m->record_size, &err);
    if (fd < 0) {
        /* the usual cause under the shipped unit's ProtectSystem=strict */
        bool denied = fd == -EROFS || fd == -EACCES || fd == -EPERM;
        log_warning("cannot record to \"%s\": %s%s; balancing goes on without recording", q, err,
                    denied ? " (the unit lets dynmemd write only under its state directory and "
                             "its ReadWritePaths=)"
                           : "");
        return;
    }
    m->record_fd = fd;
    log_notice("recording every domain's figures to \"%s\" (%" G_GUINT64_FORMAT
               " bytes so far, stopping at %" G_GUINT64_FORMAT ")",
               q, m->record_size, m->record_max_bytes);
}

void manager_record_close(Manager *m)
{
    record_close(m);
    g_clear_pointer(&m->record_path, g_free);
}

bool manager_is_recording(Manager *m)
{
    return m->record_fd >= 0;
}

/* An unsigned figure, or an empty field when it is unknown. */
static void put_kib(GString *out, bool known, uint64_t kib)
{
    g_string_append_c(out, ',');
    if (known)
        g_string_append_printf(out, "%" G_GUINT64_FORMAT, kib);
}

/* The name, escaped as every outside text we show (no control
 * characters), and quoted as CSV when it holds a comma or a quote. */
static void put_name(GString *out, const char *name)
{
    g_autofree char *e = policy_escape(name ? name : "", 0);
    if (!strpbrk(e, ",\"")) {
        g_string_append(out, e);
        return;
    }
    g_string_append_c(out, '"');
    for (const char *c = e; *c; c++) {
        if (*c == '"')
            g_string_append_c(out, '"');
        g_string_append_c(out, *c);
    }
    g_string_append_c(out, '"');
}

void manager_record_format_line(GString *out, uint64_t since_us, const ManagerDomain *d)
{
    const PolicyDomainCaps *c = &d->caps;
    const PolicyDomainSample *s = d->has_sample ? &d->sample : NULL;
    const PolicyPlanEntry *e = d->has_entry ? &d->entry : NULL;
    uint64_t vmem = 0, block = 0;

    for (size_t i = 0; i < c->n_virtio_mem; i++) {
        vmem += c->virtio_mem[i].size_kib;
        block = MAX(block, c->virtio_mem[i].block_kib);
    }
    bool dimms = c->dimm_node >= 0 && c->max_memory_kib > 0;
    g_string_append_printf(out, "%" G_GUINT64_FORMAT ".%03u,%s,%s,%s", since_us / G_USEC_PER_SEC,
                           (unsigned)(since_us % G_USEC_PER_SEC / 1000), d->uuid,
                           e ? policy_status_to_string(e->status) : "",
                           policy_mode_to_string(d->policy.mode));
    put_kib(out, s != NULL, s ? s->assigned_kib : 0);
    put_kib(out, s != NULL, s ? s->balloon_kib : 0);
    put_kib(out, s && s->has_usable, s ? s->usable_kib : 0);
    put_kib(out, s && s->has_available, s ? s->available_kib : 0);
    put_kib(out, s && s->has_swap_in, s ? s->swap_in_kib : 0);
    put_kib(out, e != NULL, e ? e->demand_kib : 0);
    put_kib(out, e != NULL, e ? e->target_kib : 0);
    put_kib(out, true, c->balloon_max_kib);
    put_kib(out, true, vmem);
    put_kib(out, true, block);
    put_kib(out, true, dimms ? c->max_memory_kib : 0);
    put_kib(out, true, dimms ? c->free_dimm_slots : 0);
    put_kib(out, true, c->balloon_autodeflate ? 1 : 0);
    put_kib(out, e != NULL, e ? e->minimum_kib : 0);
    put_kib(out, e != NULL, e ? e->maximum_kib : 0);
    put_kib(out, true, d->policy.buffer_pct);
    put_kib(out, true, d->policy.weight);
    g_string_append_c(out, ',');
    put_name(out, d->name);
    g_string_append_c(out, '\n');
}

/* A session begins each time the file is opened: when, the host as the
 * first cycle saw it, and the columns. */
static void format_session(Manager *m, GString *out, const PolicyPlanSummary *summary)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *iso = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
    if (m->record_size == 0)
        g_string_append_printf(out,
                               "# dynmem recording, format %d: one line a domain a cycle "
                               "(dynmemd(8); replayed by dynmem-sim --from-recording)\n",
                               DYNMEM_RECORD_FORMAT);
    g_string_append_printf(
        out, "# session start=%s unix=%" G_GINT64_FORMAT " interval-ms=%" G_GUINT64_FORMAT "\n",
        iso, g_date_time_to_unix(now), manager_get_interval_us(m) / 1000);
    g_string_append_printf(out,
                           "# host mem-total-kib=%" G_GUINT64_FORMAT
                           " reserve-kib=%" G_GUINT64_FORMAT " other-kib=%" G_GUINT64_FORMAT
                           " pool-kib=%" G_GUINT64_FORMAT " overhead-kib=%" G_GUINT64_FORMAT "\n",
                           m->host.mem_total_kib, summary->reserve_kib, summary->other_use_kib,
                           m->cfg->pool_kib, m->cfg->overhead_kib);
    g_string_append_printf(out, "%s\n", manager_record_columns);
}

void manager_record_cycle(Manager *m, uint64_t now, const PolicyPlanSummary *summary)
{
    if (m->record_fd < 0)
        return;
    g_autoptr(GString) out = g_string_new(NULL);
    if (!m->record_session_started) {
        format_session(m, out, summary);
        m->record_start_us = now;
    }
    for (guint i = 0; i < m->order->len; i++)
        manager_record_format_line(out, now - MIN(now, m->record_start_us), m->order->pdata[i]);
    if (m->record_size + out->len > m->record_max_bytes) {
        record_stop(m,
                    "this cycle would take the file past daemon.record-max-size (%" G_GUINT64_FORMAT
                    " bytes)",
                    m->record_max_bytes);
        return;
    }
    for (size_t done = 0; done < out->len;) {
        ssize_t n = write(m->record_fd, out->str + done, out->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            /* a cycle is all in or all out: what of it was written goes */
            if (done > 0 && ftruncate(m->record_fd, (off_t)(m->record_size - done)) == 0)
                m->record_size -= done;
            record_stop(m, "cannot write: %s", e ? g_strerror(e) : "nothing written");
            return;
        }
        done += (size_t)n;
        m->record_size += (uint64_t)n;
    }
    m->record_session_started = true;
}
