/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's insides, shared by its files:
 *   manager.c          construction, connection, timers, control, views
 *   manager-domains.c  the domain table: add, remove, look up, sort
 *   manager-cycle.c    one cycle: collect, prepare, plan
 *   manager-actions.c  carrying out a plan, failures and re-sends
 *   manager-dump.c     Dump and the status line
 *   manager-record.c   the recorder (daemon.record-file, --record)
 * Nothing outside src/daemon/manager*.c includes this (tests may).
 */
#pragma once

#include "manager.h"
#include "overrides.h"

/* A guest that cannot unplug virtio-mem blocks at once (they are in use)
 * retries by itself only after about 50 s; sending the same request again
 * makes it try at once (measured, docs/e2e-guest.md). */
#define VIRTIO_MEM_RESEND_US (5 * G_USEC_PER_SEC)

/* An action failing every cycle is logged once, then at most this often
 * with a count, and once more when it succeeds again. */
#define ACTION_ERROR_SUMMARY_US (60 * G_USEC_PER_SEC)

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
    char *meminfo_path; /* under proc_root, built once */
    char *psi_path;
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
    GHashTable *by_name;      /* name -> ManagerDomain*; NULL when stale (manager-domains.c) */
    GHashTable *saved_states; /* uuid -> PolicyDomainState*, across reconnects */
    GHashTable *overrides;    /* uuid -> PolicySettings* */
    OverrideStore *store;     /* the persistent ones; NULL: not available */
    char *overrides_problem;  /* why persisted overrides were not loaded, for Dump */
    PolicyEngine *engine;

    PolicyHostSample host;
    bool has_host;
    PolicyPlanSummary summary;
    bool has_summary;

    /* the domains of the last collection in its order, where each is
     * looked for first (a backend gives them in the same order from
     * cycle to cycle); valid while collected_generation is
     * domains_generation, which counts the domains coming, going and
     * being renamed */
    GPtrArray *collected;
    uint64_t collected_generation;
    uint64_t domains_generation;
    GPtrArray *order;  /* domains of this cycle, sorted by name */
    GPtrArray *sorted; /* every domain sorted by name; NULL when stale */
    GArray *inputs;    /* PolicyDomainInput */
    GArray *entries;   /* PolicyPlanEntry */
    GArray *listeners; /* ListenerSlot */

    GPtrArray *reservations; /* ManagerReservation*, waiting and granted */
    GPtrArray *refusals;     /* ManagerReservation*, the recent refused ones */
    GArray *res_array;       /* PolicyReservation, the engine's copy this cycle */
    bool planned;            /* a plan was made since the connection opened */

    /* the recorder (manager-record.c) */
    char *record_override;       /* --record: wins over daemon.record-file */
    char *record_path;           /* the file asked for; NULL: none */
    int record_fd;               /* -1: not recording (off, failed or full) */
    uint64_t record_size;        /* bytes in the file */
    uint64_t record_max_bytes;   /* daemon.record-max-size */
    bool record_session_started; /* this opening's header is written */
    uint64_t record_start_us;    /* the session's time 0 */

    bool paused;
    bool in_cycle;
    uint64_t cycles;
    ManagerCounters counters;
};

/* Per-domain bookkeeping the header does not need to show. */
typedef struct {
    ManagerDomain pub;
    uint64_t policy_generation;
    /* since when each virtio-mem device's `current` has not matched its
     * `requested` (0: it matches), and when we last (re)sent it */
    uint64_t vmem_pending_since_us[POLICY_MAX_VIRTIO_MEM];
    /* the last stuck request the log told of (current, requested): the
     * same one asked again is not told again */
    uint64_t vmem_told_current_kib[POLICY_MAX_VIRTIO_MEM];
    uint64_t vmem_told_requested_kib[POLICY_MAX_VIRTIO_MEM];
    bool balloon_only;             /* the sample's balloon figure excludes virtio-mem */
    BackendDomainMemo memo;        /* the backend's, to complete the samples */
    bool sample_failing;           /* completing the sample failed, and the log said so */
    uint64_t seen_self_deflate_us; /* the guest's last deflate-on-oom, as logged */
    /* its protection as the log last told it; a different one is told
     * once it has lasted PROTECTION_SETTLE_US (manager-cycle.c) */
    bool has_told_protection;
    PolicyProtection told_protection;
    PolicyProtection pending_protection; /* told_protection: none waiting */
    uint64_t pending_protection_us;      /* since when it has been the one */
    unsigned protection_reversals;       /* changes that reversed too soon, untold */
    /* failing actions: the first is logged, then a summary a minute */
    bool action_failing;
    uint64_t action_failures;   /* since the last line about them */
    uint64_t action_logged_us;  /* when that line was written */
    uint64_t action_fail_total; /* since the first failure */
    /* this cycle's actions, over both passes (manager_apply_plan()) */
    bool apply_issued;
    bool apply_failed;
    uint64_t apply_failed_kib; /* what the failed ones would have moved */
    /* the policy the domain carries in its metadata (docs/metadata.md):
     * the last valid layer; a bad one never applies and leaves it */
    bool metadata_dirty; /* read it again before the next plan */
    bool has_metadata;
    PolicySettings metadata;
    char *metadata_problem; /* why the last one read was ignored; NULL: it applies */
} DomainPriv;

/* A domain about to start (manager-admission.c, docs/admission.md). */
typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN];
    char *name;
    char *label;           /* policy_escape()d, for logs and messages */
    uint64_t boot_kib;     /* what its definition boots with */
    uint64_t balloon_kib;  /* the balloon target that gives it size_kib at its start; 0: none */
    PolicyReservation res; /* the engine's view: size, weight, state */
    uint64_t asked_us;
    uint64_t granted_us;
    ManagerAdmitFunc cb; /* NULL once answered */
    void *userdata;
    char *message; /* why it was refused */
    Manager *manager;
    bool held;   /* the backend asks the domain nothing meanwhile */
    guint timer; /* its admission-wait running out, between cycles */
} ManagerReservation;

/* Domains about to start: answered and expired in each cycle; the start
 * event turns one into the domain's own memory. */
void manager_reservation_free(void *p);
/* Before a plan: the reservations into the engine, in priority order. */
void manager_admission_prepare(Manager *m);
/* After a plan: answer what was decided, drop what expired. */
void manager_admission_settle(Manager *m, uint64_t now);
/* The domain started (or its guest reported): its reservation, if any,
 * is its own memory now; with booted, a start size that differs from what
 * it booted with is set at once (not for a guest migrated in or restored,
 * which runs as it was). */
void manager_admission_started(Manager *m, ManagerDomain *d, bool booted);
/* The domain stopped: a granted reservation of it is forgotten (its start
 * failed after the hook); a waiting one is not (libvirt is inside the
 * hook for that start: the stop is of the instance before). */
void manager_admission_stopped(Manager *m, const char *uuid);
/* Is a reservation standing for this domain (not yet started)? */
bool manager_admission_holds(Manager *m, const char *uuid);
/* Answer every pending start (stopping, disconnected). */
void manager_admission_answer_all(Manager *m, bool admitted, const char *why);

/* The metadata's keys as one validated layer; on the first bad key,
 * -EINVAL and *ret_error naming it (manager-domains.c). */
int manager_metadata_layer(GPtrArray *pairs, PolicySettings *ret, char **ret_error);

/* Read the domain's metadata layer again (manager-domains.c). */
void manager_domain_read_metadata(Manager *m, ManagerDomain *d);
/* The domain's rule with these layers over it (either may be NULL) makes
 * sense: minimum <= startup <= maximum. Returns 0 or -EINVAL with
 * *ret_error. */
int manager_domain_check_layers(Manager *m, ManagerDomain *d, const PolicySettings *metadata,
                                const PolicySettings *override, char **ret_error);

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

/* manager.c */
uint64_t manager_now_us(Manager *m);
/* Close, forget every domain (keeping their engine states), reconnect. */
void manager_handle_disconnect(Manager *m);

/* manager-domains.c: the table. A domain added is announced to the
 * listeners; one removed is announced, then freed. */
void manager_domain_free(void *p);
ManagerDomain *manager_domain_add(Manager *m, const char *uuid, const char *name);
void manager_domain_remove(Manager *m, ManagerDomain *d, const char *why);
ManagerDomain *manager_domain_lookup(Manager *m, const char *uuid);
/* The backend calls the domain something else now. */
void manager_domain_rename(Manager *m, ManagerDomain *d, const char *name);
/* Domains came, went or were renamed: the sorted list and the name index
 * are rebuilt when next asked for. */
void manager_domains_changed(Manager *m);
/* Every domain, its engine state kept aside for when it comes back. */
void manager_forget_all_domains(Manager *m, const char *why);
/* The effective policy, resolved again only after a reload or override. */
void manager_domain_resolve_policy(Manager *m, ManagerDomain *d);
/* The engine's view of a domain: borrowed pointers into d (inline: once
 * a domain a cycle). */
static inline void manager_domain_input(ManagerDomain *d, PolicyDomainInput *ret)
{
    *ret = (PolicyDomainInput){
        .name = d->name,
        .uuid = d->uuid,
        .policy = &d->policy,
        .caps = &d->caps,
        .sample = d->has_sample ? &d->sample : NULL,
        .state = &d->state,
    };
}

/* manager-record.c: open, switch or close the record file as the options
 * and the policy say (at start and after a reload); append this cycle's
 * lines (m->order, planned); close it for good. */
void manager_record_configure(Manager *m);
void manager_record_cycle(Manager *m, uint64_t now, const PolicyPlanSummary *summary);
void manager_record_close(Manager *m);
/* The record file's columns, and one domain's line (tests read both). */
extern const char *const manager_record_columns;
void manager_record_format_line(GString *out, uint64_t since_us, const ManagerDomain *d);

/* manager-actions.c: carry out the domains' last plan entries, every
 * shrink first, then every grow, then re-send stuck virtio-mem requests.
 * A slot of `order` whose domain vanished is set to NULL. Returns 0, or
 * -ENOTCONN when the connection dropped (the caller disconnects). */
int manager_apply_plan(Manager *m, GPtrArray *order, uint64_t now);
