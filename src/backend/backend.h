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
    BACKEND_EVENT_LAST,
} BackendEventKind;

const char *backend_event_kind_to_string(BackendEventKind kind);

/* uuid and name may be NULL for connection events. */
typedef void (*BackendEventFunc)(BackendEventKind kind, const char *uuid, const char *name,
                                 void *userdata);

/* One running domain in one collection. */
typedef struct {
    char uuid[BACKEND_UUID_STRING_LEN];
    char *name;
    bool has_sample; /* false: no memory figures at all this cycle (busy, no driver) */
    /* true: sample.balloon_kib is the balloon figure alone and the manager
     * adds virtio-mem `current` to get assigned_kib (virDomainMemoryStats);
     * false: sample.assigned_kib already includes it (bulk stats). */
    bool balloon_only;
    PolicyDomainSample sample;
} BackendDomainStats;

typedef struct Backend Backend;

typedef struct {
    const char *name;
    /* Connect to uri; events are delivered through backend->event_cb. */
    int (*open)(Backend *b, const char *uri, char **ret_error);
    void (*close)(Backend *b);
    bool (*is_open)(Backend *b);
    /* Every running domain with its memory figures (a GArray of
     * BackendDomainStats whose clear function frees the names). */
    int (*collect)(Backend *b, uint64_t now_us, GArray **ret_stats, char **ret_error);
    int (*read_caps)(Backend *b, const char *uuid, PolicyDomainCaps *ret, char **ret_error);
    /* One domain's figures asked of the hypervisor now, for when the bulk
     * ones cannot be trusted; balloon_kib is the balloon figure alone
     * (without virtio-mem) and assigned_kib is left 0. */
    int (*read_sample)(Backend *b, const char *uuid, uint64_t now_us, PolicyDomainSample *ret,
                       char **ret_error);
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
