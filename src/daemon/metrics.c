/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus metrics as a text file (the exposition format, version 0.0.4):
 * names and units by Prometheus' conventions (base units, `_bytes`,
 * `_ratio`, `_total` for counters), one family at a time with its HELP and
 * TYPE. Gauges come from the same snapshots as the D-Bus properties, so the
 * two never disagree; counters from the manager.
 */
#include "metrics.h"
#include "log.h"
#include "props.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct DynmemMetrics {
    Manager *manager;
    guint tick;         /* the GLib source that writes the file */
    char *written_path; /* the file we last wrote, removed when it changes */
    int64_t written_us; /* when (monotonic); 0: never */
    bool failing;       /* the last write failed and the log said so */
};

/* ---- the text ------------------------------------------------------------- */

/* A label value: valid UTF-8, with the three escapes the format knows. */
static void append_label_value(GString *out, const char *value)
{
    g_autofree char *valid = g_utf8_make_valid(value ? value : "", -1);

    for (const char *c = valid; *c; c++) {
        if (*c == '\\')
            g_string_append(out, "\\\\");
        else if (*c == '"')
            g_string_append(out, "\\\"");
        else if (*c == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *c);
    }
}

static void family(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(GString *out, const char *name, uint64_t value)
{
    g_string_append_printf(out, "%s %" G_GUINT64_FORMAT "\n", name, value);
}

static void gauge_u64(GString *out, const char *name, const char *help, uint64_t value)
{
    family(out, name, "gauge", help);
    sample_u64(out, name, value);
}

static void domain_labels(GString *out, const BusDomainProps *p)
{
    g_string_append(out, "{domain=\"");
    append_label_value(out, p->name);
    g_string_append(out, "\",uuid=\"");
    append_label_value(out, p->uuid);
    g_string_append_c(out, '"');
}

/* One per-domain gauge family. */
typedef enum {
    DOM_BYTES,
    DOM_RATIO_PCT, /* a percentage, written as a ratio */
    DOM_NUMBER,
} DomainValueKind;

typedef struct {
    const char *name;
    const char *help;
    DomainValueKind kind;
    size_t offset; /* in BusDomainProps */
    bool is_u32;
} DomainGauge;

#define DGAUGE(n, h, k, field)                                                                     \
    {                                                                                              \
        .name = n, .help = h, .kind = k, .offset = offsetof(BusDomainProps, field),                \
        .is_u32 = sizeof(((BusDomainProps *)0)->field) == sizeof(uint32_t),                        \
    }

static const DomainGauge domain_gauges[] = {
    DGAUGE("dynmem_domain_assigned_bytes", "Memory the domain has now.", DOM_BYTES, assigned),
    DGAUGE("dynmem_domain_demand_bytes", "Memory the domain's guest needs (decaying peak).",
           DOM_BYTES, demand),
    DGAUGE("dynmem_domain_target_bytes", "Memory the last plan gives the domain.", DOM_BYTES,
           target),
    DGAUGE("dynmem_domain_minimum_bytes", "Policy minimum, resolved.", DOM_BYTES, minimum),
    DGAUGE("dynmem_domain_startup_bytes", "Policy startup memory, resolved.", DOM_BYTES, startup),
    DGAUGE("dynmem_domain_maximum_bytes", "Policy maximum, resolved.", DOM_BYTES, maximum),
    DGAUGE("dynmem_domain_buffer_ratio", "Policy buffer: free memory kept above demand.",
           DOM_RATIO_PCT, buffer),
    DGAUGE("dynmem_domain_weight", "Policy weight (0..10000): who gets memory first when short.",
           DOM_NUMBER, weight),
    DGAUGE("dynmem_domain_pressure_ratio", "Demand over assigned memory.", DOM_RATIO_PCT, pressure),
    DGAUGE("dynmem_domain_headroom_bytes", "Burst headroom kept free for an instant step.",
           DOM_BYTES, headroom),
    DGAUGE("dynmem_domain_absorbable_bytes",
           "The largest instant step the guest takes now without an OOM kill.", DOM_BYTES,
           absorbable),
};

static uint64_t domain_value(const DomainGauge *g, const BusDomainProps *p)
{
    const char *field = (const char *)p + g->offset;
    uint32_t u32;
    uint64_t u64;

    if (g->is_u32) {
        memcpy(&u32, field, sizeof(u32));
        return u32;
    }
    memcpy(&u64, field, sizeof(u64));
    return u64;
}

/* One series per domain, value 1, labelled `label` with the domain's word
 * (a string member of BusDomainProps at `offset`). */
static void domain_enum(GString *out, const char *name, const char *label, const char *help,
                        const BusDomainProps *props, guint n, size_t offset)
{
    family(out, name, "gauge", help);
    for (guint i = 0; i < n; i++) {
        const char *word;

        memcpy(&word, (const char *)&props[i] + offset, sizeof(word));
        g_string_append(out, name);
        domain_labels(out, &props[i]);
        g_string_append_printf(out, ",%s=\"", label);
        append_label_value(out, word);
        g_string_append(out, "\"} 1\n");
    }
}

static void domain_families(GString *out, const BusDomainProps *props, guint n)
{
    for (size_t g = 0; g < G_N_ELEMENTS(domain_gauges); g++) {
        const DomainGauge *dg = &domain_gauges[g];

        family(out, dg->name, "gauge", dg->help);
        for (guint i = 0; i < n; i++) {
            uint64_t v = domain_value(dg, &props[i]);

            g_string_append(out, dg->name);
            domain_labels(out, &props[i]);
            if (dg->kind == DOM_RATIO_PCT)
                g_string_append_printf(out, "} %" G_GUINT64_FORMAT ".%02u\n", v / 100,
                                       (unsigned)(v % 100));
            else
                g_string_append_printf(out, "} %" G_GUINT64_FORMAT "\n", v);
        }
    }
    /* enumerations: one series per domain, labelled with the current word */
    domain_enum(out, "dynmem_domain_status", "status",
                "The domain's status (ok, low, warning, starting, static, unmanaged, stale, "
                "uncooperative, new), always 1.",
                props, n, offsetof(BusDomainProps, status));
    domain_enum(out, "dynmem_domain_protection", "protection",
                "What protects the domain from an instant step (deflate-on-oom, headroom, "
                "none), always 1.",
                props, n, offsetof(BusDomainProps, protection));
}

static void host_families(GString *out, Manager *m, const BusManagerProps *p)
{
    const PolicyHostSample *host = manager_get_host(m);

    family(out, "dynmem_build_info", "gauge", "dynmemd's version, always 1.");
    g_string_append(out, "dynmem_build_info{version=\"");
    append_label_value(out, p->version);
    g_string_append(out, "\"} 1\n");
    gauge_u64(out, "dynmem_connected", "1 when connected to libvirt.", p->connected);
    gauge_u64(out, "dynmem_paused", "1 when changes are paused (dynmemctl pause).", p->paused);
    gauge_u64(out, "dynmem_dry_run", "1 when the daemon plans but changes nothing.", p->dry_run);
    gauge_u64(out, "dynmem_host_memory_total_bytes", "The host's MemTotal.", p->host_total);
    gauge_u64(out, "dynmem_host_memory_available_bytes", "The host's MemAvailable.",
              p->host_available);
    gauge_u64(out, "dynmem_host_budget_bytes", "Memory the managed domains may hold together.",
              p->budget);
    gauge_u64(out, "dynmem_host_reserve_bytes", "Memory kept for the host (host.reserve).",
              p->reserve);
    gauge_u64(out, "dynmem_host_deflate_reserve_bytes",
              "Budget kept free for deflate-on-oom guests taking memory back.", p->deflate_reserve);
    gauge_u64(out, "dynmem_host_assigned_bytes", "Memory the managed domains hold.", p->assigned);
    gauge_u64(out, "dynmem_host_demand_bytes", "Memory the managed domains need.", p->demand);
    gauge_u64(out, "dynmem_host_admittable_bytes",
              "Memory one more domain could get here now: the budget above every need "
              "(docs/cluster.md).",
              p->admittable);
    gauge_u64(out, "dynmem_host_unmet_demand_bytes",
              "Memory the domains desire beyond the budget (docs/cluster.md).", p->unmet_demand);
    gauge_u64(out, "dynmem_host_unprotected_domains",
              "Managed domains with no protection from an instant step.", p->unprotected);
    family(out, "dynmem_host_state", "gauge",
           "1 for the host's memory state (ok, pressure, overcommitted), 0 for the others.");
    for (int s = 0; s < POLICY_HOST_LAST; s++) {
        const char *name = policy_host_state_to_string((PolicyHostState)s);

        g_string_append_printf(out, "dynmem_host_state{state=\"%s\"} %d\n", name,
                               strcmp(name, p->state) == 0);
    }
    if (host && host->has_psi) {
        family(out, "dynmem_host_memory_psi_some_avg10_ratio", "gauge",
               "Share of time some task stalled on memory (/proc/pressure/memory, avg10).");
        g_string_append_printf(out, "dynmem_host_memory_psi_some_avg10_ratio %.4f\n",
                               CLAMP(host->psi_some_avg10, 0.0, 100.0) / 100.0);
    }
}

static void counter_families(GString *out, Manager *m, const BusManagerProps *p)
{
    const ManagerCounters *c = manager_get_counters(m);

    family(out, "dynmem_cycles_total", "counter", "Balancing cycles planned and carried out.");
    sample_u64(out, "dynmem_cycles_total", p->cycles);
    family(out, "dynmem_cycle_duration_seconds", "summary",
           "Wall-clock time of every cycle begun, failed ones included.");
    g_string_append_printf(out, "dynmem_cycle_duration_seconds_sum %" G_GUINT64_FORMAT ".%06u\n",
                           c->cycle_us_total / G_USEC_PER_SEC,
                           (unsigned)(c->cycle_us_total % G_USEC_PER_SEC));
    sample_u64(out, "dynmem_cycle_duration_seconds_count", c->cycles_run);
    family(out, "dynmem_failures_total", "counter",
           "Cycles that failed, by why (stats, host, engine), and connections to libvirt lost "
           "(disconnect).");
    for (int f = 0; f < MANAGER_FAILURE_LAST; f++)
        g_string_append_printf(out, "dynmem_failures_total{kind=\"%s\"} %" G_GUINT64_FORMAT "\n",
                               manager_failure_to_string((ManagerFailure)f), c->failures[f]);
    family(out, "dynmem_changes_total", "counter",
           "Memory changes by mechanism and result (applied, failed, not_applied: dry-run or "
           "paused).");
    for (int k = 0; k < POLICY_ACTION_LAST; k++)
        for (int r = 0; r < MANAGER_CHANGE_LAST; r++)
            g_string_append_printf(
                out, "dynmem_changes_total{mechanism=\"%s\",result=\"%s\"} %" G_GUINT64_FORMAT "\n",
                policy_action_kind_to_string((PolicyActionKind)k),
                manager_change_result_to_string((ManagerChangeResult)r), c->changes[k][r]);
}

char *dynmem_metrics_format(Manager *m)
{
    GString *out = g_string_sized_new(4096);
    g_autoptr(GPtrArray) domains = manager_list_domains(m);
    g_autofree BusDomainProps *props = g_new0(BusDomainProps, MAX(domains->len, 1));
    BusManagerProps mp;

    dynmem_manager_props(m, &mp);
    for (guint i = 0; i < domains->len; i++)
        dynmem_domain_props(domains->pdata[i], &props[i]);
    host_families(out, m, &mp);
    gauge_u64(out, "dynmem_domains", "Domains the daemon knows (running).", domains->len);
    domain_families(out, props, domains->len);
    counter_families(out, m, &mp);
    return g_string_free(out, FALSE);
}

/* ---- the file ------------------------------------------------------------- */

int dynmem_metrics_write_file(const char *path, const char *text, char **ret_error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    /* a dot file: the textfile collector reads only *.prom */
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    size_t len = strlen(text), done = 0;
    int fd, r = 0;

    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        r = -errno;
        *ret_error = g_strdup_printf("cannot create a file in %s: %s", dir, g_strerror(-r));
        return r;
    }
    /* our umask (the unit's 0077) would leave it unreadable to the collector */
    if (fchmod(fd, 0644) < 0)
        r = -errno;
    while (r == 0 && done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else
            done += (size_t)n;
    }
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        *ret_error = g_strdup_printf("cannot write %s: %s", path, g_strerror(-r));
    }
    return r;
}

static void remove_written(DynmemMetrics *x)
{
    if (x->written_path && unlink(x->written_path) < 0 && errno != ENOENT)
        log_warning("cannot remove the metrics file %s: %s", x->written_path, g_strerror(errno));
    g_clear_pointer(&x->written_path, g_free);
    x->written_us = 0;
}

/* Every second: the file is due when metrics-interval has passed. Not
 * tied to the cycle, so that a daemon that cannot cycle (libvirt gone,
 * the host unreadable) still says so, and its failure counters move. */
static gboolean on_tick(void *userdata)
{
    DynmemMetrics *x = userdata;
    Manager *m = x->manager;
    const PolicyConfig *cfg = manager_get_config(m);
    int64_t now = g_get_monotonic_time();

    if (!cfg->metrics_file) {
        remove_written(x); /* switched off by a reload */
        return G_SOURCE_CONTINUE;
    }
    if (x->written_path && strcmp(x->written_path, cfg->metrics_file) != 0)
        remove_written(x); /* moved by a reload */
    if (x->written_us != 0 && now - x->written_us < (int64_t)cfg->metrics_interval_us)
        return G_SOURCE_CONTINUE;

    g_autofree char *text = dynmem_metrics_format(m);
    g_autofree char *err = NULL;

    x->written_us = now; /* a failing write is retried at the next interval too */
    if (dynmem_metrics_write_file(cfg->metrics_file, text, &err) < 0) {
        if (!x->failing)
            log_warning("metrics: %s (retried every %" G_GUINT64_FORMAT " s)", err,
                        cfg->metrics_interval_us / G_USEC_PER_SEC);
        x->failing = true;
        return G_SOURCE_CONTINUE;
    }
    if (x->failing)
        log_info("metrics: %s written again", cfg->metrics_file);
    x->failing = false;
    if (!x->written_path)
        x->written_path = g_strdup(cfg->metrics_file);
    return G_SOURCE_CONTINUE;
}

DynmemMetrics *dynmem_metrics_new(Manager *m)
{
    DynmemMetrics *x = g_new0(DynmemMetrics, 1);

    x->manager = m;
    x->tick = g_timeout_add_seconds(1, on_tick, x);
    return x;
}

void dynmem_metrics_free(DynmemMetrics *x)
{
    if (!x)
        return;
    if (x->tick)
        g_source_remove(x->tick);
    remove_written(x);
    g_free(x);
}
