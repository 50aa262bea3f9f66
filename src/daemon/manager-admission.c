/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission (docs/admission.md): a domain about to start asks, through the
 * libvirt hook and Admit, for its startup memory. The engine decides in
 * each cycle (src/policy/admission.c); here the reservations live, are
 * answered, expire, and become the domain's own memory at its start.
 */
#include "log.h"
#include "manager-private.h"
#include "text.h"

#include <errno.h>
#include <string.h>

/* A granted start that never comes (libvirt failed after the hook, the
 * hook's caller died) gives its memory back after this long. */
#define RESERVATION_EXPIRY_US (120 * G_USEC_PER_SEC)
/* Refusals listed for operators (ListReservations, dynmemctl status). */
#define REFUSALS_KEPT    16
#define REFUSALS_KEPT_US (600 * G_USEC_PER_SEC)

/* The backend may ask the domain again. */
static void unhold(ManagerReservation *r)
{
    if (r->held && r->manager->backend->ops->hold)
        r->manager->backend->ops->hold(r->manager->backend, r->uuid, false);
    r->held = false;
    if (r->timer)
        g_source_remove(r->timer);
    r->timer = 0;
}

void manager_reservation_free(void *p)
{
    ManagerReservation *r = p;
    if (!r)
        return;
    unhold(r);
    g_free(r->name);
    g_free(r->label);
    g_free(r->message);
    g_free(r);
}

static char *size_text(uint64_t kib)
{
    return policy_format_size_kib(kib);
}

static void answer(Manager *m, ManagerReservation *r, bool admitted, const char *message)
{
    ManagerAdmitFunc cb = r->cb;
    if (!cb)
        return;
    r->cb = NULL;
    cb(m, admitted, message, r->userdata);
}

static void forget_old_refusals(Manager *m, uint64_t now)
{
    while (m->refusals->len > 0) {
        ManagerReservation *r = m->refusals->pdata[0];
        if (m->refusals->len <= REFUSALS_KEPT && now < r->asked_us + REFUSALS_KEPT_US)
            break;
        g_ptr_array_remove_index(m->refusals, 0);
    }
}

/* Refused: answered, signalled, kept a while for operators. Takes r out
 * of m->reservations (the caller's index i). */
static void refuse(Manager *m, guint i, const char *message)
{
    ManagerReservation *r = g_ptr_array_steal_index(m->reservations, i);
    unhold(r);
    g_free(r->message);
    r->message = g_strdup(message);
    r->res.state = POLICY_RESERVATION_REFUSED;
    log_warning("%s: start refused: %s", r->label, message);
    answer(m, r, false, message);
    EMIT(m, start_refused, r->name, r->uuid, r->res.size_kib, message);
    g_ptr_array_add(m->refusals, r);
    forget_old_refusals(m, r->asked_us);
}

static char *refusal_text(const ManagerReservation *r)
{
    g_autofree char *want = size_text(r->res.size_kib);
    g_autofree char *room = size_text(r->res.room_kib);
    return g_strdup_printf("cannot start %s: needs %s at startup; %s could be freed from guests of "
                           "lower or equal weight",
                           r->label, want, room);
}

/* Waiting first by weight, then by age: the engine serves them in order. */
static int by_priority(const void *a, const void *b)
{
    const ManagerReservation *x = *(ManagerReservation *const *)a;
    const ManagerReservation *y = *(ManagerReservation *const *)b;
    if (x->res.weight != y->res.weight)
        return x->res.weight > y->res.weight ? -1 : 1;
    return x->asked_us < y->asked_us ? -1 : x->asked_us > y->asked_us;
}

void manager_admission_prepare(Manager *m)
{
    g_ptr_array_sort(m->reservations, by_priority);
    g_array_set_size(m->res_array, m->reservations->len);
    for (guint i = 0; i < m->reservations->len; i++) {
        ManagerReservation *r = m->reservations->pdata[i];
        g_array_index(m->res_array, PolicyReservation, i) = r->res;
    }
    policy_engine_set_reservations(m->engine, (PolicyReservation *)(void *)m->res_array->data,
                                   m->res_array->len);
}

void manager_admission_settle(Manager *m, uint64_t now)
{
    /* what the engine decided (m->res_array is in m->reservations' order) */
    for (guint i = 0; i < m->res_array->len && i < m->reservations->len; i++) {
        ManagerReservation *r = m->reservations->pdata[i];
        const PolicyReservation *e = &g_array_index(m->res_array, PolicyReservation, i);
        r->res.room_kib = e->room_kib;
        r->res.free_kib = e->free_kib;
        if (r->res.state == POLICY_RESERVATION_WAITING)
            r->res.state = e->state;
    }
    policy_engine_set_reservations(m->engine, NULL, 0);
    g_array_set_size(m->res_array, 0);

    uint64_t wait = m->cfg->admission_wait_us;
    for (guint i = 0; i < m->reservations->len;) {
        ManagerReservation *r = m->reservations->pdata[i];
        if (r->res.state == POLICY_RESERVATION_REFUSED) {
            g_autofree char *msg = refusal_text(r);
            refuse(m, i, msg);
            continue;
        }
        if (r->res.state == POLICY_RESERVATION_WAITING && now >= r->asked_us + wait) {
            g_autofree char *want = size_text(r->res.size_kib);
            g_autofree char *free_now = size_text(r->res.free_kib);
            g_autofree char *secs = policy_format_duration_us(wait);
            g_autofree char *msg =
                g_strdup_printf("cannot start %s: needs %s at startup; only %s was free after %s "
                                "of making room",
                                r->label, want, free_now, secs);
            refuse(m, i, msg);
            continue;
        }
        if (r->res.state == POLICY_RESERVATION_GRANTED && r->granted_us == 0) {
            g_autofree char *want = size_text(r->res.size_kib);
            r->granted_us = MAX(now, 1);
            log_notice("%s: start admitted: %s reserved%s", r->label, want,
                       now > r->asked_us + G_USEC_PER_SEC ? " once room was made" : "");
            answer(m, r, true, "");
        } else if (r->res.state == POLICY_RESERVATION_GRANTED &&
                   now >= r->granted_us + RESERVATION_EXPIRY_US) {
            log_notice("%s: its reservation expired: the start never came", r->label);
            g_ptr_array_remove_index(m->reservations, i);
            continue;
        }
        i++;
    }
    forget_old_refusals(m, now);
}

static ManagerReservation *find(Manager *m, const char *uuid, const char *name, guint *ret_i)
{
    for (guint i = 0; i < m->reservations->len; i++) {
        ManagerReservation *r = m->reservations->pdata[i];
        if ((uuid && strcmp(r->uuid, uuid) == 0) || (name && strcmp(r->name, name) == 0)) {
            if (ret_i)
                *ret_i = i;
            return r;
        }
    }
    return NULL;
}

bool manager_admission_holds(Manager *m, const char *uuid)
{
    return m->reservations->len > 0 && find(m, uuid, NULL, NULL);
}

void manager_admission_started(Manager *m, ManagerDomain *d, bool booted)
{
    guint i;
    ManagerReservation *r = find(m, d->uuid, NULL, &i);
    if (!r)
        return;
    answer(m, r, true, ""); /* a start we never answered: it came anyway */
    unhold(r);
    if (booted && r->balloon_kib > 0 && !m->dry_run && !m->paused) {
        /* the guest's driver takes the target when it loads */
        PolicyAction a = {.kind = POLICY_ACTION_BALLOON, .to_kib = r->balloon_kib, .node = -1};
        g_autofree char *err = NULL;
        g_autofree char *to = size_text(r->res.size_kib);
        if (m->backend->ops->apply(m->backend, d->uuid, &a, &err) < 0) {
            g_autofree char *e = policy_escape(err, 0);
            log_warning("%s: cannot set its startup size %s: %s", d->label, to, e);
        } else {
            log_notice("%s: started at its startup size %s", d->label, to);
        }
    }
    g_ptr_array_remove_index(m->reservations, i);
}

void manager_admission_answer_all(Manager *m, bool admitted, const char *why)
{
    for (guint i = 0; i < m->reservations->len; i++) {
        ManagerReservation *r = m->reservations->pdata[i];
        if (!r->cb)
            continue;
        answer(m, r, admitted, why);
        if (admitted && r->res.state == POLICY_RESERVATION_WAITING) {
            /* held until it starts or expires, like any granted one */
            r->res.state = POLICY_RESERVATION_GRANTED;
            r->granted_us = MAX(manager_now_us(m), 1);
        }
    }
}

static void release(Manager *m, const char *uuid, const char *name)
{
    guint i;
    ManagerReservation *r = find(m, uuid, name, &i);
    if (!r)
        return;
    log_info("%s: reservation released (its start failed or it stopped)", r->label);
    answer(m, r, false, "released before it was decided");
    g_ptr_array_remove_index(m->reservations, i);
}

void manager_admission_stop(Manager *m)
{
    manager_admission_answer_all(m, true, "not checked: dynmemd is stopping");
}

void manager_release(Manager *m, const char *name)
{
    release(m, NULL, name);
}

void manager_admission_stopped(Manager *m, const char *uuid)
{
    ManagerReservation *r = find(m, uuid, NULL, NULL);
    if (!r || r->res.state != POLICY_RESERVATION_GRANTED)
        return;
    log_info("%s: stopped before it started: reservation released", r->label);
    release(m, uuid, NULL);
}

/* Between cycles, a waiting start's admission-wait ran out. */
static gboolean on_wait_over(void *data)
{
    ManagerReservation *r = data;
    r->timer = 0;
    if (!r->manager->in_cycle)
        manager_admission_settle(r->manager, manager_now_us(r->manager));
    return G_SOURCE_REMOVE;
}

/* Into m->reservations, the domain held from the backend's questions. */
static ManagerReservation *keep(Manager *m, ManagerReservation *r)
{
    r->manager = m;
    if (m->backend->ops->hold) {
        m->backend->ops->hold(m->backend, r->uuid, true);
        r->held = true;
    }
    g_ptr_array_add(m->reservations, r);
    return r;
}

/* The balloon target that starts a dynamic domain at size_kib, when that
 * differs from what it boots with; 0: leave it. */
static uint64_t startup_balloon_kib(const BackendStart *s, uint64_t size_kib)
{
    uint64_t vmem = 0, target;
    if (!s->caps.has_balloon || size_kib == s->boot_kib)
        return 0;
    for (size_t i = 0; i < s->caps.n_virtio_mem; i++)
        vmem += s->caps.virtio_mem[i].requested_kib;
    target = size_kib > vmem ? size_kib - vmem : 0;
    target = CLAMP(target, (uint64_t)POLICY_KIB_PER_MIB, s->caps.balloon_max_kib);
    return target;
}

int manager_admit(Manager *m, const char *definition, ManagerAdmitFunc cb, void *userdata,
                  char **ret_error)
{
    if (!m->backend->ops->describe_start) {
        *ret_error = g_strdup("this backend cannot admit starts");
        return -EOPNOTSUPP;
    }
    g_auto(BackendStart) start = {0};
    int r = m->backend->ops->describe_start(m->backend, definition, &start, ret_error);
    if (r < 0)
        return r;

    /* its policy as it will be once running: the rules, its own metadata
     * (when valid), an override set for its UUID */
    PolicySettings meta = {0};
    g_autofree char *meta_err = NULL;
    bool has_meta = start.policy_pairs && !start.policy_problem &&
                    manager_metadata_layer(start.policy_pairs, &meta, &meta_err) == 0;
    PolicyEffective eff;
    policy_config_resolve_layers(m->cfg, start.name, start.uuid, has_meta ? &meta : NULL,
                                 g_hash_table_lookup(m->overrides, start.uuid), &eff);

    g_autofree ManagerReservation *res = g_new0(ManagerReservation, 1);
    memcpy(res->uuid, start.uuid, sizeof(res->uuid));
    res->name = g_strdup(start.name);
    res->label = policy_escape(start.name, 0);
    res->boot_kib = start.boot_kib;
    res->res.size_kib = policy_start_size_kib(&eff, &start.caps, start.boot_kib);
    res->res.weight = eff.weight;
    res->balloon_kib =
        eff.mode == POLICY_MODE_DYNAMIC ? startup_balloon_kib(&start, res->res.size_kib) : 0;
    res->asked_us = manager_now_us(m);
    res->res.state = POLICY_RESERVATION_WAITING;
    res->manager = m;

    /* the same domain asking again (a retried start): the new ask wins */
    guint i;
    if (find(m, res->uuid, NULL, &i)) {
        answer(m, m->reservations->pdata[i], false, "superseded by a new start of the domain");
        g_ptr_array_remove_index(m->reservations, i);
    }

    PolicyAdmission mode = m->dry_run ? POLICY_ADMISSION_WARN : m->cfg->admission;
    g_autofree char *want = size_text(res->res.size_kib);
    if (mode == POLICY_ADMISSION_OFF) {
        cb(m, true, "not checked: host.admission is off", userdata);
        manager_reservation_free(g_steal_pointer(&res));
        return 0;
    }
    if (!m->connected || !m->planned) {
        /* nothing to judge by: a start must not depend on us */
        log_warning("%s: start of %s not checked: %s", res->label, want,
                    m->connected ? "no plan yet" : "not connected to libvirt");
        cb(m, true,
           m->connected ? "not checked: dynmemd has no plan yet"
                        : "not checked: dynmemd is not connected to libvirt",
           userdata);
        manager_reservation_free(g_steal_pointer(&res));
        return 0;
    }
    if (mode == POLICY_ADMISSION_WARN) {
        /* allowed at once and held; said when enforce would not have */
        PolicyReservationState st;
        g_autofree char *msg = NULL;
        g_autoptr(GArray) trims = NULL;
        if (manager_admit_whatif(m, res->name, res->res.size_kib, &st, &msg, &trims) == 0 &&
            st == POLICY_RESERVATION_REFUSED) {
            g_autofree char *note = g_strdup_printf("allowed (host.admission is warn); %s", msg);
            log_warning("%s: start %s", res->label, note);
            cb(m, true, note, userdata);
        } else {
            cb(m, true, "", userdata);
        }
        res->res.state = POLICY_RESERVATION_GRANTED;
        res->granted_us = MAX(res->asked_us, 1);
        keep(m, g_steal_pointer(&res));
        return 0;
    }
    log_info("%s: start asks for %s (weight %u)", res->label, want, res->res.weight);
    res->cb = cb;
    res->userdata = userdata;
    ManagerReservation *kept = keep(m, g_steal_pointer(&res));
    if (!m->no_timer)
        /* answered in time even when cycles are far apart */
        kept->timer = g_timeout_add_full(
            G_PRIORITY_DEFAULT,
            (guint)MIN(m->cfg->admission_wait_us / 1000 + 1, (uint64_t)G_MAXUINT), on_wait_over,
            kept, NULL);
    /* decided now when the memory is free or cannot be had; else over the
     * next cycles, as room is made */
    if (!m->in_cycle)
        manager_run_cycle(m);
    return 0;
}

static void view_clear(void *p)
{
    ManagerReservationView *v = p;
    g_free(v->name);
    g_free(v->message);
}

static void add_view(GArray *a, const ManagerReservation *r, uint64_t now)
{
    ManagerReservationView v = {
        .name = g_strdup(r->name),
        .state = policy_reservation_state_to_string(r->res.state),
        .size_kib = r->res.size_kib,
        .weight = r->res.weight,
        .age_us = now > r->asked_us ? now - r->asked_us : 0,
        .message = g_strdup(r->message ? r->message : ""),
    };
    memcpy(v.uuid, r->uuid, sizeof(v.uuid));
    g_array_append_val(a, v);
}

GArray *manager_list_reservations(Manager *m)
{
    GArray *a = g_array_new(FALSE, TRUE, sizeof(ManagerReservationView));
    uint64_t now = manager_now_us(m);
    g_array_set_clear_func(a, view_clear);
    for (int pass = 0; pass < 2; pass++)
        for (guint i = 0; i < m->reservations->len; i++) {
            const ManagerReservation *r = m->reservations->pdata[i];
            if ((r->res.state == POLICY_RESERVATION_WAITING) == (pass == 0))
                add_view(a, r, now);
        }
    for (guint i = m->refusals->len; i-- > 0;)
        add_view(a, m->refusals->pdata[i], now);
    return a;
}

static void trim_clear(void *p)
{
    g_free(((ManagerTrim *)p)->name);
}

int manager_admit_whatif(Manager *m, const char *name, uint64_t size_kib,
                         PolicyReservationState *ret_state, char **ret_message, GArray **ret_trims)
{
    if (!m->planned)
        return -EAGAIN;
    PolicyEffective eff;
    ManagerDomain *named = manager_find_domain(m, name);
    if (named)
        eff = named->policy;
    else
        policy_config_resolve(m->cfg, name, NULL, NULL, &eff);

    /* the last plan's managed domains, the named one (if running) left out:
     * a start replaces it */
    g_autoptr(GArray) items = g_array_new(FALSE, TRUE, sizeof(PolicyAllocItem));
    g_autoptr(GArray) assigned = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    g_autoptr(GPtrArray) who = g_ptr_array_new();
    uint64_t budget = m->summary.budget_kib;
    for (guint i = 0; i < m->order->len; i++) {
        ManagerDomain *d = m->order->pdata[i];
        if (!d->has_entry || !d->entry.managed || d == named)
            continue;
        PolicyAllocItem it = {.floor_kib = d->entry.floor_kib,
                              .need_kib = d->entry.need_kib,
                              .cap_kib = d->entry.desired_kib,
                              .weight = d->policy.weight};
        g_array_append_val(items, it);
        g_array_append_val(assigned, d->entry.assigned_kib);
        g_ptr_array_add(who, d);
    }
    if (named && named->has_entry && named->entry.managed)
        budget = budget + named->entry.assigned_kib; /* it gives back what it holds */
    g_autofree uint64_t *trims = g_new0(uint64_t, MAX(items->len, 1));
    PolicyAllocScratch scratch = {0};
    uint64_t room;
    PolicyReservationState st = policy_admission_whatif(
        (PolicyAllocItem *)(void *)items->data, (uint64_t *)(void *)assigned->data, items->len,
        &scratch, budget, m->summary.reserved_kib, m->cfg->overhead_kib, size_kib, eff.weight,
        &room, trims);
    policy_alloc_scratch_clear(&scratch);

    GArray *out = g_array_new(FALSE, TRUE, sizeof(ManagerTrim));
    g_array_set_clear_func(out, trim_clear);
    for (guint i = 0; i < items->len; i++)
        if (trims[i] > 0) {
            ManagerTrim t = {.name = g_strdup(((ManagerDomain *)who->pdata[i])->name),
                             .trim_kib = trims[i]};
            g_array_append_val(out, t);
        }
    g_autofree char *label = policy_escape(name, 0);
    g_autofree char *want = size_text(size_kib);
    g_autofree char *room_text = size_text(room);
    switch (st) {
    case POLICY_RESERVATION_GRANTED:
        *ret_message = g_strdup_printf("%s would start at once: %s is free", label, want);
        break;
    case POLICY_RESERVATION_WAITING:
        *ret_message =
            g_strdup_printf("%s would start once %u guest(s) are trimmed", label, out->len);
        break;
    default:
        *ret_message = g_strdup_printf("would be refused: cannot start %s: needs %s at startup; "
                                       "%s could be freed from guests of lower or equal weight",
                                       label, want, room_text);
        break;
    }
    *ret_state = st;
    *ret_trims = out;
    return 0;
}
