/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt backend: the only code that includes libvirt.
 *
 * One connection; events arrive on the GLib main loop (libvirt-glib's
 * gvir_event_register() must run before the connection is opened). Stats
 * come from one virDomainListGetStats() per cycle over the running domains
 * already known, with NOWAIT so a domain busy in a job cannot stall the
 * cycle. The test driver's bulk stats have no balloon fields, so there
 * (and only there) each domain is asked with virDomainMemoryStats()
 * instead.
 *
 * Which domains run is learnt from the lifecycle events and from a listing
 * (virConnectListAllDomains) made in a thread of its own every
 * DISCOVERY_INTERVAL_US: listing locks every domain in libvirtd, and a
 * domain being started stays locked while libvirt runs its hooks, one of
 * which (dynmem-hook, admission) waits for this daemon's answer. A listing
 * on the main loop would wait for that hook, and the hook for us.
 */
#include "libvirt-backend.h"
#include "domain-xml.h"
#include "libvirt-backend-private.h"
#include "qemu-sample.h"

#include <errno.h>
#include <libvirt-glib/libvirt-glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

/* How often the running domains are listed (in a thread) besides the
 * lifecycle events, which announce every start and stop: a safety net for
 * an event lost across a reconnect. */
#define DISCOVERY_INTERVAL_US (30 * G_USEC_PER_SEC)

/* Keepalive: a dead libvirtd is noticed within interval * (count + 1). */
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT      3

enum {
    EV_LIFECYCLE,
    EV_DEVICE_ADDED,
    EV_DEVICE_REMOVED,
    EV_MEMORY_DEVICE_SIZE,
    EV_METADATA,
    EV_LAST,
};

typedef struct LibvirtBackend LibvirtBackend;

/* One running domain the stats are asked for: its handle (referenced),
 * libvirt's name in that handle, its UUID, and where it sits in
 * lb->known and lb->known_doms. */
typedef struct {
    virDomainPtr dom;
    const char *name;
    guint pos;
    uint64_t seen;                     /* the collection that last saw it running */
    char uuid[VIR_UUID_STRING_BUFLEN]; /* the key of lb->known_by_uuid */
} KnownDomain;

/* What a listing thread reports to: the backend while it lives (a thread
 * may outlive it, blocked in libvirt), NULL after. Main loop only. */
typedef struct {
    int refs;
    LibvirtBackend *lb;
} DiscoveryOwner;

struct LibvirtBackend {
    Backend base;
    virConnectPtr conn;
    unsigned conn_generation; /* a listing of an older connection is dropped */
    int event_ids[EV_LAST];
    bool close_cb_registered;
    bool test_driver; /* synthetic stats, fixed last-update */
    bool nowait_unsupported;
    /* name -> UUID string of running domains. Every public libvirt call on
     * a domain formats its UUID for the debug log, which makes
     * virDomainGetUUID() cost as much as fetching the domain's stats; a
     * running domain keeps its name, so we ask once. Entries go on any
     * lifecycle event of that name and on every (re)connect. */
    GHashTable *uuid_by_name;
    /* The running domains the stats are asked for, kept in step with the
     * lifecycle events and the listings, so a cycle builds nothing: the
     * KnownDomains, their handles in the same order (NULL-terminated, as
     * virDomainListGetStats() takes them) and an index by UUID, which
     * owns them. */
    GPtrArray *known;
    GPtrArray *known_doms;
    GHashTable *known_by_uuid;
    uint64_t collections;
    /* names in the last collection that no known domain holds (kept
     * until the next one) */
    GPtrArray *spare_names;
    /* domains about to start (hold()): never asked, never listed into known */
    GHashTable *held;
    /* UUID -> the lifecycle event count when its last event came: a
     * listing older than that says nothing about it */
    GHashTable *event_seq;
    uint64_t events;
    /* the connection closed (libvirt may say so on any thread) */
    gint closed;
    DiscoveryOwner *owner;
    bool discovering;          /* a listing thread is out */
    bool discovered_once;      /* since the connection opened */
    uint64_t discovery_due_us; /* when the next listing starts */
};

/* libvirt prints every error to stderr by default; we report them
 * ourselves, once, at the boundary. */
static void quiet_error_handler(void *userdata, virErrorPtr err)
{
}

static void libvirt_init_once(void)
{
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        virSetErrorFunc(NULL, quiet_error_handler);
        gvir_event_register();
        g_once_init_leave(&done, 1);
    }
}

/* Map a libvirt error code to a negative errno. dom (may be NULL) tells
 * "the domain is gone" apart from other refusals. */
static int map_error_code(LibvirtBackend *lb, virDomainPtr dom, int code)
{
    switch (code) {
    case VIR_ERR_NO_DOMAIN:
        return -ENOENT;
    case VIR_ERR_OPERATION_INVALID:
        /* "domain is not running" means it went away; the same code also
         * refuses things a running domain cannot do (no free slot, no
         * balloon driver), which must not make us forget it */
        if (!lb->conn || virConnectIsAlive(lb->conn) != 1)
            return -ENOTCONN;
        if (dom && virDomainIsActive(dom) == 1)
            return -EIO;
        return -ENOENT;
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_CONFIG_UNSUPPORTED:
        return -EOPNOTSUPP;
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
        return -ENOTCONN;
    case VIR_ERR_SYSTEM_ERROR:
        /* also a failed system call for one domain (a QEMU monitor
         * refusing, a cgroup write): only a dead connection makes every
         * domain unknown */
    default:
        return (!lb->conn || virConnectIsAlive(lb->conn) != 1) ? -ENOTCONN : -EIO;
    }
}

/* Map libvirt's last error to a negative errno and a message. */
static int last_error_dom(LibvirtBackend *lb, virDomainPtr dom, const char *what, char **ret_error)
{
    virErrorPtr err = virGetLastError();
    int code = err ? err->code : VIR_ERR_INTERNAL_ERROR;
    const char *msg = err && err->message ? err->message : "unknown libvirt error";
    if (ret_error)
        *ret_error = g_strdup_printf("%s: %s", what, msg);
    int r = map_error_code(lb, dom, code);
    virResetLastError();
    return r;
}

static int last_error(LibvirtBackend *lb, const char *what, char **ret_error)
{
    return last_error_dom(lb, NULL, what, ret_error);
}

/* Called on a name-cache miss and for events only (cached_uuid()), so
 * libvirt's own formatting costs nothing per cycle. */
static int domain_uuid_string(virDomainPtr dom, char out[VIR_UUID_STRING_BUFLEN])
{
    if (virDomainGetUUIDString(dom, out) < 0) {
        virResetLastError();
        return -EIO;
    }
    return 0;
}

/* The UUID of a domain from the bulk stats, cached by name. */
static const char *cached_uuid(LibvirtBackend *lb, virDomainPtr dom, const char *name)
{
    const char *uuid = name ? g_hash_table_lookup(lb->uuid_by_name, name) : NULL;
    if (uuid)
        return uuid;
    char buf[VIR_UUID_STRING_BUFLEN];
    if (domain_uuid_string(dom, buf) < 0)
        return NULL;
    if (!name)
        return NULL;
    char *copy = g_strdup(buf);
    g_hash_table_replace(lb->uuid_by_name, g_strdup(name), copy);
    return copy;
}

static void emit(LibvirtBackend *lb, BackendEventKind kind, virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN] = "";
    const char *name = NULL;
    if (dom) {
        if (domain_uuid_string(dom, uuid) < 0)
            return;
        name = virDomainGetName(dom);
        if (name)
            g_hash_table_remove(lb->uuid_by_name, name);
    }
    if (lb->base.event_cb)
        lb->base.event_cb(kind, dom ? uuid : NULL, name, lb->base.event_userdata);
}

static void known_domain_free(void *p)
{
    KnownDomain *k = p;
    if (virDomainFree(k->dom) < 0)
        virResetLastError();
    g_free(k);
}

/* The known running domains gain one (uuid: its UUID string). */
static void known_add(LibvirtBackend *lb, virDomainPtr dom, const char *uuid)
{
    if (g_hash_table_contains(lb->known_by_uuid, uuid))
        return;
    if (virDomainRef(dom) < 0) {
        virResetLastError();
        return;
    }
    KnownDomain *k = g_new0(KnownDomain, 1);
    k->dom = dom;
    k->name = virDomainGetName(dom);
    k->pos = lb->known->len;
    k->seen = lb->collections;
    g_strlcpy(k->uuid, uuid, sizeof(k->uuid));
    g_ptr_array_add(lb->known, k);
    g_ptr_array_add(lb->known_doms, dom);
    g_hash_table_insert(lb->known_by_uuid, k->uuid, k);
}

/* ... or lose one: the last takes its place. */
static void known_drop(LibvirtBackend *lb, KnownDomain *k)
{
    guint pos = k->pos;
    g_ptr_array_remove_index_fast(lb->known, pos);
    g_ptr_array_remove_index_fast(lb->known_doms, pos);
    if (pos < lb->known->len)
        ((KnownDomain *)lb->known->pdata[pos])->pos = pos;
    g_hash_table_remove(lb->known_by_uuid, k->uuid); /* frees k */
}

static void known_clear(LibvirtBackend *lb)
{
    g_ptr_array_set_size(lb->known, 0);
    g_ptr_array_set_size(lb->known_doms, 0);
    g_hash_table_remove_all(lb->known_by_uuid);
}

static void known_remove(LibvirtBackend *lb, virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (domain_uuid_string(dom, uuid) < 0)
        return;
    KnownDomain *k = g_hash_table_lookup(lb->known_by_uuid, uuid);
    if (k)
        known_drop(lb, k);
}

/* The known domain a stats record is about: the records come in the order
 * asked, so the one after the last found is tried first; by UUID else. */
static KnownDomain *known_for_record(LibvirtBackend *lb, virDomainPtr dom, const char *name,
                                     guint *cursor)
{
    if (name && *cursor < lb->known->len) {
        KnownDomain *k = lb->known->pdata[*cursor];
        if (k->name && strcmp(k->name, name) == 0) {
            (*cursor)++;
            return k;
        }
    }
    const char *uuid = cached_uuid(lb, dom, name);
    KnownDomain *k = uuid ? g_hash_table_lookup(lb->known_by_uuid, uuid) : NULL;
    if (k)
        *cursor = k->pos + 1;
    return k;
}

static void note_event(LibvirtBackend *lb, virDomainPtr dom)
{
    char uuid[VIR_UUID_STRING_BUFLEN];
    if (domain_uuid_string(dom, uuid) == 0)
        g_hash_table_replace(lb->event_seq, g_strdup(uuid), GSIZE_TO_POINTER(++lb->events));
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    LibvirtBackend *lb = opaque;
    note_event(lb, dom);
    switch (event) {
    case VIR_DOMAIN_EVENT_STARTED: {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (domain_uuid_string(dom, uuid) == 0)
            known_add(lb, dom, uuid);
        /* migrated in, restored: running as it was, not booting */
        emit(lb,
             detail == VIR_DOMAIN_EVENT_STARTED_BOOTED ? BACKEND_EVENT_DOMAIN_STARTED
                                                       : BACKEND_EVENT_DOMAIN_ARRIVED,
             dom);
        break;
    }
    case VIR_DOMAIN_EVENT_STOPPED:
    case VIR_DOMAIN_EVENT_CRASHED:
        known_remove(lb, dom);
        emit(lb, BACKEND_EVENT_DOMAIN_STOPPED, dom);
        break;
    case VIR_DOMAIN_EVENT_DEFINED:
    case VIR_DOMAIN_EVENT_UNDEFINED:
        emit(lb, BACKEND_EVENT_DOMAIN_DEFINED, dom);
        break;
    default:
        break;
    }
    return 0;
}

static void on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    emit(opaque, BACKEND_EVENT_DOMAIN_CHANGED, dom);
}

static void on_memory_device_size(virConnectPtr conn, virDomainPtr dom, const char *alias,
                                  unsigned long long size, void *opaque)
{
    emit(opaque, BACKEND_EVENT_DOMAIN_CHANGED, dom);
}

static void on_metadata(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri,
                        void *opaque)
{
    if (type == VIR_DOMAIN_METADATA_ELEMENT && nsuri && strcmp(nsuri, DOMAIN_XML_POLICY_NS) == 0)
        emit(opaque, BACKEND_EVENT_POLICY_CHANGED, dom);
}

/* libvirt calls this on the thread that saw the connection end, which may
 * be a listing's: only on the main loop is the manager told at once;
 * elsewhere the next collection says so. */
static void on_close(virConnectPtr conn, int reason, void *opaque)
{
    LibvirtBackend *lb = opaque;
    g_atomic_int_set(&lb->closed, 1);
    if (g_main_context_is_owner(g_main_context_default()))
        emit(lb, BACKEND_EVENT_DISCONNECTED, NULL);
}

/* libvirt's cast to the generic callback type, from a plain function
 * pointer: a direct cast between the event's type and the generic one is
 * what -Wcast-function-type warns about. */
#define GENERIC_CB(cb) VIR_DOMAIN_EVENT_CALLBACK((void (*)(void))(cb))

static void lv_close(Backend *b)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    if (!lb->conn)
        return;
    for (int i = 0; i < EV_LAST; i++) {
        if (lb->event_ids[i] >= 0 &&
            virConnectDomainEventDeregisterAny(lb->conn, lb->event_ids[i]) < 0)
            virResetLastError();
        lb->event_ids[i] = -1;
    }
    if (lb->close_cb_registered &&
        virConnectUnregisterCloseCallback(lb->conn, (virConnectCloseFunc)on_close) < 0)
        virResetLastError();
    lb->close_cb_registered = false;
    /* the domain handles hold the connection: before it is closed */
    known_clear(lb);
    virConnectClose(lb->conn);
    virResetLastError();
    lb->conn = NULL;
    lb->conn_generation++;
    lb->discovered_once = false;
    lb->discovery_due_us = 0;
    g_hash_table_remove_all(lb->event_seq);
    g_hash_table_remove_all(lb->uuid_by_name);
}

static int lv_open(Backend *b, const char *uri, char **ret_error)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    libvirt_init_once();
    lv_close(b);

    lb->conn = virConnectOpen(uri);
    if (!lb->conn) {
        int r = last_error(lb, uri ? uri : "default URI", ret_error);
        return r == -EIO ? -ENOTCONN : r;
    }
    g_atomic_int_set(&lb->closed, 0);
    const char *type = virConnectGetType(lb->conn);
    lb->test_driver = type && strcmp(type, "TEST") == 0;
    lb->nowait_unsupported = false;
    /* Local drivers (test) have no keepalive; that is not an error. */
    if (virConnectSetKeepAlive(lb->conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
        virResetLastError();
    if (virConnectRegisterCloseCallback(lb->conn, on_close, lb, NULL) == 0)
        lb->close_cb_registered = true;
    else
        virResetLastError();

    static const struct {
        int id;
        virConnectDomainEventGenericCallback cb;
    } events[EV_LAST] = {
        [EV_LIFECYCLE] = {VIR_DOMAIN_EVENT_ID_LIFECYCLE, GENERIC_CB(on_lifecycle)},
        [EV_DEVICE_ADDED] = {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, GENERIC_CB(on_device)},
        [EV_DEVICE_REMOVED] = {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, GENERIC_CB(on_device)},
        [EV_MEMORY_DEVICE_SIZE] = {VIR_DOMAIN_EVENT_ID_MEMORY_DEVICE_SIZE_CHANGE,
                                   GENERIC_CB(on_memory_device_size)},
        [EV_METADATA] = {VIR_DOMAIN_EVENT_ID_METADATA_CHANGE, GENERIC_CB(on_metadata)},
    };
    for (int i = 0; i < EV_LAST; i++) {
        lb->event_ids[i] =
            virConnectDomainEventRegisterAny(lb->conn, NULL, events[i].id, events[i].cb, lb, NULL);
        if (lb->event_ids[i] < 0) {
            /* The lifecycle event is essential; the others only speed up
             * capability refreshes (a driver may lack them). */
            if (i == EV_LIFECYCLE) {
                int r = last_error(lb, "registering for domain events", ret_error);
                lv_close(b);
                return r;
            }
            virResetLastError();
        }
    }
    return 0;
}

static bool lv_is_open(Backend *b)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    if (!lb->conn)
        return false;
    int alive = virConnectIsAlive(lb->conn);
    virResetLastError();
    return alive == 1;
}

static virDomainPtr lookup(LibvirtBackend *lb, const char *uuid, char **ret_error, int *ret_r)
{
    if (!lb->conn) {
        *ret_error = g_strdup("not connected");
        *ret_r = -ENOTCONN;
        return NULL;
    }
    virDomainPtr dom = virDomainLookupByUUIDString(lb->conn, uuid);
    if (!dom)
        *ret_r = last_error(lb, "looking up the domain", ret_error);
    return dom;
}

/* Fill a sample from the bulk stats' typed parameters. */
static void sample_from_params(const virTypedParameter *params, int n, PolicyDomainSample *s,
                               bool *ret_has_current, int *ret_state)
{
    *ret_has_current = false;
    for (int i = 0; i < n; i++) {
        const virTypedParameter *p = &params[i];
        uint64_t v;
        if (p->type == VIR_TYPED_PARAM_ULLONG)
            v = p->value.ul;
        else if (p->type == VIR_TYPED_PARAM_UINT)
            v = p->value.ui;
        else if (p->type == VIR_TYPED_PARAM_INT && p->value.i >= 0)
            v = (uint64_t)p->value.i;
        else if (p->type == VIR_TYPED_PARAM_LLONG && p->value.l >= 0)
            v = (uint64_t)p->value.l;
        else
            continue;
        const char *f = p->field;
        if (strcmp(f, "state.state") == 0) {
            *ret_state = (int)v;
        } else if (strncmp(f, "balloon.", 8) == 0) {
            f += 8;
            if (strcmp(f, "current") == 0) {
                s->assigned_kib = v;
                *ret_has_current = true;
            } else if (strcmp(f, "usable") == 0) {
                s->usable_kib = v;
                s->has_usable = true;
            } else if (strcmp(f, "available") == 0) {
                s->available_kib = v;
                s->has_available = true;
            } else if (strcmp(f, "unused") == 0) {
                s->unused_kib = v;
                s->has_unused = true;
            } else if (strcmp(f, "disk_caches") == 0) {
                s->disk_caches_kib = v;
            } else if (strcmp(f, "swap_in") == 0) {
                s->swap_in_kib = v;
                s->has_swap_in = true;
            } else if (strcmp(f, "major_fault") == 0) {
                s->major_faults = v;
                s->has_major_faults = true;
            } else if (strcmp(f, "last-update") == 0) {
                s->last_update_s = (int64_t)MIN(v, (uint64_t)G_MAXINT64);
            } else if (strcmp(f, "rss") == 0) {
                s->rss_kib = v;
                s->has_rss = true;
            }
        }
    }
}

/* One virDomainMemoryStats() call: the test driver's only source, and the
 * live balloon figure (QEMU's query-balloon) where the bulk one may be
 * stale. balloon_kib is the balloon figure alone, without virtio-mem. */
static int sample_from_memory_stats(LibvirtBackend *lb, virDomainPtr dom, PolicyDomainSample *s,
                                    char **ret_error)
{
    virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
    int n = virDomainMemoryStats(dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    if (n < 0)
        return last_error_dom(lb, dom, "reading the memory stats", ret_error);
    bool has_actual = false;
    for (int i = 0; i < n; i++) {
        uint64_t v = st[i].val;
        switch (st[i].tag) {
        case VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON:
            s->balloon_kib = v;
            has_actual = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_USABLE:
            s->usable_kib = v;
            s->has_usable = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_AVAILABLE:
            s->available_kib = v;
            s->has_available = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_UNUSED:
            s->unused_kib = v;
            s->has_unused = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_DISK_CACHES:
            s->disk_caches_kib = v;
            break;
        case VIR_DOMAIN_MEMORY_STAT_SWAP_IN:
            s->swap_in_kib = v;
            s->has_swap_in = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_MAJOR_FAULT:
            s->major_faults = v;
            s->has_major_faults = true;
            break;
        case VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE:
            /* The test driver reports a fixed timestamp from 1989; it would
             * make every domain look stale. */
            if (!lb->test_driver)
                s->last_update_s = (int64_t)MIN(v, (uint64_t)G_MAXINT64);
            break;
        case VIR_DOMAIN_MEMORY_STAT_RSS:
            s->rss_kib = v;
            s->has_rss = true;
            break;
        default:
            break;
        }
    }
    if (!has_actual) {
        *ret_error = g_strdup("reading the memory stats: no balloon figure");
        return -EIO;
    }
    return 0;
}

/* ---- which domains run: events and a listing in a thread ------------------ */

typedef struct {
    DiscoveryOwner *owner;
    virConnectPtr conn; /* referenced: it outlives a close meanwhile */
    unsigned generation;
    uint64_t events;    /* lb->events when the listing began */
    virDomainPtr *doms; /* the thread's result; NULL: the listing failed */
    int n;
} Discovery;

static void owner_unref(DiscoveryOwner *o)
{
    if (--o->refs == 0)
        g_free(o);
}

static void discovery_free(Discovery *d)
{
    for (int i = 0; d->doms && i < d->n; i++)
        virDomainFree(d->doms[i]);
    g_free(d->doms); /* (libvirt allocates the array with malloc, as GLib) */
    virConnectClose(d->conn);
    owner_unref(d->owner);
    g_free(d);
}

/* Every listed domain becomes known, but one about to start (held) and one
 * with a lifecycle event since the listing began (stopped, maybe starting
 * again: the events know better). */
static void discovery_merge(LibvirtBackend *lb, virDomainPtr *doms, int n, uint64_t since)
{
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        if (domain_uuid_string(doms[i], uuid) < 0 || g_hash_table_contains(lb->held, uuid) ||
            GPOINTER_TO_SIZE(g_hash_table_lookup(lb->event_seq, uuid)) > since)
            continue;
        known_add(lb, doms[i], uuid);
    }
    lb->discovered_once = true;
}

/* On the main loop, once the thread is done with d. */
static gboolean discovery_done(void *data)
{
    Discovery *d = data;
    LibvirtBackend *lb = d->owner->lb;
    if (lb) {
        lb->discovering = false;
        if (lb->conn && lb->conn_generation == d->generation && d->doms)
            discovery_merge(lb, d->doms, d->n, d->events);
    }
    discovery_free(d);
    return G_SOURCE_REMOVE;
}

/* The thread: only the listing; everything else happens on the main loop. */
static void *discovery_thread(void *data)
{
    Discovery *d = data;
    int n = virConnectListAllDomains(d->conn, &d->doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        virResetLastError();
        d->doms = NULL;
        n = 0;
    }
    d->n = n;
    g_idle_add(discovery_done, d);
    return NULL;
}

/* Start a listing when one is due and none is out. The test driver lives
 * in this process and runs no hooks: it is listed at once, so that its
 * domains are there from the first cycle on. */
static void maybe_discover(LibvirtBackend *lb, uint64_t now_us)
{
    if (lb->discovering || now_us < lb->discovery_due_us)
        return;
    lb->discovery_due_us = now_us + DISCOVERY_INTERVAL_US;
    if (lb->test_driver) {
        virDomainPtr *doms = NULL;
        int n = virConnectListAllDomains(lb->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
        if (n < 0) {
            virResetLastError();
            return;
        }
        discovery_merge(lb, doms, n, lb->events);
        for (int i = 0; i < n; i++)
            virDomainFree(doms[i]);
        free(doms);
        return;
    }
    Discovery *d = g_new0(Discovery, 1);
    d->owner = lb->owner;
    d->owner->refs++;
    d->conn = lb->conn;
    virConnectRef(d->conn);
    d->generation = lb->conn_generation;
    d->events = lb->events;
    lb->discovering = true;
    g_thread_unref(g_thread_new("dynmem-list", discovery_thread, d));
}

static int lv_collect(Backend *b, uint64_t now_us, GArray **ret_stats, char **ret_error)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    if (!lb->conn) {
        *ret_error = g_strdup("not connected");
        return -ENOTCONN;
    }
    if (g_atomic_int_get(&lb->closed)) {
        *ret_error = g_strdup("the connection to libvirt closed");
        return -ENOTCONN;
    }
    g_ptr_array_set_size(lb->spare_names, 0);
    maybe_discover(lb, now_us);
    if (!lb->discovered_once) {
        *ret_error = g_strdup("the running domains are being listed");
        return -EAGAIN;
    }

    guint n_known = lb->known->len;
    g_autoptr(GArray) out = backend_stats_array_sized_new(n_known);
    if (n_known == 0) {
        *ret_stats = g_steal_pointer(&out);
        return 0;
    }
    /* every known domain, but those held (rare: a filtered copy then) */
    virDomainPtr *doms = (virDomainPtr *)lb->known_doms->pdata;
    g_autofree virDomainPtr *unheld = NULL;
    if (g_hash_table_size(lb->held) > 0) {
        guint k = 0;
        unheld = g_new0(virDomainPtr, n_known + 1);
        for (guint i = 0; i < n_known; i++) {
            KnownDomain *kd = lb->known->pdata[i];
            if (!g_hash_table_contains(lb->held, kd->uuid))
                unheld[k++] = kd->dom;
        }
        if (k == 0) {
            *ret_stats = g_steal_pointer(&out);
            return 0;
        }
        doms = unheld;
    }

    virDomainStatsRecordPtr *recs = NULL;
    unsigned flags = 0;
    if (!lb->nowait_unsupported)
        flags |= VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT;
    int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_STATE, &recs,
                                  flags);
    if (n < 0 && !lb->nowait_unsupported) {
        virErrorPtr err = virGetLastError();
        if (err && (err->code == VIR_ERR_INVALID_ARG || err->code == VIR_ERR_NO_SUPPORT)) {
            /* an older or simpler driver that does not know NOWAIT */
            virResetLastError();
            lb->nowait_unsupported = true;
            n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_STATE,
                                      &recs, 0);
        }
    }
    if (n < 0)
        return last_error(lb, "collecting domain stats", ret_error);

    /* a known domain that is not running any more is forgotten: the
     * manager, not finding it, forgets it too */
    uint64_t collection = ++lb->collections;
    guint cursor = 0;
    int64_t wall_s = g_get_real_time() / G_USEC_PER_SEC;
    for (int i = 0; i < n; i++) {
        BackendDomainStats ds = {0};
        const char *name = virDomainGetName(recs[i]->dom);
        KnownDomain *known = known_for_record(lb, recs[i]->dom, name, &cursor);
        const char *uuid = known ? known->uuid : cached_uuid(lb, recs[i]->dom, name);
        if (!uuid)
            continue;
        PolicyDomainSample *s = &ds.sample;
        bool has_current = false;
        int state = VIR_DOMAIN_RUNNING;
        sample_from_params(recs[i]->params, recs[i]->nparams, s, &has_current, &state);
        if (state == VIR_DOMAIN_SHUTOFF || state == VIR_DOMAIN_NOSTATE)
            continue;
        if (known)
            known->seen = collection;
        g_strlcpy(ds.uuid, uuid, sizeof(ds.uuid));
        if (known && known->name) {
            ds.name = known->name;
        } else {
            ds.name = g_strdup(name);
            g_ptr_array_add(lb->spare_names, (char *)ds.name);
        }
        s->timestamp_us = now_us;
        s->wallclock_s = wall_s;
        if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED) {
            /* suspended to RAM, in shutdown...: still holding its memory,
             * so it stays known (unmanaged this cycle, counted by what it
             * has) rather than be forgotten and found again */
            g_array_append_val(out, ds);
            continue;
        }
        if (has_current) {
            ds.has_sample = true;
            s->has_balloon_stats = s->has_usable || s->has_unused;
            /* balloon.current already includes virtio-mem `current`;
             * completing the sample derives balloon_kib from the caps. */
            s->balloon_kib = s->assigned_kib;
        } else if (lb->test_driver) {
            /* ACTUAL is the balloon figure alone; completing the sample
             * adds virtio-mem */
            g_autofree char *err = NULL;
            ds.has_sample = sample_from_memory_stats(lb, recs[i]->dom, s, &err) == 0;
            ds.balloon_only = true;
            s->has_balloon_stats = s->has_usable || s->has_unused;
        }
        /* else: busy in a job (NOWAIT) or no balloon at all: no sample */
        g_array_append_val(out, ds);
    }
    /* backwards: a dropped one's place is taken by one already looked at */
    for (guint i = lb->known->len; i-- > 0;) {
        KnownDomain *k = lb->known->pdata[i];
        if (k->seen != collection && !g_hash_table_contains(lb->held, k->uuid))
            known_drop(lb, k);
    }
    virDomainStatsRecordListFree(recs);
    *ret_stats = g_steal_pointer(&out);
    return 0;
}

/* One domain's figures asked now (virDomainMemoryStats: QEMU's own
 * query-balloon); balloon_kib the balloon figure alone, assigned_kib 0. */
static int read_sample(void *userdata, const char *uuid, uint64_t now_us, PolicyDomainSample *ret,
                       char **ret_error)
{
    LibvirtBackend *lb = userdata;
    int r = 0;
    g_autoptr(virDomain) dom = lookup(lb, uuid, ret_error, &r);
    if (!dom)
        return r;
    PolicyDomainSample s = {.timestamp_us = now_us,
                            .wallclock_s = g_get_real_time() / G_USEC_PER_SEC};
    r = sample_from_memory_stats(lb, dom, &s, ret_error);
    if (r < 0)
        return r;
    s.has_balloon_stats = s.has_usable || s.has_unused;
    *ret = s;
    return 0;
}

/* The test driver's samples are read per domain already (balloon_only);
 * the bulk ones of a DIMM guest may be stale after a DIMM change, and
 * are then asked live (qemu-sample.h). */
static int lv_complete_sample(Backend *b, const char *uuid, const PolicyDomainCaps *caps,
                              uint64_t now_us, bool balloon_only, BackendDomainMemo *memo,
                              PolicyDomainSample *sample, char **ret_error)
{
    return qemu_sample_complete(uuid, caps, now_us, balloon_only, memo, sample, read_sample, b,
                                ret_error);
}

/* The domain's live XML, newly allocated in *ret_xml. */
static int live_xml(LibvirtBackend *lb, const char *uuid, char **ret_xml, char **ret_error)
{
    int r = 0;
    g_autoptr(virDomain) dom = lookup(lb, uuid, ret_error, &r);
    if (!dom)
        return r;
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return last_error(lb, "reading the domain XML", ret_error);
    *ret_xml = xml;
    return 0;
}

static int lv_read_caps(Backend *b, const char *uuid, PolicyDomainCaps *ret, char **ret_error)
{
    g_autofree char *xml = NULL;
    int r = live_xml((LibvirtBackend *)b, uuid, &xml, ret_error);
    return r < 0 ? r : domain_xml_parse_caps(xml, ret, ret_error);
}

/* From the live XML, where libvirt keeps the metadata (one call, and the
 * same parser as the capabilities'). */
static int lv_read_policy(Backend *b, const char *uuid, GPtrArray **ret_pairs, char **ret_error)
{
    g_autofree char *xml = NULL;
    int r = live_xml((LibvirtBackend *)b, uuid, &xml, ret_error);
    return r < 0 ? r : domain_xml_parse_policy(xml, ret_pairs, ret_error);
}

static int lv_set_stats_period(Backend *b, const char *uuid, unsigned period_s, char **ret_error)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    int r = 0;
    g_autoptr(virDomain) dom = lookup(lb, uuid, ret_error, &r);
    if (!dom)
        return r;
    if (virDomainSetMemoryStatsPeriod(dom, (int)period_s, VIR_DOMAIN_AFFECT_LIVE) < 0)
        return last_error_dom(lb, dom, "setting the balloon stats period", ret_error);
    return 0;
}

static int lv_apply(Backend *b, const char *uuid, const PolicyAction *action, char **ret_error)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    int r = 0;
    g_autoptr(virDomain) dom = lookup(lb, uuid, ret_error, &r);
    if (!dom)
        return r;
    switch (action->kind) {
    case POLICY_ACTION_BALLOON:
        if (action->to_kib > G_MAXULONG) {
            *ret_error = g_strdup("balloon target too large");
            return -ERANGE;
        }
        if (virDomainSetMemoryFlags(dom, (unsigned long)action->to_kib, VIR_DOMAIN_AFFECT_LIVE) < 0)
            return last_error_dom(lb, dom, "virDomainSetMemoryFlags", ret_error);
        return 0;
    case POLICY_ACTION_VIRTIO_MEM: {
        g_autofree char *xml = virDomainGetXMLDesc(dom, 0);
        if (!xml)
            return last_error(lb, "reading the domain XML", ret_error);
        g_autofree char *dev = NULL;
        r = domain_xml_virtio_mem_update(xml, action->alias, action->to_kib, &dev, ret_error);
        if (r < 0)
            return r;
        if (virDomainUpdateDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) < 0)
            return last_error_dom(lb, dom, "virDomainUpdateDeviceFlags", ret_error);
        return 0;
    }
    case POLICY_ACTION_DIMM: {
        g_autofree char *dev = domain_xml_dimm(action->to_kib, action->node);
        if (virDomainAttachDeviceFlags(dom, dev, VIR_DOMAIN_AFFECT_LIVE) < 0)
            return last_error_dom(lb, dom, "virDomainAttachDeviceFlags", ret_error);
        return 0;
    }
    default:
        *ret_error = g_strdup("unknown action");
        return -EINVAL;
    }
}

static void lv_free(Backend *b)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    lv_close(b);
    g_hash_table_destroy(lb->uuid_by_name);
    g_ptr_array_unref(lb->known);
    g_ptr_array_unref(lb->known_doms);
    g_hash_table_destroy(lb->known_by_uuid);
    g_ptr_array_unref(lb->spare_names);
    g_hash_table_destroy(lb->held);
    g_hash_table_destroy(lb->event_seq);
    lb->owner->lb = NULL; /* a listing still out reports to nobody */
    owner_unref(lb->owner);
    g_free(b);
}

static void lv_hold(Backend *b, const char *uuid, bool held)
{
    LibvirtBackend *lb = (LibvirtBackend *)b;
    if (held)
        g_hash_table_add(lb->held, g_strdup(uuid));
    else
        g_hash_table_remove(lb->held, uuid);
}

static int lv_describe_start(Backend *b, const char *definition, BackendStart *ret,
                             char **ret_error)
{
    (void)b;
    return domain_xml_parse_start(definition, ret, ret_error);
}

static const BackendOps libvirt_ops = {
    .name = "libvirt",
    .open = lv_open,
    .close = lv_close,
    .is_open = lv_is_open,
    .collect = lv_collect,
    .read_caps = lv_read_caps,
    .complete_sample = lv_complete_sample,
    .read_policy = lv_read_policy,
    .describe_start = lv_describe_start,
    .hold = lv_hold,
    .set_stats_period = lv_set_stats_period,
    .apply = lv_apply,
    .free = lv_free,
};

Backend *backend_libvirt_new(void)
{
    LibvirtBackend *lb = g_new0(LibvirtBackend, 1);
    lb->base.ops = &libvirt_ops;
    lb->uuid_by_name = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    lb->known = g_ptr_array_new();
    lb->known_doms = g_ptr_array_new_null_terminated(0, NULL, TRUE);
    lb->known_by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, known_domain_free);
    lb->spare_names = g_ptr_array_new_with_free_func(g_free);
    lb->held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    lb->event_seq = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    lb->owner = g_new0(DiscoveryOwner, 1);
    lb->owner->refs = 1;
    lb->owner->lb = lb;
    for (int i = 0; i < EV_LAST; i++)
        lb->event_ids[i] = -1;
    return &lb->base;
}

int backend_libvirt_map_error(Backend *b, int code)
{
    return map_error_code((LibvirtBackend *)b, NULL, code);
}

virConnectPtr backend_libvirt_get_connection(Backend *b)
{
    return b->ops == &libvirt_ops ? ((LibvirtBackend *)b)->conn : NULL;
}

int backend_libvirt_read_sample(Backend *b, const char *uuid, uint64_t now_us,
                                PolicyDomainSample *ret, char **ret_error)
{
    return read_sample(b, uuid, now_us, ret, ret_error);
}
