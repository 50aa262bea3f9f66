/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The backend interface: how the manager reaches a hypervisor.
 *
 * The manager only ever sees this struct of function pointers, so it runs
 * the same on libvirt (src/libvirt-backend), on the fake backend of the
 * tests and on a simulator. Nothing here includes or links libvirt.
 *
 * Errors are negative errno: -ENOENT the domain is gone, -ENOTCONN the
 * connection is lost (the manager reconnects), -EOPNOTSUPP the domain or
 * driver cannot do it, -EIO anything else; *ret_error then holds a newly
 * allocated message (libvirt's own text where there is one).
 */
#pragma once

#include "engine.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define BACKEND_UUID_STRING_LEN 37

typedef enum {
    BACKEND_EVENT_DOMAIN_STARTED = 0, /* boot (or resume from save): start a grace period */
    BACKEND_EVENT_DOMAIN_STOPPED,     /* shut off, crashed, destroyed: forget it */
    BACKEND_EVENT_DOMAIN_CHANGED,     /* devices or balloon changed: re-read capabilities */
    BACKEND_EVENT_DOMAIN_DEFINED,     /* defined/undefined: informational */
    BACKEND_EVENT_DISCONNECTED,       /* the connection dropped */
    BACKEND_EVENT_POLICY_CHANGED,     /* the domain's dynmem metadata changed: re-read it */
    BACKEND_EVENT_DOMAIN_ARRIVED,     /* running again as it was: migrated in, restored */
    BACKEND_EVENT_LAST,
} BackendEventKind;

const char *backend_event_kind_to_string(BackendEventKind kind);

/* uuid and name may be NULL for connection events. */
typedef void (*BackendEventFunc)(BackendEventKind kind, const char *uuid, const char *name,
                                 void *userdata);

/* One running domain in one collection. */
typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN];
    /* the backend's own, not a copy made a domain a cycle: valid until
     * the main loop runs again or the backend is called again */
    const char *name;
    bool has_sample; /* false: no memory figures at all this cycle (busy, no driver) */
    /* true: sample.balloon_kib is the balloon figure alone, and completing
     * the sample adds virtio-mem `current` to get assigned_kib; false:
     * sample.assigned_kib already includes it. */
    bool balloon_only;
    PolicyDomainSample sample;
} BackendDomainStats;

/* What a backend remembers of one domain from cycle to cycle to complete
 * its samples. The manager keeps one with each domain (zeroed when the
 * domain is found, gone with it) and never reads it, so a backend holds
 * no per-domain table of its own. */
typedef struct {
    bool live_unsupported;     /* the hypervisor cannot be asked: never again */
    bool has_live_balloon;     /* a balloon figure was asked of it in this window ... */
    uint64_t live_balloon_kib; /* ... this one, the last time */
    /* A virtio-mem guest's collected figure (balloon + virtio-mem as of
     * the hypervisor's last balloon event), the virtio-mem plugged when it
     * was first seen, and whether the balloon was asked since. */
    bool bulk_known;
    uint64_t bulk_kib;
    uint64_t bulk_vmem_kib;
    bool live_since_bulk;
    uint64_t seen_vmem_kib; /* the virtio-mem plugged last cycle */
    /* The DIMMs last seen (has_seen_dimms: any seen at all); a change
     * opens the window in which the figures are asked live. */
    bool has_seen_dimms;
    uint32_t seen_n_dimms;
    uint64_t seen_ceiling_kib; /* the balloon ceiling then */
    /* The window: open at least until live_window_until_us, then until
     * a live figure agrees with the collected one. */
    bool live_window;
    uint64_t live_window_until_us;
} BackendDomainMemo;

/* Where a completed sample's figures come from. */
typedef enum {
    BACKEND_SAMPLE_COLLECTED = 0, /* the collection's, completed */
    BACKEND_SAMPLE_LIVE,          /* asked of the hypervisor now */
    BACKEND_SAMPLE_HELD,          /* not to be trusted, not asked (busy): guest figures dropped */
    BACKEND_SAMPLE_LAST,
} BackendSampleSource;

/* Complete a collected sample from the capabilities: assigned_kib and
 * balloon_kib both set (balloon_only says which one it has), and for an
 * autodeflate guest MemTotal dropped (it counts ballooned pages as used,
 * so it is no view of the guest's demand). */
void backend_sample_complete(const PolicyDomainCaps *caps, bool balloon_only,
                             PolicyDomainSample *sample);

/* A domain about to start, from the definition it starts with (the
 * admission hook passes it on, docs/admission.md). */
typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN]; /* as the backend writes UUIDs */
    char *name;
    uint64_t boot_kib; /* what it boots with: its balloon target plus virtio-mem requested */
    PolicyDomainCaps caps;
    GPtrArray *policy_pairs; /* its own policy keys, key then value; NULL: none */
    char *policy_problem;    /* why they are ignored (malformed); NULL: they are not */
} BackendStart;

void backend_start_clear(BackendStart *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BackendStart, backend_start_clear)

typedef struct Backend Backend;

typedef struct {
    const char *name;
    /* Connect to uri; events are delivered through backend->event_cb. */
    int (*open)(Backend *b, const char *uri, char **ret_error);
    void (*close)(Backend *b);
    bool (*is_open)(Backend *b);
    /* Every running domain with its memory figures (a GArray of
     * BackendDomainStats, their names borrowed as said there), but those
     * held (hold()). -EAGAIN: which domains run is not known yet (just
     * connected): no figures, and no domain is gone. */
    int (*collect)(Backend *b, uint64_t now_us, GArray **ret_stats, char **ret_error);
    /* A domain is about to start (admission): asked nothing, not even its
     * figures, until released (held false). libvirt holds a domain while
     * its hooks run, and one of them waits for the daemon. NULL: nothing
     * to do. */
    void (*hold)(Backend *b, const char *uuid, bool held);
    int (*read_caps)(Backend *b, const char *uuid, PolicyDomainCaps *ret, char **ret_error);
    /* Finish one domain's collected sample once its capabilities are
     * current (the manager calls it every cycle, after read_caps, for each
     * domain with a sample): as backend_sample_complete(), and where the
     * collected figures are known to be wrong, asked of the hypervisor
     * now or, failing that, held (guest figures dropped, so the engine
     * neither grows nor shrinks the domain). Returns a BackendSampleSource,
     * or a negative errno with *ret_error: -EOPNOTSUPP the hypervisor
     * cannot be asked (the collected figures are used, now and from then
     * on); anything else, the sample is held. NULL: backend_sample_complete(). */
    int (*complete_sample)(Backend *b, const char *uuid, const PolicyDomainCaps *caps,
                           uint64_t now_us, bool balloon_only, BackendDomainMemo *memo,
                           PolicyDomainSample *sample, char **ret_error);
    /* The policy keys the domain carries with it (its metadata in dynmem's
     * namespace, docs/metadata.md): a new array of strings, key then
     * value, empty when it has none. Unchecked text: the manager validates
     * it as it does the YAML. -EBADMSG: the metadata itself is malformed
     * (*ret_error says how; reading again will not help). NULL: no such
     * metadata. */
    int (*read_policy)(Backend *b, const char *uuid, GPtrArray **ret_pairs, char **ret_error);
    /* A definition a domain is about to start with (hostile text: a
     * malformed one is -EINVAL with *ret_error) into *ret. Never asks the
     * hypervisor: the admission hook's caller waits for the answer. NULL:
     * the backend cannot admit. */
    int (*describe_start)(Backend *b, const char *definition, BackendStart *ret, char **ret_error);
    int (*set_stats_period)(Backend *b, const char *uuid, unsigned period_s, char **ret_error);
    int (*apply)(Backend *b, const char *uuid, const PolicyAction *action, char **ret_error);
    void (*free)(Backend *b);
} BackendOps;

struct Backend {
    const BackendOps *ops;
    BackendEventFunc event_cb;
    void *event_userdata;
};

static inline void backend_free(Backend *b)
{
    if (b)
        b->ops->free(b);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Backend, backend_free)

/* A GArray of BackendDomainStats with the right clear function. */
GArray *backend_stats_array_new(void);
/* ... with room for reserved of them (no reallocation while it fills). */
GArray *backend_stats_array_sized_new(guint reserved);
