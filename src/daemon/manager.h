/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager: one struct owns all of the daemon's state — the config, the
 * backend and its connection, the domains with their capabilities, samples
 * and engine state, host readings, the cycle timer, runtime overrides —
 * and runs the cycle of DESIGN.md §2 on the GLib main loop.
 *
 * Front ends (main.c, the D-Bus interfaces) call the functions below and
 * learn about changes through ManagerListener callbacks.
 */
#pragma once

#include "admission.h"
#include "backend.h"
#include "config.h"
#include "engine.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Manager Manager;

typedef uint64_t (*ManagerClockFunc)(void *userdata); /* monotonic µs */

typedef struct {
    const char *config_path; /* policy.yaml; NULL: built-in defaults */
    const char *connect_uri; /* overrides daemon.connect when set */
    uint64_t interval_us;    /* overrides daemon.interval when non-zero */
    bool dry_run;            /* plan and log, change nothing */
    const char *proc_root;   /* "/proc" unless tests point elsewhere */
    const char *state_dir;   /* persisted overrides; NULL: none */
    ManagerClockFunc clock;  /* NULL: g_get_monotonic_time() */
    void *clock_userdata;
    bool no_timer; /* tests drive cycles by hand */
    /* --record: a record file (absolute path) overriding daemon.record-file */
    const char *record_file;
} ManagerOptions;

/* One running domain as the manager knows it. Owned by the manager;
 * pointers stay valid until the domain_removed callback returns. */
typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN];
    char *name;
    char *label; /* the name as logs and Dump show it (policy_escape) */
    PolicyDomainCaps caps;
    bool caps_valid;
    bool caps_dirty; /* re-read the live XML before the next plan */
    bool stats_period_set;
    bool has_sample;
    PolicyDomainSample sample;
    PolicyDomainState state;
    PolicyEffective policy;
    /* "key=source" per policy key (default, rule, metadata, override),
     * NULL-terminated; static strings */
    const char *policy_sources[POLICY_MAX_DOMAIN_KEYS + 1];
    PolicyPlanEntry entry; /* the last plan for this domain */
    bool has_entry;
    uint64_t action_errors; /* failed actions since the domain was found */
    bool seen;              /* in this cycle's stats */
    void *bus_data;         /* for the D-Bus front end */
} ManagerDomain;

typedef struct {
    void (*domain_added)(Manager *m, ManagerDomain *d, void *userdata);
    void (*domain_removed)(Manager *m, ManagerDomain *d, void *userdata);
    /* one change of a domain's memory (also in dry-run: applied=false) */
    void (*adjusted)(Manager *m, ManagerDomain *d, const PolicyAction *action, const char *reason,
                     bool applied, void *userdata);
    void (*state_changed)(Manager *m, PolicyHostState state, void *userdata);
    void (*cycle_done)(Manager *m, void *userdata);
    /* connected, paused, interval or config changed */
    void (*settings_changed)(Manager *m, void *userdata);
    /* a domain's start was refused (docs/admission.md) */
    void (*start_refused)(Manager *m, const char *name, const char *uuid, uint64_t size_kib,
                          const char *message, void *userdata);
} ManagerListener;

/* Build a manager: load the config (errors in *ret_error, every one of them
 * on separate lines), take ownership of the backend. Does not connect yet. */
int manager_new(const ManagerOptions *opts, Backend *backend, Manager **ret, char **ret_error);
void manager_free(Manager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Front ends register here; every listener hears every event. The
 * listener struct must outlive the manager. */
void manager_add_listener(Manager *m, const ManagerListener *listener, void *userdata);

/* Connect (or schedule reconnection) and start the cycle timer. */
void manager_start(Manager *m);

/* Run one cycle now. Returns 0, or a negative errno when no plan could be
 * made (not connected, host unreadable). */
int manager_run_cycle(Manager *m);

/* Re-read the config file; on failure keep the running policy. */
int manager_reload(Manager *m, char **ret_error);

void manager_set_paused(Manager *m, bool paused);

/* Runtime overrides, validated like YAML. persist writes them to the state
 * directory. NULL settings or reset remove the override. */
int manager_set_override(Manager *m, ManagerDomain *d, const PolicySettings *settings, bool persist,
                         char **ret_error);
int manager_reset_override(Manager *m, ManagerDomain *d, char **ret_error);
const PolicySettings *manager_get_override(Manager *m, const char *uuid);

/* Look a domain up as a user names it: text shaped like a UUID (any case)
 * matches only a domain's UUID, anything else only a name. */
ManagerDomain *manager_find_domain(Manager *m, const char *name_or_uuid);
/* The domain with exactly this UUID (as the backend writes it), or NULL. */
ManagerDomain *manager_find_domain_by_uuid(Manager *m, const char *uuid);
/* Domains sorted by name, a newly allocated array of borrowed pointers. */
GPtrArray *manager_list_domains(Manager *m);

/* What the daemon has done since it started, for the metrics. A cycle
 * that fails says why: the domains' statistics could not be collected, the
 * host's memory could not be read, or the engine refused its input. */
typedef enum {
    MANAGER_FAILURE_STATS = 0,
    MANAGER_FAILURE_HOST,
    MANAGER_FAILURE_ENGINE,
    MANAGER_FAILURE_DISCONNECT, /* the connection to libvirt was lost */
    MANAGER_FAILURE_LAST,
} ManagerFailure;

typedef enum {
    MANAGER_CHANGE_APPLIED = 0,
    MANAGER_CHANGE_FAILED,
    MANAGER_CHANGE_NOT_APPLIED, /* dry-run or paused: planned, not made */
    MANAGER_CHANGE_LAST,
} ManagerChangeResult;

typedef struct {
    uint64_t cycles_run;     /* every cycle begun, failed ones included */
    uint64_t cycle_us_total; /* their wall-clock time */
    uint64_t failures[MANAGER_FAILURE_LAST];
    uint64_t changes[POLICY_ACTION_LAST][MANAGER_CHANGE_LAST];
} ManagerCounters;

const char *manager_failure_to_string(ManagerFailure f);
const char *manager_change_result_to_string(ManagerChangeResult r);
const ManagerCounters *manager_get_counters(Manager *m);

/* Read-only views for front ends. */
bool manager_is_connected(Manager *m);
bool manager_is_paused(Manager *m);
bool manager_is_dry_run(Manager *m);
uint64_t manager_get_interval_us(Manager *m);
const PolicyConfig *manager_get_config(Manager *m);
const PolicyHostSample *manager_get_host(Manager *m);
const PolicyPlanSummary *manager_get_summary(Manager *m);
uint64_t manager_get_cycles(Manager *m);
const char *manager_get_uri(Manager *m);

/* Why the domain's policy metadata was ignored (its last valid layer, if
 * any, still applies), or NULL when it applies or there is none. */
const char *manager_domain_metadata_problem(const ManagerDomain *d);

/* ---- admission (docs/admission.md) -------------------------------------- */

/* The answer to a start: admitted or not, and one line saying why (the
 * refusal's reason, or a note such as "not checked: ..."). Called once. */
typedef void (*ManagerAdmitFunc)(Manager *m, bool admitted, const char *message, void *userdata);

/* A domain is about to start with this definition (the hook's stdin).
 * Returns 0 and calls cb once it is decided (maybe before returning: free
 * memory is granted at once); -EINVAL with *ret_error for a definition
 * that cannot be read, -EOPNOTSUPP when the backend cannot admit (cb is
 * then never called). */
int manager_admit(Manager *m, const char *definition, ManagerAdmitFunc cb, void *userdata,
                  char **ret_error);
/* The daemon stops: every start still waiting for an answer is let go
 * ("not checked"), while the bus can still carry the answers. */
void manager_admission_stop(Manager *m);
/* Forget the reservation of the domain called `name` (its start failed
 * or it stopped): an unanswered one is answered "not admitted". */
void manager_release(Manager *m, const char *name);

typedef struct {
    char *name;
    char uuid[BACKEND_UUID_STRING_LEN];
    const char *state; /* "waiting", "reserved" or "refused" */
    uint64_t size_kib;
    uint32_t weight;
    uint64_t age_us; /* since it was asked for */
    char *message;   /* the refusal's reason; "" otherwise */
} ManagerReservationView;

/* The reservations, waiting first, then granted, then the recent
 * refusals (the last 16 of the last 10 minutes). A new GArray of views
 * that frees its strings. */
GArray *manager_list_reservations(Manager *m);

typedef struct {
    char *name;
    uint64_t trim_kib;
} ManagerTrim;

/* What-if: would a start of size_kib by a domain called `name` (its
 * policy's weight, as the YAML rules give it) be admitted now, and what
 * would be trimmed for it. *ret_state: GRANTED (free now), WAITING (after
 * the trims in *ret_trims, a new GArray of ManagerTrim that frees its
 * names) or REFUSED; *ret_message says it in words. Returns 0, or
 * -EAGAIN before the first plan. */
int manager_admit_whatif(Manager *m, const char *name, uint64_t size_kib,
                         PolicyReservationState *ret_state, char **ret_message, GArray **ret_trims);

/* The whole state as text: the plan table plus per-domain details. */
char *manager_dump(Manager *m);

/* Is the recorder writing (daemon.record-file or --record, opened, not
 * stopped by its size limit or a failure)? */
bool manager_is_recording(Manager *m);

/* One-line summary for sd_notify STATUS= and logs. */
char *manager_status_line(Manager *m);
