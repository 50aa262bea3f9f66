/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "manager.h"
#include "config-file.h"
#include "log.h"
#include "meminfo.h"
#include "overrides.h"
#include "text.h"

#include <errno.h>
#include <string.h>

/* A guest that cannot unplug virtio-mem blocks at once (they are in use)
 * retries by itself only after about 50 s; sending the same request again
 * makes it try at once (measured, docs/e2e-guest.md). */
#define VIRTIO_MEM_RESEND_US (5 * G_USEC_PER_SEC)

/* Most of a failed load's error text given back (log, D-Bus reply). */
#define MANAGER_ERROR_TEXT_MAX (16 * 1024)

/* An action failing every cycle is logged once, then at most this often
 * with a count, and once more when it succeeds again. */
#define ACTION_ERROR_SUMMARY_US (60 * G_USEC_PER_SEC)

#define RECONNECT_MIN_S 1
#define RECONNECT_MAX_S 30

typedef struct {
    const ManagerListener *listener;
    void *userdata;
} ListenerSlot;

struct Manager {
    /* options */
    char *config_path;
    char *uri_override;
    uint64_t interval_override_us;
    bool dry_run;
    char *proc_root;
    char *state_dir;
    ManagerClockFunc clock;
    void *clock_userdata;
    bool no_timer;

    PolicyConfig *cfg;
    uint64_t policy_generation;

    Backend *backend;
    bool connected;
    unsigned reconnect_delay_s;
    guint reconnect_source;
    guint cycle_source;
    guint disconnect_source;
    bool reconnect_warned;

    GHashTable *domains;      /* uuid -> ManagerDomain* */
    GHashTable *saved_states; /* uuid -> PolicyDomainState*, across reconnects */
    GHashTable *overrides;    /* uuid -> PolicySettings* */
    OverrideStore *store;     /* the persistent ones; NULL: not available */
    char *overrides_problem;  /* why persisted overrides were not loaded, for Dump */
    PolicyEngine *engine;

    PolicyHostSample host;
    bool has_host;
    PolicyPlanSummary summary;
    bool has_summary;

    GPtrArray *order;  /* domains of this cycle, sorted by name */
    GPtrArray *sorted; /* every domain sorted by name; NULL when stale */
    GArray *inputs;    /* PolicyDomainInput */
    GArray *entries;   /* PolicyPlanEntry */
    GArray *listeners; /* ListenerSlot */

    bool paused;
    bool in_cycle;
    uint64_t cycles;
};

/* Per-domain bookkeeping the header does not need to show. */
typedef struct {
    ManagerDomain pub;
    uint64_t policy_generation;
    /* since when each virtio-mem device's `current` has not matched its
     * `requested` (0: it matches), and when we last (re)sent it */
    uint64_t vmem_pending_since_us[POLICY_MAX_VIRTIO_MEM];
    bool balloon_only; /* the sample's balloon figure excludes virtio-mem */
    /* DIMM domains: the balloon figure last asked of the hypervisor */
    bool has_live_balloon;
    uint64_t live_balloon_kib;
    bool live_read_failing;        /* reading it failed, and the log said so */
    bool live_unsupported;         /* the backend cannot: libvirt's figure is used */
    uint64_t seen_self_deflate_us; /* the guest's last deflate-on-oom, as logged */
    /* failing actions: the first is logged, then a summary a minute */
    bool action_failing;
    uint64_t action_failures;   /* since the last line about them */
    uint64_t action_logged_us;  /* when that line was written */
    uint64_t action_fail_total; /* since the first failure */
} DomainPriv;

#define EMIT(m, cb, ...)                                                                           \
    do {                                                                                           \
        for (guint _i = 0; _i < (m)->listeners->len; _i++) {                                       \
            ListenerSlot *_s = &g_array_index((m)->listeners, ListenerSlot, _i);                   \
            if (_s->listener->cb)                                                                  \
                _s->listener->cb((m), __VA_ARGS__, _s->userdata);                                  \
        }                                                                                          \
    } while (0)

#define EMIT0(m, cb)                                                                               \
    do {                                                                                           \
        for (guint _i = 0; _i < (m)->listeners->len; _i++) {                                       \
            ListenerSlot *_s = &g_array_index((m)->listeners, ListenerSlot, _i);                   \
            if (_s->listener->cb)                                                                  \
                _s->listener->cb((m), _s->userdata);                                               \
        }                                                                                          \
    } while (0)

static uint64_t now_us(Manager *m)
{
    if (m->clock)
        return m->clock(m->clock_userdata);
    return (uint64_t)g_get_monotonic_time();
}

static void domain_free(void *p)
{
    DomainPriv *d = p;
    g_free(d->pub.name);
    g_free(d->pub.label);
    g_free(d);
}

static void on_backend_event(BackendEventKind kind, const char *uuid, const char *name,
                             void *userdata);
static void schedule_reconnect(Manager *m);
static gboolean on_cycle_timer(void *userdata);

static int load_config(Manager *m, PolicyConfig **ret, char **ret_error)
{
    if (!m->config_path) {
        *ret = policy_config_new_default();
        return 0;
    }
    g_autoptr(GPtrArray) errors = NULL;
    int r = dynmem_config_load_file(m->config_path, ret, &errors);
    if (r < 0) {
        g_autoptr(GString) s = g_string_new(NULL);
        guint n = errors ? errors->len : 0, i;
        /* Each error is short, but there may be a thousand: the text goes
         * into a D-Bus reply and a log line, so it is bounded as a whole. */
        for (i = 0; i < n; i++) {
            const char *e = errors->pdata[i];
            if (i > 0 && s->len + strlen(e) > MANAGER_ERROR_TEXT_MAX)
                break;
            g_string_append_printf(s, "%s%s", i ? "\n" : "", e);
        }
        if (i < n)
            g_string_append_printf(s,
                                   "\n%u more errors not shown; dynmemd --check-config %s "
                                   "lists them all",
                                   n - i, m->config_path);
        *ret_error = g_string_free(g_steal_pointer(&s), FALSE);
    }
    return r;
}

/* A corrupt file is moved aside and reported; the daemon runs on. */
static void load_persistent_overrides(Manager *m)
{
    if (override_store_open(m->state_dir, &m->store, &m->overrides_problem) < 0) {
        log_error("persistent overrides unavailable: %s", m->overrides_problem);
        return;
    }
    if (m->overrides_problem)
        log_error("persistent overrides: %s", m->overrides_problem);
    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, override_store_entries(m->store));
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        OverrideEntry *e = v;
        g_hash_table_replace(m->overrides, g_strdup(e->uuid),
                             g_memdup2(&e->settings, sizeof(e->settings)));
    }
}

int manager_new(const ManagerOptions *opts, Backend *backend, Manager **ret, char **ret_error)
{
    g_autoptr(Manager) m = g_new0(Manager, 1);
    m->config_path = g_strdup(opts->config_path);
    m->uri_override = g_strdup(opts->connect_uri);
    m->interval_override_us = opts->interval_us;
    m->dry_run = opts->dry_run;
    m->proc_root = g_strdup(opts->proc_root ? opts->proc_root : "/proc");
    m->state_dir = g_strdup(opts->state_dir);
    m->clock = opts->clock;
    m->clock_userdata = opts->clock_userdata;
    m->no_timer = opts->no_timer;
    m->reconnect_delay_s = RECONNECT_MIN_S;
    m->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, domain_free);
    m->saved_states = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->overrides = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->order = g_ptr_array_new();
    m->inputs = g_array_new(FALSE, TRUE, sizeof(PolicyDomainInput));
    m->entries = g_array_new(FALSE, TRUE, sizeof(PolicyPlanEntry));
    m->listeners = g_array_new(FALSE, TRUE, sizeof(ListenerSlot));
    m->engine = policy_engine_new();
    m->policy_generation = 1;

    int r = load_config(m, &m->cfg, ret_error);
    if (r < 0) {
        backend_free(backend);
        return r;
    }
    if (m->state_dir)
        load_persistent_overrides(m);
    m->backend = backend;
    backend->event_cb = on_backend_event;
    backend->event_userdata = m;
    *ret = g_steal_pointer(&m);
    return 0;
}

void manager_free(Manager *m)
{
    if (!m)
        return;
    if (m->cycle_source)
        g_source_remove(m->cycle_source);
    if (m->reconnect_source)
        g_source_remove(m->reconnect_source);
    if (m->disconnect_source)
        g_source_remove(m->disconnect_source);
    /* Domains keep the memory they have: nothing is undone on exit. */
    backend_free(m->backend);
    g_clear_pointer(&m->sorted, g_ptr_array_unref);
    g_hash_table_destroy(m->domains);
    g_hash_table_destroy(m->saved_states);
    g_hash_table_destroy(m->overrides);
    override_store_free(m->store);
    g_free(m->overrides_problem);
    g_ptr_array_free(m->order, TRUE);
    g_array_free(m->inputs, TRUE);
    g_array_free(m->entries, TRUE);
    g_array_free(m->listeners, TRUE);
    policy_engine_free(m->engine);
    policy_config_free(m->cfg);
    g_free(m->config_path);
    g_free(m->uri_override);
    g_free(m->proc_root);
    g_free(m->state_dir);
    g_free(m);
}

void manager_add_listener(Manager *m, const ManagerListener *listener, void *userdata)
{
    ListenerSlot s = {.listener = listener, .userdata = userdata};
    g_array_append_val(m->listeners, s);
}

const char *manager_get_uri(Manager *m)
{
    if (m->uri_override)
        return m->uri_override;
    return m->cfg->connect_uri;
}

uint64_t manager_get_interval_us(Manager *m)
{
    return m->interval_override_us ? m->interval_override_us : m->cfg->interval_us;
}

/* ---- domains ------------------------------------------------------------ */

static ManagerDomain *domain_add(Manager *m, const char *uuid, const char *name)
{
    DomainPriv *p = g_new0(DomainPriv, 1);
    ManagerDomain *d = &p->pub;
    g_strlcpy(d->uuid, uuid, sizeof(d->uuid));
    d->name = g_strdup(name ? name : uuid);
    d->label = policy_escape(d->name, 0);
    d->caps_dirty = true;
    PolicyDomainState *saved = g_hash_table_lookup(m->saved_states, uuid);
    if (saved) {
        /* Back after a reconnect: keep the demand history, but nothing
         * issued before the outage is still in flight. */
        d->state = *saved;
        d->state.shrink_pending = false;
        d->state.grow_pending_to_kib = 0;
        /* no trend across the outage */
        d->state.prev_raw_demand_kib = 0;
        d->state.trend_peak_kib = 0;
        g_hash_table_remove(m->saved_states, uuid);
    }
    g_hash_table_insert(m->domains, d->uuid, p);
    g_clear_pointer(&m->sorted, g_ptr_array_unref);
    log_info("%s: found (uuid %s)", d->label, d->uuid);
    EMIT(m, domain_added, d);
    return d;
}

static void domain_remove(Manager *m, ManagerDomain *d, const char *why)
{
    log_info("%s: %s; forgotten", d->label, why);
    EMIT(m, domain_removed, d);
    g_clear_pointer(&m->sorted, g_ptr_array_unref);
    g_hash_table_remove(m->domains, d->uuid);
}

static GPtrArray *sorted_domains(Manager *m);

static ManagerDomain *domain_lookup_uuid(Manager *m, const char *uuid)
{
    DomainPriv *p = g_hash_table_lookup(m->domains, uuid);
    return p ? &p->pub : NULL;
}

ManagerDomain *manager_find_domain_by_uuid(Manager *m, const char *uuid)
{
    return uuid ? domain_lookup_uuid(m, uuid) : NULL;
}

ManagerDomain *manager_find_domain(Manager *m, const char *name_or_uuid)
{
    if (!name_or_uuid)
        return NULL;
    /* A domain may be named like another domain's UUID; a UUID given must
     * still reach the domain that has it, so it is never taken as a name. */
    if (g_uuid_string_is_valid(name_or_uuid)) {
        g_autofree char *uuid = g_ascii_strdown(name_or_uuid, -1);
        return domain_lookup_uuid(m, uuid);
    }
    GPtrArray *all = sorted_domains(m);
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        if (strcmp(d->name, name_or_uuid) == 0)
            return d;
    }
    return NULL;
}

static int cmp_domain_name(const void *a, const void *b)
{
    const ManagerDomain *x = *(ManagerDomain *const *)a;
    const ManagerDomain *y = *(ManagerDomain *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->uuid, y->uuid);
}

/* Sorting on every call would cost more than the policy itself on a big
 * host; the order only changes when domains come, go or are renamed. */
static GPtrArray *sorted_domains(Manager *m)
{
    if (!m->sorted) {
        m->sorted = g_ptr_array_sized_new(g_hash_table_size(m->domains));
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->domains);
        while (g_hash_table_iter_next(&it, NULL, &v))
            g_ptr_array_add(m->sorted, v);
        g_ptr_array_sort(m->sorted, cmp_domain_name);
    }
    return m->sorted;
}

GPtrArray *manager_list_domains(Manager *m)
{
    return g_ptr_array_copy(sorted_domains(m), NULL, NULL);
}

static void domain_resolve_policy(Manager *m, ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    if (p->policy_generation == m->policy_generation)
        return;
    policy_config_resolve(m->cfg, d->name, d->uuid, g_hash_table_lookup(m->overrides, d->uuid),
                          &d->policy);
    p->policy_generation = m->policy_generation;
}

/* ---- connection --------------------------------------------------------- */

static void forget_all_domains(Manager *m, const char *why)
{
    g_autoptr(GPtrArray) all = manager_list_domains(m);
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        g_hash_table_replace(m->saved_states, g_strdup(d->uuid),
                             g_memdup2(&d->state, sizeof(d->state)));
        domain_remove(m, d, why);
    }
}

static void handle_disconnect(Manager *m)
{
    if (!m->connected)
        return;
    log_warning("lost the connection to %s; nothing is changed until it is back",
                manager_get_uri(m));
    m->connected = false;
    m->backend->ops->close(m->backend);
    forget_all_domains(m, "connection lost");
    EMIT0(m, settings_changed);
    m->reconnect_delay_s = RECONNECT_MIN_S;
    schedule_reconnect(m);
}

static gboolean on_disconnect_idle(void *userdata)
{
    Manager *m = userdata;
    m->disconnect_source = 0;
    handle_disconnect(m);
    return G_SOURCE_REMOVE;
}

static int try_connect(Manager *m)
{
    g_autofree char *err = NULL;
    int r = m->backend->ops->open(m->backend, manager_get_uri(m), &err);
    if (r < 0) {
        if (!m->reconnect_warned)
            log_warning("cannot connect to %s: %s (retrying)", manager_get_uri(m), err);
        else
            log_debug("cannot connect to %s: %s", manager_get_uri(m), err);
        m->reconnect_warned = true;
        return r;
    }
    log_notice("connected to %s", manager_get_uri(m));
    m->connected = true;
    m->reconnect_warned = false;
    m->reconnect_delay_s = RECONNECT_MIN_S;
    EMIT0(m, settings_changed);
    return 0;
}

static gboolean on_reconnect_timer(void *userdata)
{
    Manager *m = userdata;
    m->reconnect_source = 0;
    if (try_connect(m) == 0) {
        manager_run_cycle(m);
        return G_SOURCE_REMOVE;
    }
    m->reconnect_delay_s = MIN(m->reconnect_delay_s * 2, RECONNECT_MAX_S);
    schedule_reconnect(m);
    return G_SOURCE_REMOVE;
}

static void schedule_reconnect(Manager *m)
{
    if (m->reconnect_source || m->no_timer)
        return;
    m->reconnect_source = g_timeout_add_seconds(m->reconnect_delay_s, on_reconnect_timer, m);
}

static void on_backend_event(BackendEventKind kind, const char *uuid, const char *name,
                             void *userdata)
{
    Manager *m = userdata;
    ManagerDomain *d = uuid ? domain_lookup_uuid(m, uuid) : NULL;
    if (dynmem_log_get_level() >= LOG_DEBUG) {
        g_autofree char *label = policy_escape(name ? name : "-", 0);
        log_debug("event %s for %s", backend_event_kind_to_string(kind), label);
    }
    switch (kind) {
    case BACKEND_EVENT_DOMAIN_STARTED:
        if (d)
            domain_remove(m, d, "restarted");
        d = domain_add(m, uuid, name);
        memset(&d->state, 0, sizeof(d->state));
        policy_domain_state_init_booted(&d->state, now_us(m));
        break;
    case BACKEND_EVENT_DOMAIN_STOPPED:
        g_hash_table_remove(m->saved_states, uuid);
        if (d)
            domain_remove(m, d, "stopped");
        break;
    case BACKEND_EVENT_DOMAIN_CHANGED:
        if (d)
            d->caps_dirty = true;
        break;
    case BACKEND_EVENT_DOMAIN_DEFINED:
        break;
    case BACKEND_EVENT_DISCONNECTED:
        /* libvirt calls this from inside its own dispatch; leave it first */
        if (!m->disconnect_source)
            m->disconnect_source = g_idle_add(on_disconnect_idle, m);
        break;
    default:
        break;
    }
}

/* ---- the cycle ---------------------------------------------------------- */

static int read_host(Manager *m, PolicyHostSample *ret)
{
    g_autofree char *path = g_build_filename(m->proc_root, "meminfo", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    g_autofree char *err = NULL;
    PolicyHostSample h = {0};
    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        log_error("cannot read %s: %s", path, gerr->message);
        return -EIO;
    }
    if (policy_meminfo_parse_buf(text, &h, &err) < 0) {
        log_error("%s: %s", path, err);
        return -EINVAL;
    }
    /* PSI is optional (kernels without CONFIG_PSI, or psi=0). */
    g_autofree char *psi_path = g_build_filename(m->proc_root, "pressure", "memory", NULL);
    g_autofree char *psi = NULL;
    g_autofree char *psi_err = NULL;
    if (g_file_get_contents(psi_path, &psi, NULL, NULL) &&
        policy_psi_parse_buf(psi, &h, &psi_err) < 0)
        log_debug("%s: %s", psi_path, psi_err);
    *ret = h;
    return 0;
}

static uint64_t virtio_mem_current_kib(const PolicyDomainCaps *caps)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < caps->n_virtio_mem; i++)
        sum += caps->virtio_mem[i].current_kib;
    return sum;
}

static void refresh_caps(Manager *m, ManagerDomain *d)
{
    g_autofree char *err = NULL;
    PolicyDomainCaps caps;
    int r = m->backend->ops->read_caps(m->backend, d->uuid, &caps, &err);
    if (r < 0) {
        g_autofree char *e = policy_escape(err, 0); /* libvirt may quote the name */
        log_warning("%s: cannot read capabilities: %s", d->label, e);
        if (!d->caps_valid)
            memset(&d->caps, 0, sizeof(d->caps)); /* unmanaged until readable */
        return;
    }
    d->caps = caps;
    d->caps_valid = true;
    d->caps_dirty = false;

    if (caps.has_balloon && caps.stats_period_s == 0 && !d->stats_period_set) {
        /* Without a stats period the guest never reports usable memory. */
        d->stats_period_set = true;
        unsigned period = (unsigned)MAX(1, manager_get_interval_us(m) / G_USEC_PER_SEC);
        g_autofree char *perr = NULL;
        if (m->dry_run) {
            log_notice("%s: balloon stats are off; would set their period to %us", d->label,
                       period);
        } else if (m->backend->ops->set_stats_period(m->backend, d->uuid, period, &perr) < 0) {
            g_autofree char *e = policy_escape(perr, 0);
            log_warning("%s: balloon stats are off and enabling them failed: %s", d->label, e);
        } else {
            log_notice("%s: balloon stats were off; set their period to %us (live)", d->label,
                       period);
            d->caps.stats_period_s = period;
        }
    }
}

/* Merge this cycle's stats into the domain table. Returns false when the
 * connection is gone. */
static bool collect(Manager *m, uint64_t now)
{
    g_autoptr(GArray) stats = NULL;
    g_autofree char *err = NULL;
    int r = m->backend->ops->collect(m->backend, now, &stats, &err);
    if (r == -ENOTCONN) {
        handle_disconnect(m);
        return false;
    }
    if (r < 0) {
        log_warning("cannot collect domain stats: %s", err);
        return false;
    }

    GHashTableIter it;
    void *v;
    g_hash_table_iter_init(&it, m->domains);
    while (g_hash_table_iter_next(&it, NULL, &v))
        ((ManagerDomain *)v)->seen = false;

    for (guint i = 0; i < stats->len; i++) {
        BackendDomainStats *s = &g_array_index(stats, BackendDomainStats, i);
        ManagerDomain *d = domain_lookup_uuid(m, s->uuid);
        if (!d)
            d = domain_add(m, s->uuid, s->name);
        if (s->name && strcmp(s->name, d->name) != 0) {
            g_free(d->name);
            d->name = g_strdup(s->name);
            g_free(d->label);
            d->label = policy_escape(d->name, 0);
            g_clear_pointer(&m->sorted, g_ptr_array_unref);
            ((DomainPriv *)d)->policy_generation = 0; /* rules match names */
        }
        d->seen = true;
        d->has_sample = s->has_sample;
        d->sample = s->sample;
        ((DomainPriv *)d)->balloon_only = s->balloon_only;
    }

    /* every running domain was restored above; the rest are gone */
    g_hash_table_remove_all(m->saved_states);

    if (stats->len != g_hash_table_size(m->domains)) {
        g_autoptr(GPtrArray) all = manager_list_domains(m);
        for (guint i = 0; i < all->len; i++) {
            ManagerDomain *d = all->pdata[i];
            if (!d->seen)
                domain_remove(m, d, "no longer running");
        }
    }
    return true;
}

/* QEMU computes a balloon event's figure when the guest moves its balloon,
 * counting the DIMMs plugged at that moment, and may send it up to a
 * second later (it throttles the event). A DIMM plugged in between leaves
 * libvirt's balloon.current short by the DIMM's size until the balloon
 * moves again (seen in CI: the daemon read 640 MiB for a guest it had just
 * grown to 1152 and set it to 512). So a domain with DIMMs has its
 * balloon figure asked of QEMU itself each cycle. When that cannot be
 * done, the domain is held: its guest figures are dropped, so the engine
 * neither shrinks nor grows it (stale), and it is counted at the figure
 * QEMU last gave. */
static void hold_dimm_domain(ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    PolicyDomainSample *s = &d->sample;

    s->has_balloon_stats = false;
    s->has_usable = false;
    s->has_available = false;
    s->has_unused = false;
    if (p->has_live_balloon) {
        s->balloon_kib = p->live_balloon_kib;
        p->balloon_only = true;
    }
}

static void refresh_dimm_sample(Manager *m, ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    if (!d->has_sample || p->balloon_only || d->caps.n_dimms == 0 || p->live_unsupported ||
        !m->backend->ops->read_sample)
        return;
    if (!d->sample.has_balloon_stats) {
        /* busy in a job (NOWAIT) or no balloon driver: asking now would
         * wait for the job; without guest figures the engine holds it */
        hold_dimm_domain(d);
        return;
    }
    g_autofree char *raw_err = NULL;
    PolicyDomainSample live;
    int r = m->backend->ops->read_sample(m->backend, d->uuid, now, &live, &raw_err);
    g_autofree char *err = r < 0 ? policy_escape(raw_err, 0) : NULL;
    if (r == -EOPNOTSUPP) {
        log_notice("%s: the hypervisor gives no live balloon figure (%s); using libvirt's",
                   d->label, err);
        p->live_unsupported = true;
        return;
    }
    if (r < 0) {
        /* gone, or the connection with it: the next collection says so */
        if (r != -ENOENT && r != -ENOTCONN && !p->live_read_failing) {
            log_warning("%s: cannot read its balloon from the hypervisor, holding it: %s", d->label,
                        err);
            p->live_read_failing = true;
        }
        hold_dimm_domain(d);
        return;
    }
    if (p->live_read_failing)
        log_info("%s: its balloon is readable again", d->label);
    p->live_read_failing = false;
    p->has_live_balloon = true;
    p->live_balloon_kib = live.balloon_kib;
    d->sample = live;
    p->balloon_only = true;
}

/* Complete a sample with what only the caps know: bulk stats give
 * balloon + virtio-mem together, virDomainMemoryStats the balloon alone. */
static void complete_sample(ManagerDomain *d)
{
    uint64_t vmem = virtio_mem_current_kib(&d->caps);
    /* with autodeflate the guest counts ballooned pages as used memory in
     * its MemTotal: the engine must not take MemTotal as its view */
    if (d->caps.balloon_autodeflate)
        d->sample.has_available = false;
    if (((DomainPriv *)d)->balloon_only)
        d->sample.assigned_kib = d->sample.balloon_kib + vmem;
    else
        d->sample.balloon_kib = d->sample.assigned_kib > vmem ? d->sample.assigned_kib - vmem : 0;
}

static void note_action_failure(ManagerDomain *d, const char *mech, const char *err, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    d->action_errors++;
    p->action_fail_total++;
    if (!p->action_failing) {
        p->action_failing = true;
        p->action_failures = 0;
        p->action_logged_us = now;
        dynmem_log_action_error(d->label, mech, err);
        return;
    }
    p->action_failures++;
    if (now - p->action_logged_us < ACTION_ERROR_SUMMARY_US)
        return;
    g_autofree char *msg = g_strdup_printf(
        "%s (failed %" G_GUINT64_FORMAT " more times in the last %" G_GUINT64_FORMAT " s)", err,
        p->action_failures, (now - p->action_logged_us) / G_USEC_PER_SEC);
    dynmem_log_action_error(d->label, mech, msg);
    p->action_failures = 0;
    p->action_logged_us = now;
}

static void note_action_success(ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    if (!p->action_failing)
        return;
    log_notice("%s: changes succeed again after %" G_GUINT64_FORMAT " failures", d->label,
               p->action_fail_total);
    p->action_failing = false;
    p->action_fail_total = 0;
}

static bool is_shrink(const PolicyAction *a)
{
    return a->kind != POLICY_ACTION_DIMM && a->to_kib < a->from_kib;
}

/* Carry out one domain's actions of one direction. Returns -ENOTCONN when
 * the connection dropped (the caller stops), 0 otherwise. */
static int apply_entry(Manager *m, ManagerDomain *d, PolicyPlanEntry *e, bool shrinks, uint64_t now,
                       bool *ret_removed)
{
    bool issued = false, failed = false, act = !m->dry_run && !m->paused;
    g_autoptr(GString) mechs = g_string_new(NULL);
    g_autoptr(GString) detail = g_string_new(NULL);
    for (size_t k = 0; k < e->n_actions; k++) {
        const PolicyAction *a = &e->actions[k];
        if (is_shrink(a) != shrinks)
            continue;
        const char *mech = policy_action_kind_to_string(a->kind);
        if (act) {
            g_autofree char *err = NULL;
            int r = m->backend->ops->apply(m->backend, d->uuid, a, &err);
            if (r == -ENOTCONN)
                return r;
            if (r == -ENOENT) {
                /* destroyed between the stats and the action */
                domain_remove(m, d, "gone before its change could be made");
                *ret_removed = true;
                return 0;
            }
            if (r < 0) {
                failed = true;
                note_action_failure(d, mech, err, now);
                continue;
            }
            note_action_success(d);
            if (a->kind != POLICY_ACTION_BALLOON)
                d->caps_dirty = true; /* re-read the device, re-plan next cycle */
            issued = true;
        }
        if (!strstr(mechs->str, mech))
            g_string_append_printf(mechs, "%s%s", mechs->len ? "+" : "", mech);
        g_string_append_printf(detail, "%s%s %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " MiB",
                               detail->len ? ", " : "", mech, a->from_kib / 1024, a->to_kib / 1024);
        EMIT(m, adjusted, d, a, e->reason, act);
    }
    /* one line per domain and change, whatever the devices involved */
    if (detail->len)
        dynmem_log_change(d->label, e->assigned_kib, e->target_kib, mechs->str, detail->str,
                          e->reason, !act);
    if (issued)
        policy_domain_state_note_issued(&d->state, e, now);
    else if (failed)
        policy_domain_state_note_failed(&d->state);
    return 0;
}

/* Re-send a virtio-mem request the guest has not met for a while, unless
 * this cycle's plan already changes that device. */
static int resend_stuck_virtio_mem(Manager *m, ManagerDomain *d, uint64_t now)
{
    DomainPriv *p = (DomainPriv *)d;
    for (size_t i = 0; i < d->caps.n_virtio_mem; i++) {
        const PolicyVirtioMem *vm = &d->caps.virtio_mem[i];
        if (vm->current_kib == vm->requested_kib) {
            p->vmem_pending_since_us[i] = 0;
            continue;
        }
        if (p->vmem_pending_since_us[i] == 0) {
            p->vmem_pending_since_us[i] = now;
            continue;
        }
        if (now - p->vmem_pending_since_us[i] < VIRTIO_MEM_RESEND_US)
            continue;
        bool planned = false;
        for (size_t k = 0; k < d->entry.n_actions; k++)
            planned |= d->entry.actions[k].kind == POLICY_ACTION_VIRTIO_MEM &&
                       strcmp(d->entry.actions[k].alias, vm->alias) == 0;
        if (planned || m->dry_run || m->paused)
            continue;
        PolicyAction a = {.kind = POLICY_ACTION_VIRTIO_MEM,
                          .from_kib = vm->current_kib,
                          .to_kib = vm->requested_kib,
                          .node = vm->node};
        g_strlcpy(a.alias, vm->alias, sizeof(a.alias));
        g_autofree char *err = NULL;
        log_info("%s: virtio-mem %s still at %" G_GUINT64_FORMAT " MiB of %" G_GUINT64_FORMAT
                 " MiB requested; asking again",
                 d->label, vm->alias, vm->current_kib / 1024, vm->requested_kib / 1024);
        int r = m->backend->ops->apply(m->backend, d->uuid, &a, &err);
        if (r == -ENOTCONN)
            return r;
        if (r < 0)
            note_action_failure(d, "virtio-mem", err, now);
        else
            note_action_success(d);
        p->vmem_pending_since_us[i] = now;
        d->caps_dirty = true;
    }
    return 0;
}

int manager_run_cycle(Manager *m)
{
    if (m->in_cycle)
        return -EBUSY;
    if (!m->connected)
        return -ENOTCONN;
    m->in_cycle = true;
    int r = 0;
    uint64_t now = now_us(m);
    g_autoptr(GPtrArray) all = NULL;
    g_autoptr(GPtrArray) order = NULL;

    if (!collect(m, now)) {
        r = m->connected ? -EIO : -ENOTCONN;
        goto out;
    }
    PolicyHostSample host;
    if (read_host(m, &host) < 0) {
        r = -EIO;
        goto out;
    }
    m->host = host;
    m->has_host = true;

    g_ptr_array_set_size(m->order, 0);
    all = manager_list_domains(m); /* a copy: listeners may add domains meanwhile */
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        if (d->caps_dirty)
            refresh_caps(m, d);
        if (!domain_lookup_uuid(m, d->uuid))
            continue;
        refresh_dimm_sample(m, d, now);
        complete_sample(d);
        domain_resolve_policy(m, d);
        g_ptr_array_add(m->order, d);
    }

    guint n = m->order->len;
    g_array_set_size(m->inputs, n);
    g_array_set_size(m->entries, n);
    for (guint i = 0; i < n; i++) {
        ManagerDomain *d = m->order->pdata[i];
        PolicyDomainInput *in = &g_array_index(m->inputs, PolicyDomainInput, i);
        in->name = d->name;
        in->uuid = d->uuid;
        in->policy = &d->policy;
        in->caps = &d->caps;
        in->sample = d->has_sample ? &d->sample : NULL;
        in->state = &d->state;
    }
    PolicyPlanSummary summary;
    r = policy_engine_plan(m->engine, m->cfg, &m->host, now,
                           (PolicyDomainInput *)(void *)m->inputs->data, n,
                           (PolicyPlanEntry *)(void *)m->entries->data, &summary);
    if (r < 0) {
        log_error("the engine refused this cycle's input (%s)", g_strerror(-r));
        goto out;
    }
    for (guint i = 0; i < n; i++) {
        ManagerDomain *d = m->order->pdata[i];
        DomainPriv *p = (DomainPriv *)d;
        const PolicyPlanEntry *e = &g_array_index(m->entries, PolicyPlanEntry, i);
        /* what no loop sees, said once when it happens (DESIGN.md §3.10) */
        if (d->state.self_deflate_us != p->seen_self_deflate_us) {
            p->seen_self_deflate_us = d->state.self_deflate_us;
            log_notice("%s: the guest took memory back from its balloon (deflate-on-oom): "
                       "%" G_GUINT64_FORMAT " MiB assigned; not shrunk for a while",
                       d->label, e->assigned_kib / 1024);
        }
        if (d->has_entry && d->entry.managed && e->managed && d->entry.protection != e->protection)
            log_info("%s: protection %s -> %s (takes a step of %" G_GUINT64_FORMAT " MiB at once)",
                     d->label, policy_protection_to_string(d->entry.protection),
                     policy_protection_to_string(e->protection), e->absorbable_kib / 1024);
        d->entry = *e;
        d->has_entry = true;
    }

    /* Reclaim first, across all domains, then grow (DESIGN.md §3.7). The
     * order array may lose domains that vanish under us; copy it. */
    order = g_ptr_array_copy(m->order, NULL, NULL);
    for (int pass = 0; pass < 2; pass++) {
        for (guint i = 0; i < order->len; i++) {
            ManagerDomain *d = order->pdata[i];
            if (!d)
                continue;
            bool removed = false;
            if (apply_entry(m, d, &d->entry, pass == 0, now, &removed) == -ENOTCONN) {
                handle_disconnect(m);
                r = -ENOTCONN;
                goto out;
            }
            if (removed)
                order->pdata[i] = NULL;
        }
    }
    for (guint i = 0; i < order->len; i++) {
        if (order->pdata[i] && resend_stuck_virtio_mem(m, order->pdata[i], now) == -ENOTCONN) {
            handle_disconnect(m);
            r = -ENOTCONN;
            goto out;
        }
    }

    PolicyHostState old = m->has_summary ? m->summary.state : POLICY_HOST_OK;
    m->summary = summary;
    m->has_summary = true;
    m->cycles++;
    if (summary.state != old) {
        log_notice("host memory state: %s -> %s (budget %" G_GUINT64_FORMAT " MiB)",
                   policy_host_state_to_string(old), policy_host_state_to_string(summary.state),
                   summary.budget_kib / 1024);
        EMIT(m, state_changed, summary.state);
    }
    EMIT0(m, cycle_done);
out:
    m->in_cycle = false;
    return r;
}

static gboolean on_cycle_timer(void *userdata)
{
    Manager *m = userdata;
    if (m->connected)
        manager_run_cycle(m);
    return G_SOURCE_CONTINUE;
}

static void restart_timer(Manager *m)
{
    if (m->no_timer)
        return;
    if (m->cycle_source)
        g_source_remove(m->cycle_source);
    guint ms = (guint)MAX(1, manager_get_interval_us(m) / 1000);
    m->cycle_source = g_timeout_add(ms, on_cycle_timer, m);
}

void manager_start(Manager *m)
{
    if (try_connect(m) < 0)
        schedule_reconnect(m);
    restart_timer(m);
}

/* ---- control ------------------------------------------------------------ */

int manager_reload(Manager *m, char **ret_error)
{
    g_autoptr(PolicyConfig) cfg = NULL;
    int r = load_config(m, &cfg, ret_error);
    if (r < 0)
        return r;
    g_autofree char *old_uri = g_strdup(manager_get_uri(m));
    uint64_t old_interval = manager_get_interval_us(m);
    policy_config_free(m->cfg);
    m->cfg = g_steal_pointer(&cfg);
    m->policy_generation++;
    log_notice("policy reloaded from %s", m->config_path ? m->config_path : "built-in defaults");
    if (manager_get_interval_us(m) != old_interval)
        restart_timer(m);
    if (g_strcmp0(old_uri, manager_get_uri(m)) != 0 && m->connected) {
        log_notice("connection URI changed to %s; reconnecting", manager_get_uri(m));
        handle_disconnect(m);
    }
    EMIT0(m, settings_changed);
    return 0;
}

void manager_set_paused(Manager *m, bool paused)
{
    if (m->paused == paused)
        return;
    m->paused = paused;
    log_notice("balancing %s", paused ? "paused: plans are made, nothing is changed" : "resumed");
    EMIT0(m, settings_changed);
}

int manager_set_override(Manager *m, ManagerDomain *d, const PolicySettings *settings, bool persist,
                         char **ret_error)
{
    if (!settings || settings->set == 0)
        return manager_reset_override(m, d, ret_error);
    /* The override must make sense on its own and laid over the rule the
     * domain matches. */
    int r = policy_settings_validate(settings, ret_error);
    if (r < 0)
        return r;
    PolicyEffective eff;
    policy_config_resolve(m->cfg, d->name, d->uuid, settings, &eff);
    PolicySettings merged = {
        .set = POLICY_FIELD_MINIMUM | POLICY_FIELD_STARTUP | POLICY_FIELD_MAXIMUM,
        .minimum = eff.minimum,
        .startup = eff.startup,
        .maximum = eff.maximum,
    };
    if (eff.startup.kind == POLICY_AMOUNT_UNSET)
        merged.set &= ~POLICY_FIELD_STARTUP;
    r = policy_settings_validate(&merged, ret_error);
    if (r < 0)
        return r;
    if (persist && !m->store) {
        /* not the caller's mistake: docs/dbus.md answers Failed */
        *ret_error =
            g_strdup_printf("persistent overrides are unavailable: %s",
                            m->overrides_problem ? m->overrides_problem : "no state directory");
        return -EIO;
    }
    if (persist) {
        r = override_store_put(m->store, d->uuid, d->name, settings, ret_error);
        if (r < 0)
            return r;
    }
    g_hash_table_replace(m->overrides, g_strdup(d->uuid), g_memdup2(settings, sizeof(*settings)));
    m->policy_generation++;
    log_notice("%s: policy override set%s", d->label, persist ? " (persistent)" : "");
    return 0;
}

int manager_reset_override(Manager *m, ManagerDomain *d, char **ret_error)
{
    if (m->store) {
        int r = override_store_put(m->store, d->uuid, d->name, NULL, ret_error);
        if (r < 0)
            return r;
    }
    if (g_hash_table_remove(m->overrides, d->uuid)) {
        m->policy_generation++;
        log_notice("%s: policy override removed", d->label);
    }
    return 0;
}

const PolicySettings *manager_get_override(Manager *m, const char *uuid)
{
    return g_hash_table_lookup(m->overrides, uuid);
}

/* ---- views -------------------------------------------------------------- */

bool manager_is_connected(Manager *m)
{
    return m->connected;
}

bool manager_is_paused(Manager *m)
{
    return m->paused;
}

bool manager_is_dry_run(Manager *m)
{
    return m->dry_run;
}

const PolicyConfig *manager_get_config(Manager *m)
{
    return m->cfg;
}

const PolicyHostSample *manager_get_host(Manager *m)
{
    return m->has_host ? &m->host : NULL;
}

const PolicyPlanSummary *manager_get_summary(Manager *m)
{
    return m->has_summary ? &m->summary : NULL;
}

uint64_t manager_get_cycles(Manager *m)
{
    return m->cycles;
}

char *manager_status_line(Manager *m)
{
    if (!m->connected)
        return g_strdup_printf("waiting for %s", manager_get_uri(m));
    if (!m->has_summary)
        return g_strdup("connected; no cycle yet");
    const PolicyPlanSummary *s = &m->summary;
    return g_strdup_printf("%u domains, %" G_GUINT64_FORMAT " MiB assigned of %" G_GUINT64_FORMAT
                           " MiB budget, host %s%s%s",
                           g_hash_table_size(m->domains), s->sum_assigned_kib / 1024,
                           s->budget_kib / 1024, policy_host_state_to_string(s->state),
                           m->paused ? ", paused" : "", m->dry_run ? ", dry-run" : "");
}

char *manager_dump(Manager *m)
{
    g_autoptr(GString) out = g_string_new(NULL);
    g_autofree char *status = manager_status_line(m);
    g_string_append_printf(out, "dynmemd %s: %s\n", DYNMEM_VERSION, status);
    g_string_append_printf(out, "connect: %s (%s)\ninterval: %" G_GUINT64_FORMAT " ms\n",
                           manager_get_uri(m), m->connected ? "connected" : "disconnected",
                           manager_get_interval_us(m) / 1000);
    g_string_append_printf(out, "paused: %s\ndry-run: %s\ncycles: %" G_GUINT64_FORMAT "\n",
                           m->paused ? "yes" : "no", m->dry_run ? "yes" : "no", m->cycles);
    if (m->has_host)
        g_string_append_printf(out,
                               "host: MemTotal %" G_GUINT64_FORMAT " KiB, MemAvailable "
                               "%" G_GUINT64_FORMAT " KiB%s\n",
                               m->host.mem_total_kib, m->host.mem_available_kib,
                               m->host.has_psi ? "" : ", no PSI");
    if (m->overrides_problem)
        g_string_append_printf(out, "overrides: %s\n", m->overrides_problem);

    g_autoptr(GPtrArray) all = manager_list_domains(m);
    g_autoptr(GArray) inputs = g_array_new(FALSE, TRUE, sizeof(PolicyDomainInput));
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE, sizeof(PolicyPlanEntry));
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        if (!d->has_entry)
            continue;
        PolicyDomainInput in = {.name = d->name,
                                .uuid = d->uuid,
                                .policy = &d->policy,
                                .caps = &d->caps,
                                .sample = d->has_sample ? &d->sample : NULL,
                                .state = &d->state};
        g_array_append_val(inputs, in);
        g_array_append_val(entries, d->entry);
    }
    if (m->has_summary) {
        g_autofree char *table = policy_plan_format_table((PolicyDomainInput *)(void *)inputs->data,
                                                          (PolicyPlanEntry *)(void *)entries->data,
                                                          inputs->len, &m->summary);
        g_string_append(out, table);
    }
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        g_string_append_printf(
            out,
            "domain %s uuid=%s status=%s assigned=%" G_GUINT64_FORMAT " target=%" G_GUINT64_FORMAT
            " errors=%" G_GUINT64_FORMAT " override=%s\n",
            d->label, d->uuid, d->has_entry ? policy_status_to_string(d->entry.status) : "new",
            d->has_entry ? d->entry.assigned_kib : 0, d->has_entry ? d->entry.target_kib : 0,
            d->action_errors, g_hash_table_contains(m->overrides, d->uuid) ? "yes" : "no");
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}
