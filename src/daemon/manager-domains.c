/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager's domain table: uuid -> ManagerDomain, with a name index
 * and a sorted list built when first asked for after a change.
 */
#include "demand.h"
#include "log.h"
#include "manager-private.h"
#include "settings.h"
#include "text.h"

#include <errno.h>
#include <string.h>

void manager_domain_free(void *p)
{
    DomainPriv *d = p;
    g_free(d->metadata_problem);
    g_free(d->pub.name);
    g_free(d->pub.label);
    g_free(d);
}

void manager_domains_changed(Manager *m)
{
    m->domains_generation++;
    g_clear_pointer(&m->sorted, g_ptr_array_unref);
    g_clear_pointer(&m->by_name, g_hash_table_unref);
}

ManagerDomain *manager_domain_add(Manager *m, const char *uuid, const char *name)
{
    DomainPriv *p = g_new0(DomainPriv, 1);
    ManagerDomain *d = &p->pub;
    g_strlcpy(d->uuid, uuid, sizeof(d->uuid));
    d->name = g_strdup(name ? name : uuid);
    d->label = policy_escape(d->name, 0);
    d->caps_dirty = true;
    p->metadata_dirty = true;
    PolicyDomainState *saved = g_hash_table_lookup(m->saved_states, uuid);
    if (saved) {
        /* Back after a reconnect: keep the demand history, but nothing
         * issued before the outage is still in flight. */
        d->state = *saved;
        d->state.shrink_pending = false;
        d->state.grow_pending_to_kib = 0;
        /* no trend across the outage */
        policy_demand_forget_reports(&d->state);
        d->state.trend_peak_kib = 0;
        g_hash_table_remove(m->saved_states, uuid);
    }
    g_hash_table_insert(m->domains, d->uuid, p);
    manager_domains_changed(m);
    log_info("%s: found (uuid %s)", d->label, d->uuid);
    EMIT(m, domain_added, d);
    return d;
}

void manager_domain_remove(Manager *m, ManagerDomain *d, const char *why)
{
    log_info("%s: %s; forgotten", d->label, why);
    EMIT(m, domain_removed, d);
    manager_domains_changed(m);
    g_hash_table_remove(m->domains, d->uuid);
}

void manager_domain_rename(Manager *m, ManagerDomain *d, const char *name)
{
    manager_domains_changed(m); /* the name index borrows the old name */
    g_free(d->name);
    d->name = g_strdup(name);
    g_free(d->label);
    d->label = policy_escape(d->name, 0);
    ((DomainPriv *)d)->policy_generation = 0; /* rules match names */
}

ManagerDomain *manager_domain_lookup(Manager *m, const char *uuid)
{
    DomainPriv *p = g_hash_table_lookup(m->domains, uuid);
    return p ? &p->pub : NULL;
}

ManagerDomain *manager_find_domain_by_uuid(Manager *m, const char *uuid)
{
    return uuid ? manager_domain_lookup(m, uuid) : NULL;
}

/* name -> domain; of domains sharing a name, the one with the lowest UUID
 * (the first in manager_list_domains() order). Keys are borrowed. */
static GHashTable *name_index(Manager *m)
{
    if (!m->by_name) {
        m->by_name = g_hash_table_new(g_str_hash, g_str_equal);
        GHashTableIter it;
        void *v;
        g_hash_table_iter_init(&it, m->domains);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            ManagerDomain *d = v, *had = g_hash_table_lookup(m->by_name, d->name);
            if (!had || strcmp(d->uuid, had->uuid) < 0)
                g_hash_table_replace(m->by_name, d->name, d);
        }
    }
    return m->by_name;
}

ManagerDomain *manager_find_domain(Manager *m, const char *name_or_uuid)
{
    if (!name_or_uuid)
        return NULL;
    /* A domain may be named like another domain's UUID; a UUID given must
     * still reach the domain that has it, so it is never taken as a name. */
    if (g_uuid_string_is_valid(name_or_uuid)) {
        char uuid[BACKEND_UUID_STRING_LEN];
        size_t i;
        for (i = 0; name_or_uuid[i] && i + 1 < sizeof(uuid); i++)
            uuid[i] = g_ascii_tolower(name_or_uuid[i]);
        uuid[i] = '\0';
        return manager_domain_lookup(m, uuid);
    }
    return g_hash_table_lookup(name_index(m), name_or_uuid);
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

void manager_forget_all_domains(Manager *m, const char *why)
{
    g_autoptr(GPtrArray) all = manager_list_domains(m);
    for (guint i = 0; i < all->len; i++) {
        ManagerDomain *d = all->pdata[i];
        g_hash_table_replace(m->saved_states, g_strdup(d->uuid),
                             g_memdup2(&d->state, sizeof(d->state)));
        manager_domain_remove(m, d, why);
    }
}

const char *manager_domain_metadata_problem(const ManagerDomain *d)
{
    return ((const DomainPriv *)d)->metadata_problem;
}

int manager_domain_check_layers(Manager *m, ManagerDomain *d, const PolicySettings *metadata,
                                const PolicySettings *override, char **ret_error)
{
    PolicyEffective eff;
    policy_config_resolve_layers(m->cfg, d->name, d->uuid, metadata, override, &eff);
    PolicySettings merged = {
        .set = POLICY_FIELD_MINIMUM | POLICY_FIELD_STARTUP | POLICY_FIELD_MAXIMUM,
        .minimum = eff.minimum,
        .startup = eff.startup,
        .maximum = eff.maximum,
    };
    if (eff.startup.kind == POLICY_AMOUNT_UNSET)
        merged.set &= ~POLICY_FIELD_STARTUP;
    return policy_settings_validate(&merged, ret_error);
}

/* The metadata's keys as one validated layer; on the first bad key,
 * -EINVAL and *ret_error naming it. */
int manager_metadata_layer(GPtrArray *pairs, PolicySettings *ret, char **ret_error)
{
    PolicySettings n = {0};
    for (guint i = 0; i + 1 < pairs->len; i += 2) {
        g_autofree char *detail = NULL;
        if (policy_settings_set_key(&n, pairs->pdata[i], pairs->pdata[i + 1], &detail) < 0) {
            *ret_error = g_steal_pointer(&detail);
            return -EINVAL;
        }
    }
    int r = policy_settings_validate(&n, ret_error);
    if (r < 0)
        return r;
    *ret = n;
    return 0;
}

/* why: newly allocated, taken; escaped first when it is the backend's
 * (libvirt may quote a name), not when our own validator wrote it */
static void metadata_ignored(DomainPriv *p, char *why, bool escape)
{
    g_autofree char *e = escape ? policy_escape(why, 0) : g_strdup(why);
    g_free(why);
    /* said once per new problem, not every time it is read */
    if (g_strcmp0(p->metadata_problem, e) != 0)
        log_warning("%s: its dynmem policy metadata is ignored (%s): %s", p->pub.label,
                    p->has_metadata ? "its last valid one still applies" : "none applies", e);
    g_free(p->metadata_problem);
    p->metadata_problem = g_steal_pointer(&e);
}

void manager_domain_read_metadata(Manager *m, ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    g_autoptr(GPtrArray) pairs = NULL;
    char *err = NULL;
    PolicySettings n;

    if (!m->backend->ops->read_policy) {
        p->metadata_dirty = false;
        return;
    }
    int r = m->backend->ops->read_policy(m->backend, d->uuid, &pairs, &err);
    if (r == -ENOENT || r == -ENOTCONN) {
        g_free(err); /* gone: the next collection says so */
        return;
    }
    if (r < 0 && r != -EBADMSG) {
        /* libvirt busy or failing: asked again next cycle, said once */
        metadata_ignored(p, err, true);
        return;
    }
    p->metadata_dirty = false;
    /* well formed, valid alone, and laid between the rule and the
     * override (our own messages: their quoted parts are escaped) */
    if (r < 0 || manager_metadata_layer(pairs, &n, &err) < 0 ||
        manager_domain_check_layers(m, d, &n, g_hash_table_lookup(m->overrides, d->uuid), &err) <
            0) {
        metadata_ignored(p, err, false);
        return;
    }
    g_clear_pointer(&p->metadata_problem, g_free);
    bool had = p->has_metadata;
    p->has_metadata = n.set != 0;
    if (had == p->has_metadata && policy_settings_equal(&n, &p->metadata))
        return;
    p->metadata = n;
    p->policy_generation = 0; /* resolve again */
    if (p->has_metadata)
        log_info("%s: policy from its metadata: %u key(s)", d->label, pairs->len / 2);
    else if (had)
        log_info("%s: no policy in its metadata any more", d->label);
}

/* "key=source" for every key and source, made once: what PolicySources
 * lists (static, so a snapshot may point at them). */
static const char *source_text(size_t key, PolicySource source)
{
    static char *texts[POLICY_MAX_DOMAIN_KEYS][POLICY_SOURCE_LAST];
    static gsize made;
    if (g_once_init_enter(&made)) {
        size_t i = 0;
        for (const PolicyKey *k = policy_domain_keys; k->name; k++, i++)
            for (int s = 0; s < POLICY_SOURCE_LAST; s++)
                texts[i][s] =
                    g_strdup_printf("%s=%s", k->name, policy_source_to_string((PolicySource)s));
        g_once_init_leave(&made, 1);
    }
    return texts[key][source];
}

void manager_domain_resolve_policy(Manager *m, ManagerDomain *d)
{
    DomainPriv *p = (DomainPriv *)d;
    if (p->metadata_dirty)
        manager_domain_read_metadata(m, d);
    if (p->policy_generation == m->policy_generation)
        return;
    policy_config_resolve_layers(m->cfg, d->name, d->uuid, p->has_metadata ? &p->metadata : NULL,
                                 g_hash_table_lookup(m->overrides, d->uuid), &d->policy);
    size_t i = 0;
    for (const PolicyKey *k = policy_domain_keys; k->name; k++, i++)
        d->policy_sources[i] = source_text(i, (PolicySource)d->policy.source[i]);
    d->policy_sources[i] = NULL;
    p->policy_generation = m->policy_generation;
}
