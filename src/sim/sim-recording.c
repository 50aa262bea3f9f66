/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-recording.h"

#include "config.h"
#include "record-format.h"
#include "sim-model.h"
#include "text.h"
#include "units.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Longer lines than this are no line of ours (a recorded line is about
 * 200 bytes; a name is at most 64 KiB escaped only on hostile input). */
#define LINE_MAX_BYTES (16 * 1024)
/* The largest figure taken, in KiB (512 TiB: more than any host, and
 * within what a trace's MiB column holds). */
#define FIGURE_MAX_KIB ((guint64)1 << 39)
/* The longest recording replayed (a scenario lasts at most a year). */
#define SPAN_MAX_US (365ULL * 86400 * G_USEC_PER_SEC)
/* The smallest VM the scenario loader takes. */
#define VM_MIN_KIB (64 * 1024)

/* One recorded domain, in the order of its first line. */
typedef struct {
    char uuid[37];
    char *name;
    uint64_t first_us, last_us;
    /* from its first line */
    bool dynamic;
    uint64_t balloon_max_kib, vmem_kib, vmem_block_kib, max_memory_kib, dimm_slots;
    bool autodeflate;
    bool has_bounds;
    uint64_t minimum_kib, maximum_kib, buffer_pct, weight;
    /* the trace: (seconds, KiB) as the workload used it */
    GString *trace;
    bool has_point;
    uint64_t last_kib;
    unsigned n_points;
} Domain;

static void domain_free(void *p)
{
    Domain *d = p;
    g_free(d->name);
    if (d->trace)
        g_string_free(d->trace, TRUE);
    g_free(d);
}

void sim_recording_scenario_free(SimRecordingScenario *r)
{
    if (!r)
        return;
    g_free(r->yaml);
    if (r->files)
        g_ptr_array_unref(r->files);
    if (r->texts)
        g_ptr_array_unref(r->texts);
    g_free(r);
}

uint64_t sim_recording_kernel_reserve_kib(uint64_t boot_kib)
{
    SimModel m;
    sim_model_defaults(&m);
    return m.reserve_base_kib + boot_kib / 1000 * m.reserve_permille;
}

typedef struct {
    GPtrArray *domains; /* Domain*, first seen first */
    GHashTable *by_uuid;
    bool has_columns; /* the column line of this session was read */
    bool has_host;
    uint64_t host_total_kib, host_reserve_kib, host_other_kib;
    uint64_t host_pool_kib; /* 0: unlimited */
    bool has_overhead;
    uint64_t host_overhead_kib;
    uint64_t interval_us;
    bool has_session;
    int64_t first_unix;    /* the first session's start, 0: unknown */
    uint64_t offset_us;    /* this session's time 0 in the scenario */
    uint64_t session_last; /* the last time of this session, relative to it */
    uint64_t end_us;       /* the last time in the recording */
    uint64_t n_samples;
} Reader;

/* "key=number" in a comment line; false when absent or not a number. */
static bool comment_value(const char *line, const char *key, uint64_t *ret)
{
    g_autofree char *pat = g_strdup_printf(" %s=", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    char *end = NULL;
    if (!g_ascii_isdigit(*p))
        return false;
    errno = 0;
    guint64 v = g_ascii_strtoull(p, &end, 10);
    if (errno || (*end != ' ' && *end != '\0') || v > FIGURE_MAX_KIB)
        return false;
    *ret = v;
    return true;
}

static int read_comment(Reader *r, const char *line, unsigned no, char **ret_error)
{
    if (g_str_has_prefix(line, "# session ")) {
        uint64_t unix_s = 0, interval_ms = 0;
        bool has_unix = comment_value(line, "unix", &unix_s);
        if (comment_value(line, "interval-ms", &interval_ms)) {
            if (interval_ms < 100 || interval_ms > 3600 * 1000)
                return policy_set_error(ret_error, -EINVAL,
                                        "%u: interval-ms out of range 100..3600000", no);
            if (!r->has_session)
                r->interval_us = interval_ms * 1000;
        }
        if (!r->has_session) {
            r->first_unix = has_unix ? (int64_t)unix_s : 0;
            r->offset_us = 0;
        } else {
            /* after the last session, at its wall-clock distance when both
             * say when they began (the daemon was down between them) */
            uint64_t after = r->end_us + r->interval_us;
            if (has_unix && r->first_unix && (int64_t)unix_s > r->first_unix &&
                (uint64_t)((int64_t)unix_s - r->first_unix) < 366ULL * 86400)
                r->offset_us =
                    MAX(after, (uint64_t)((int64_t)unix_s - r->first_unix) * G_USEC_PER_SEC);
            else
                r->offset_us = after;
        }
        r->has_session = true;
        r->has_columns = false;
        r->session_last = 0;
    } else if (g_str_has_prefix(line, "# host ") && !r->has_host) {
        if (!comment_value(line, "mem-total-kib", &r->host_total_kib) ||
            !comment_value(line, "reserve-kib", &r->host_reserve_kib))
            return policy_set_error(ret_error, -EINVAL,
                                    "%u: a host line needs mem-total-kib= and reserve-kib= "
                                    "(KiB, at most 512 TiB)",
                                    no);
        comment_value(line, "other-kib", &r->host_other_kib);
        comment_value(line, "pool-kib", &r->host_pool_kib);
        r->has_overhead = comment_value(line, "overhead-kib", &r->host_overhead_kib);
        r->has_host = true;
    }
    return 0;
}

/* A whole number in KiB (or a count); empty when `optional`. */
static int field_u64(char *f, bool optional, uint64_t *ret, bool *ret_has)
{
    if (*f == '\0') {
        if (ret_has)
            *ret_has = false;
        return optional ? 0 : -EINVAL;
    }
    guint64 v;
    if (!g_ascii_string_to_unsigned(f, 10, 0, FIGURE_MAX_KIB, &v, NULL))
        return -EINVAL;
    *ret = v;
    if (ret_has)
        *ret_has = true;
    return 0;
}

/* "SECONDS.MMM" → µs. */
static int field_time(const char *f, uint64_t *ret_us)
{
    char *end = NULL;
    if (!g_ascii_isdigit(*f))
        return -EINVAL;
    double s = g_ascii_strtod(f, &end);
    if (*end != '\0' || !isfinite(s) || s < 0 || s > 366.0 * 86400)
        return -EINVAL;
    *ret_us = (uint64_t)llround(s * 1e6);
    return 0;
}

static bool uuid_valid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !g_ascii_isxdigit(s[i]))
            return false;
    }
    return true;
}

/* Text the recorder escaped is shown as it is; anything else (not UTF-8,
 * control characters: not written by dynmemd) is escaped here. */
static char *shown(char *text)
{
    bool plain = g_utf8_validate(text, -1, NULL);
    for (const char *c = text; plain && *c; c++)
        plain = (unsigned char)*c >= 0x20 && *c != 0x7f;
    if (plain)
        return text;
    char *e = policy_escape(text, 0);
    g_free(text);
    return e;
}

/* The name field: plain, or quoted as CSV ("" for a quote). */
static char *field_name(const char *f)
{
    if (*f != '"')
        return shown(g_strdup(f));
    GString *s = g_string_new(NULL);
    for (const char *c = f + 1; *c; c++) {
        if (*c == '"' && c[1] == '"')
            c++;
        else if (*c == '"')
            break;
        g_string_append_c(s, *c);
    }
    return shown(g_string_free(s, FALSE));
}

static const char *const column_names[RECORD_COL_LAST] = {
    [RECORD_COL_ASSIGNED] = "assigned_kib",
    [RECORD_COL_BALLOON] = "balloon_kib",
    [RECORD_COL_USABLE] = "usable_kib",
    [RECORD_COL_MEMTOTAL] = "memtotal_kib",
    [RECORD_COL_SWAP_IN] = "swap_in_kib",
    [RECORD_COL_DEMAND] = "demand_kib",
    [RECORD_COL_TARGET] = "target_kib",
    [RECORD_COL_BALLOON_MAX] = "balloon_max_kib",
    [RECORD_COL_VIRTIO_MEM] = "virtio_mem_kib",
    [RECORD_COL_VIRTIO_MEM_BLOCK] = "virtio_mem_block_kib",
    [RECORD_COL_MAX_MEMORY] = "max_memory_kib",
    [RECORD_COL_DIMM_SLOTS] = "dimm_slots",
    [RECORD_COL_AUTODEFLATE] = "autodeflate",
    [RECORD_COL_MINIMUM] = "minimum_kib",
    [RECORD_COL_MAXIMUM] = "maximum_kib",
    [RECORD_COL_BUFFER] = "buffer_pct",
    [RECORD_COL_WEIGHT] = "weight",
};

/* Which columns may be empty: what a domain without stats or a plan
 * lacks. */
static bool column_optional(int col)
{
    switch (col) {
    case RECORD_COL_ASSIGNED:
    case RECORD_COL_BALLOON:
    case RECORD_COL_USABLE:
    case RECORD_COL_MEMTOTAL:
    case RECORD_COL_SWAP_IN:
    case RECORD_COL_DEMAND:
    case RECORD_COL_TARGET:
    case RECORD_COL_MINIMUM:
    case RECORD_COL_MAXIMUM:
        return true;
    default:
        return false;
    }
}

/* The workload's use as the guest saw it: MemTotal − MemAvailable (the
 * kernel's reserve is not in MemTotal, and the model adds its own); where
 * MemTotal is not recorded (autodeflate guests, old drivers), assigned −
 * MemAvailable less the reserve the model will add. */
static bool used_kib(const uint64_t *v, const bool *has, uint64_t *ret)
{
    if (!has[RECORD_COL_USABLE])
        return false;
    uint64_t usable = v[RECORD_COL_USABLE];
    if (has[RECORD_COL_MEMTOTAL]) {
        *ret = v[RECORD_COL_MEMTOTAL] > usable ? v[RECORD_COL_MEMTOTAL] - usable : 0;
        return true;
    }
    if (!has[RECORD_COL_ASSIGNED])
        return false;
    uint64_t in_use = v[RECORD_COL_ASSIGNED] > usable ? v[RECORD_COL_ASSIGNED] - usable : 0;
    uint64_t reserve = sim_recording_kernel_reserve_kib(v[RECORD_COL_BALLOON_MAX]);
    *ret = in_use > reserve ? in_use - reserve : 0;
    return true;
}

static void add_point(Domain *d, uint64_t t_us, uint64_t kib)
{
    if (d->has_point && d->last_kib == kib)
        return; /* a CSV trace holds each point until the next */
    char mib[G_ASCII_DTOSTR_BUF_SIZE];
    /* KiB / 1024 is exact in a double and printed exactly */
    g_ascii_dtostr(mib, sizeof(mib), (double)kib / 1024.0);
    g_string_append_printf(d->trace, "%" G_GUINT64_FORMAT ".%03u,%s\n", t_us / G_USEC_PER_SEC,
                           (unsigned)(t_us % G_USEC_PER_SEC / 1000), mib);
    d->has_point = true;
    d->last_kib = kib;
    d->n_points++;
}

static int read_data(Reader *r, char *line, unsigned no, char **ret_error)
{
    char *f[RECORD_COL_LAST];
    char *p = line;
    for (int i = 0; i < RECORD_COL_NAME; i++) {
        char *comma = strchr(p, ',');
        if (!comma)
            return policy_set_error(ret_error, -EINVAL, "%u: expected %d fields, found %d", no,
                                    RECORD_COL_LAST, i + 1);
        *comma = '\0';
        f[i] = p;
        p = comma + 1;
    }
    f[RECORD_COL_NAME] = p;

    uint64_t t_us;
    if (field_time(f[RECORD_COL_TIME], &t_us) < 0) {
        g_autofree char *q = policy_quote(f[RECORD_COL_TIME]);
        return policy_set_error(ret_error, -EINVAL, "%u: time_s: expected seconds, found \"%s\"",
                                no, q);
    }
    if (t_us < r->session_last)
        return policy_set_error(ret_error, -EINVAL, "%u: time goes backwards", no);
    if (!uuid_valid(f[RECORD_COL_UUID])) {
        g_autofree char *q = policy_quote(f[RECORD_COL_UUID]);
        return policy_set_error(ret_error, -EINVAL, "%u: uuid: not a UUID: \"%s\"", no, q);
    }
    const char *mode = f[RECORD_COL_MODE];
    if (strcmp(mode, "dynamic") != 0 && strcmp(mode, "static") != 0) {
        g_autofree char *q = policy_quote(mode);
        return policy_set_error(ret_error, -EINVAL,
                                "%u: mode: expected dynamic or static, found \"%s\"", no, q);
    }
    uint64_t v[RECORD_COL_LAST] = {0};
    bool has[RECORD_COL_LAST] = {0};
    for (int i = RECORD_COL_ASSIGNED; i < RECORD_COL_NAME; i++)
        if (field_u64(f[i], column_optional(i), &v[i], &has[i]) < 0) {
            g_autofree char *q = policy_quote(f[i]);
            return policy_set_error(ret_error, -EINVAL,
                                    "%u: %s: expected a whole number, found \"%s\"", no,
                                    column_names[i], q);
        }
    if (v[RECORD_COL_AUTODEFLATE] > 1 || v[RECORD_COL_BUFFER] > POLICY_BUFFER_MAX_PCT ||
        v[RECORD_COL_WEIGHT] > POLICY_WEIGHT_MAX || v[RECORD_COL_DIMM_SLOTS] > 256)
        return policy_set_error(ret_error, -EINVAL,
                                "%u: autodeflate, buffer_pct, weight or dimm_slots out of range",
                                no);
    g_autofree char *name = field_name(f[RECORD_COL_NAME]);
    if (*name == '\0')
        return policy_set_error(ret_error, -EINVAL, "%u: name: empty", no);

    r->session_last = t_us;
    t_us += r->offset_us;
    if (t_us > SPAN_MAX_US)
        return policy_set_error(ret_error, -EINVAL, "%u: more than a year after the first sample",
                                no);
    r->end_us = MAX(r->end_us, t_us);
    r->n_samples++;

    Domain *d = g_hash_table_lookup(r->by_uuid, f[RECORD_COL_UUID]);
    if (!d) {
        d = g_new0(Domain, 1);
        g_strlcpy(d->uuid, f[RECORD_COL_UUID], sizeof(d->uuid));
        d->name = g_steal_pointer(&name);
        d->first_us = t_us;
        d->dynamic = strcmp(mode, "dynamic") == 0;
        d->balloon_max_kib = v[RECORD_COL_BALLOON_MAX];
        d->vmem_kib = v[RECORD_COL_VIRTIO_MEM];
        d->vmem_block_kib = v[RECORD_COL_VIRTIO_MEM_BLOCK];
        d->max_memory_kib = v[RECORD_COL_MAX_MEMORY];
        d->dimm_slots = v[RECORD_COL_DIMM_SLOTS];
        d->autodeflate = v[RECORD_COL_AUTODEFLATE] == 1;
        d->has_bounds = has[RECORD_COL_MINIMUM] && has[RECORD_COL_MAXIMUM];
        d->minimum_kib = v[RECORD_COL_MINIMUM];
        d->maximum_kib = v[RECORD_COL_MAXIMUM];
        d->buffer_pct = v[RECORD_COL_BUFFER];
        d->weight = v[RECORD_COL_WEIGHT];
        d->trace = g_string_new("seconds,MiB\n");
        g_ptr_array_add(r->domains, d);
        g_hash_table_insert(r->by_uuid, d->uuid, d);
    }
    d->last_us = MAX(d->last_us, t_us);
    uint64_t used;
    if (used_kib(v, has, &used))
        add_point(d, t_us, used);
    return 0;
}

/* Names unique in the scenario (its events name VMs): a second domain of
 * the same name gets "~2" and so on. */
static char *unique_name(GHashTable *taken, const char *name)
{
    char *n = g_strdup(name);
    for (unsigned k = 2; g_hash_table_contains(taken, n); k++) {
        g_free(n);
        n = g_strdup_printf("%s~%u", name, k);
    }
    g_hash_table_add(taken, n);
    return n;
}

static void emit_size(GString *y, const char *key, uint64_t kib)
{
    g_autofree char *s = policy_format_size_kib_exact(kib);
    g_string_append_printf(y, "    %s: %s\n", key, s);
}

static char *build_yaml(Reader *r, const char *name, GPtrArray *files, unsigned *ret_vms)
{
    GString *y = g_string_new(NULL);
    g_autofree char *qname = policy_yaml_quote(name);
    uint64_t duration = r->end_us + r->interval_us;
    g_autoptr(GHashTable) taken = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    g_string_append_printf(y,
                           "# made by dynmem-sim --from-recording from a dynmemd recording of "
                           "%" G_GUINT64_FORMAT " samples (dynmem-sim(1))\n"
                           "name: %s\nduration: %" G_GUINT64_FORMAT "ms\n",
                           r->n_samples, qname, duration / 1000);
    if (r->has_host) {
        g_autofree char *ram = policy_format_size_kib_exact(r->host_total_kib);
        g_autofree char *res = policy_format_size_kib_exact(r->host_reserve_kib);
        g_autofree char *oth = policy_format_size_kib_exact(r->host_other_kib);
        g_autofree char *pool = r->host_pool_kib ? policy_format_size_kib_exact(r->host_pool_kib)
                                                 : g_strdup("unlimited");
        g_string_append_printf(y, "host: {ram: %s, reserve: %s, other: %s, pool: %s}\n", ram, res,
                               oth, pool);
    } else {
        g_string_append(y, "# the recording has no host line: dynmem-sim's default host\n");
    }
    g_string_append_printf(y, "policy:\n  daemon: {interval: %" G_GUINT64_FORMAT "ms}\n",
                           r->interval_us / 1000);
    if (r->has_overhead) {
        g_autofree char *o = policy_format_size_kib_exact(r->host_overhead_kib);
        g_string_append_printf(y, "  host: {overhead: %s}\n", o);
    }
    g_string_append(y, "vms:\n");
    *ret_vms = 0;
    for (guint i = 0; i < r->domains->len; i++) {
        Domain *d = r->domains->pdata[i];
        g_autofree char *vname = NULL;
        g_autofree char *qvname = NULL;
        uint64_t boot = MAX(d->balloon_max_kib, VM_MIN_KIB);
        uint64_t block = d->vmem_block_kib ? d->vmem_block_kib : 2048;
        uint64_t vmem = d->vmem_kib / block * block;
        uint64_t slots = MIN(d->dimm_slots, 16);
        if (d->max_memory_kib < boot + vmem)
            slots = 0;
        vname = g_strdup(unique_name(taken, d->name));
        qvname = policy_yaml_quote(vname);
        g_string_append_printf(y, "  - name: %s  # uuid %s\n", qvname, d->uuid);
        emit_size(y, "memory", boot);
        if (vmem) {
            emit_size(y, "virtio-mem", vmem);
            emit_size(y, "virtio-mem-block", block);
        }
        if (slots) {
            g_string_append_printf(y, "    dimm-slots: %" G_GUINT64_FORMAT "\n", slots);
            emit_size(y, "max-memory", d->max_memory_kib);
        }
        g_string_append_printf(y, "    autodeflate: %s\n", d->autodeflate ? "true" : "false");
        if (!d->dynamic) {
            g_string_append(y, "    policy: {mode: static}\n");
        } else if (d->has_bounds && d->minimum_kib <= d->maximum_kib && d->maximum_kib > 0) {
            g_autofree char *lo = policy_format_size_kib_exact(d->minimum_kib);
            g_autofree char *hi = policy_format_size_kib_exact(d->maximum_kib);
            g_string_append_printf(
                y,
                "    policy: {minimum: %s, maximum: %s, buffer: %" G_GUINT64_FORMAT
                "%%, weight: %" G_GUINT64_FORMAT "}\n",
                lo, hi, d->buffer_pct, d->weight);
        } else {
            g_string_append_printf(
                y, "    policy: {buffer: %" G_GUINT64_FORMAT "%%, weight: %" G_GUINT64_FORMAT "}\n",
                d->buffer_pct, d->weight);
        }
        g_string_append_printf(y, "    start: %" G_GUINT64_FORMAT "ms\n", d->first_us / 1000);
        /* gone before the end: stopped one interval after its last line */
        if (d->last_us + 2 * r->interval_us <= r->end_us)
            g_string_append_printf(y, "    stop: %" G_GUINT64_FORMAT "ms\n",
                                   (d->last_us + r->interval_us) / 1000);
        if (d->n_points) {
            g_autofree char *qf = policy_yaml_quote(files->pdata[i]);
            g_string_append_printf(y, "    demand: {kind: csv, file: %s}\n", qf);
        } else {
            g_string_append(y, "    demand: 0  # its guest never reported\n");
        }
        (*ret_vms)++;
    }
    return g_string_free(y, FALSE);
}

int sim_recording_convert_buf(const char *text, size_t len, const char *name,
                              SimRecordingScenario **ret, char **ret_error)
{
    g_autoptr(GPtrArray) domains = g_ptr_array_new_with_free_func(domain_free);
    g_autoptr(GHashTable) by_uuid = g_hash_table_new(g_str_hash, g_str_equal);
    Reader r = {.domains = domains, .by_uuid = by_uuid, .interval_us = G_USEC_PER_SEC};
    g_autoptr(SimRecordingScenario) out = g_new0(SimRecordingScenario, 1);
    g_autofree char *line = g_malloc(LINE_MAX_BYTES + 1);
    size_t pos = 0;
    unsigned no = 0;

    if (memchr(text, '\0', len))
        return policy_set_error(ret_error, -EINVAL, "a NUL byte: not a recording");
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        no++;
        pos += n + 1;
        if (!nl) {
            /* the daemon stopped (or its disk filled) mid-write */
            out->truncated = true;
            break;
        }
        if (n > LINE_MAX_BYTES)
            return policy_set_error(ret_error, -EINVAL, "%u: longer than %d bytes", no,
                                    LINE_MAX_BYTES);
        memcpy(line, start, n);
        line[n] = '\0';
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        int rr = 0;
        if (n == 0)
            continue;
        if (line[0] == '#') {
            rr = read_comment(&r, line, no, ret_error);
        } else if (g_str_has_prefix(line, "time_s,")) {
            if (strcmp(line, DYNMEM_RECORD_COLUMNS) != 0)
                return policy_set_error(ret_error, -EINVAL,
                                        "%u: not the columns of a format %d recording", no,
                                        DYNMEM_RECORD_FORMAT);
            if (!r.has_session) { /* the columns alone begin a session too */
                r.has_session = true;
                r.session_last = 0;
            }
            r.has_columns = true;
        } else if (!r.has_columns) {
            return policy_set_error(ret_error, -EINVAL,
                                    "%u: a sample before the column line (not a dynmemd "
                                    "recording?)",
                                    no);
        } else {
            rr = read_data(&r, line, no, ret_error);
        }
        if (rr < 0)
            return rr;
    }
    if (r.domains->len == 0)
        return policy_set_error(ret_error, -EINVAL, "no samples");

    out->files = g_ptr_array_new_with_free_func(g_free);
    out->texts = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < r.domains->len; i++) {
        Domain *d = r.domains->pdata[i];
        g_ptr_array_add(out->files, g_strdup_printf("%s.%u.csv", name, i + 1));
        g_ptr_array_add(out->texts, d->n_points ? g_strdup(d->trace->str) : NULL);
    }
    out->yaml = build_yaml(&r, name, out->files, &out->n_vms);
    out->n_samples = r.n_samples;
    *ret = g_steal_pointer(&out);
    return 0;
}
