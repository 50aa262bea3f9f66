/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager: construction, the connection and its events, the timers,
 * reload, pause and overrides, and the read-only views. The cycle, the
 * actions, the domain table and Dump have files of their own
 * (manager-private.h).
 */
#include "config-file.h"
#include "log.h"
#include "manager-private.h"
#include "text.h"

#include <errno.h>
#include <string.h>

/* Most of a failed load's error text given back (log, D-Bus reply). */
#define MANAGER_ERROR_TEXT_MAX (16 * 1024)

#define RECONNECT_MIN_S 1
#define RECONNECT_MAX_S 30

uint64_t manager_now_us(Manager *m)
{
    if (m->clock)
        return m->clock(m->clock_userdata);
    return (uint64_t)g_get_monotonic_time();
}

static void on_backend_event(BackendEventKind kind, const char *uuid, const char *name,
                             void *userdata);
static void schedule_reconnect(Manager *m);

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
    m->meminfo_path = g_build_filename(m->proc_root, "meminfo", NULL);
    m->psi_path = g_build_filename(m->proc_root, "pressure", "memory", NULL);
    m->state_dir = g_strdup(opts->state_dir);
    m->clock = opts->clock;
    m->clock_userdata = opts->clock_userdata;
    m->no_timer = opts->no_timer;
    m->record_override = g_strdup(opts->record_file);
    m->record_fd = -1;
    m->reconnect_delay_s = RECONNECT_MIN_S;
    m->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, manager_domain_free);
    m->saved_states = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->overrides = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    m->order = g_ptr_array_new();
    m->collected = g_ptr_array_new();
    m->domains_generation = 1; /* collected_generation 0: no hint yet */
    m->inputs = g_array_new(FALSE, TRUE, sizeof(PolicyDomainInput));
    m->entries = g_array_new(FALSE, TRUE, sizeof(PolicyPlanEntry));
    m->listeners = g_array_new(FALSE, TRUE, sizeof(ListenerSlot));
    m->reservations = g_ptr_array_new_with_free_func(manager_reservation_free);
    m->refusals = g_ptr_array_new_with_free_func(manager_reservation_free);
    m->res_array = g_array_new(FALSE, TRUE, sizeof(PolicyReservation));
    m->engine = policy_engine_new();
    m->policy_generation = 1;

    int r = load_config(m, &m->cfg, ret_error);
    if (r < 0) {
        backend_free(backend);
        return r;
    }
    if (m->state_dir)
        load_persistent_overrides(m);
    manager_record_configure(m);
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
    /* a start waiting for us must not wait for a daemon that is gone; the
     * reservations go before the backend they hold domains in */
    manager_admission_answer_all(m, true, "not checked: dynmemd is stopping");
    g_ptr_array_set_size(m->reservations, 0);
    g_ptr_array_set_size(m->refusals, 0);
    /* Domains keep the memory they have: nothing is undone on exit. */
    backend_free(m->backend);
    manager_domains_changed(m);
    g_hash_table_destroy(m->domains);
    g_hash_table_destroy(m->saved_states);
    g_hash_table_destroy(m->overrides);
    override_store_free(m->store);
    g_free(m->overrides_problem);
    g_ptr_array_free(m->order, TRUE);
    g_ptr_array_free(m->collected, TRUE);
    g_array_free(m->inputs, TRUE);
    g_array_free(m->entries, TRUE);
    g_array_free(m->listeners, TRUE);
    g_ptr_array_free(m->reservations, TRUE);
    g_ptr_array_free(m->refusals, TRUE);
    g_array_free(m->res_array, TRUE);
    policy_engine_free(m->engine);
    manager_record_close(m);
    g_free(m->record_override);
    policy_config_free(m->cfg);
    g_free(m->config_path);
    g_free(m->uri_override);
    g_free(m->proc_root);
    g_free(m->meminfo_path);
    g_free(m->psi_path);
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

/* ---- connection --------------------------------------------------------- */

void manager_handle_disconnect(Manager *m)
{
    m->counters.failures[MANAGER_FAILURE_DISCONNECT]++;
    if (!m->connected)
        return;
    log_warning("lost the connection to %s; nothing is changed until it is back",
                manager_get_uri(m));
    m->connected = false;
    m->backend->ops->close(m->backend);
    manager_forget_all_domains(m, "connection lost");
    manager_admission_answer_all(m, true, "not checked: dynmemd lost its connection to libvirt");
    EMIT0(m, settings_changed);
    m->reconnect_delay_s = RECONNECT_MIN_S;
    schedule_reconnect(m);
}

static gboolean on_disconnect_idle(void *userdata)
{
    Manager *m = userdata;
    m->disconnect_source = 0;
    manager_handle_disconnect(m);
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
    m->planned = false;
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
    ManagerDomain *d = uuid ? manager_domain_lookup(m, uuid) : NULL;
    if (dynmem_log_get_level() >= LOG_DEBUG) {
        g_autofree char *label = policy_escape(name ? name : "-", 0);
        log_debug("event %s for %s", backend_event_kind_to_string(kind), label);
    }
    switch (kind) {
    case BACKEND_EVENT_DOMAIN_STARTED:
        if (d)
            manager_domain_remove(m, d, "restarted");
        d = manager_domain_add(m, uuid, name);
        memset(&d->state, 0, sizeof(d->state));
        policy_domain_state_init_booted(&d->state, manager_now_us(m));
        manager_admission_started(m, d, true);
        break;
    case BACKEND_EVENT_DOMAIN_ARRIVED:
        /* migrated in or restored: running as it was, no boot to grace */
        if (d)
            manager_domain_remove(m, d, "restarted");
        d = manager_domain_add(m, uuid, name);
        memset(&d->state, 0, sizeof(d->state));
        manager_admission_started(m, d, false);
        break;
    case BACKEND_EVENT_DOMAIN_STOPPED:
        g_hash_table_remove(m->saved_states, uuid);
        if (uuid)
            manager_admission_stopped(m, uuid);
        if (d)
            manager_domain_remove(m, d, "stopped");
        break;
    case BACKEND_EVENT_DOMAIN_CHANGED:
        if (d)
            d->caps_dirty = true;
        break;
    case BACKEND_EVENT_DOMAIN_DEFINED:
        break;
    case BACKEND_EVENT_POLICY_CHANGED:
        /* read before the next plan: within a cycle */
        if (d)
            ((DomainPriv *)d)->metadata_dirty = true;
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

static gboolean on_cycle_timer(void *userdata)
{
    Manager *m = userdata;
    if (m->connected)
        manager_run_cycle(m);
    else
        manager_admission_settle(m, manager_now_us(m)); /* expiries go on */
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
    manager_record_configure(m);
    if (g_strcmp0(old_uri, manager_get_uri(m)) != 0 && m->connected) {
        log_notice("connection URI changed to %s; reconnecting", manager_get_uri(m));
        manager_handle_disconnect(m);
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
    DomainPriv *p = (DomainPriv *)d;
    r = manager_domain_check_layers(m, d, p->has_metadata ? &p->metadata : NULL, settings,
                                    ret_error);
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

const ManagerCounters *manager_get_counters(Manager *m)
{
    return &m->counters;
}

const char *manager_failure_to_string(ManagerFailure f)
{
    static const char *const names[MANAGER_FAILURE_LAST] = {
        [MANAGER_FAILURE_STATS] = "stats",
        [MANAGER_FAILURE_HOST] = "host",
        [MANAGER_FAILURE_ENGINE] = "engine",
        [MANAGER_FAILURE_DISCONNECT] = "disconnect",
    };
    return (unsigned)f < MANAGER_FAILURE_LAST ? names[f] : "unknown";
}

const char *manager_change_result_to_string(ManagerChangeResult r)
{
    static const char *const names[MANAGER_CHANGE_LAST] = {
        [MANAGER_CHANGE_APPLIED] = "applied",
        [MANAGER_CHANGE_FAILED] = "failed",
        [MANAGER_CHANGE_NOT_APPLIED] = "not_applied",
    };
    return (unsigned)r < MANAGER_CHANGE_LAST ? names[r] : "unknown";
}

uint64_t manager_get_cycles(Manager *m)
{
    return m->cycles;
}
