/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.dynmem1.Manager at /org/dynmem1: the daemon as a whole. Handlers
 * unmarshal, call the manager, marshal the reply; state changes are refused
 * unless the caller is root.
 */
#include "bus.h"
#include "log.h"
#include "settings.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

static int get_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    const BusProp *p = bus_prop_find(&bus_manager_props, property);
    if (!p)
        return -ENOENT;
    BusManagerProps now;
    dynmem_manager_props(b->manager, &now);
    return bus_prop_append(reply, p, &now);
}

/* ---- methods ------------------------------------------------------------ */

static int method_list_domains(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    g_autoptr(sd_bus_message) reply = NULL;
    int r = sd_bus_message_new_method_return(msg, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "(sso)");
    if (r < 0)
        return r;
    g_autoptr(GPtrArray) all = manager_list_domains(b->manager);
    for (guint i = 0; i < all->len; i++) {
        const ManagerDomain *d = all->pdata[i];
        g_autofree char *path = bus_domain_path(d);
        r = sd_bus_message_append(reply, "(sso)", d->name, d->uuid, path);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int method_get_domain(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    const char *name;
    int r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    ManagerDomain *d = bus_find_domain(b->manager, name, error);
    if (!d)
        return -ENOENT;
    g_autofree char *path = bus_domain_path(d);
    return sd_bus_reply_method_return(msg, "o", path);
}

/* One a{sv} value as the text the YAML loader would see. A string is taken
 * as it is; an integer is read as the key's row in settings.h says (bytes
 * for a size, a percentage for a percent, else the number). */
static int variant_to_text(sd_bus_message *msg, const char *key, const char *contents,
                           char **ret_text, sd_bus_error *error)
{
    char type = contents[0];
    if (contents[1] != '\0' || !strchr("syqutnix", type)) {
        g_autofree char *k = policy_quote(key);
        g_autofree char *c = policy_quote(contents);
        sd_bus_message_skip(msg, "v");
        return sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                                 "%s: expected a string or an integer, got a value of type '%s'", k,
                                 c);
    }
    int r = sd_bus_message_enter_container(msg, 'v', contents);
    if (r < 0)
        return r;
    union {
        const char *s;
        uint8_t y;
        uint16_t q;
        int16_t n;
        uint32_t u;
        int32_t i;
        uint64_t t;
        int64_t x;
    } v;
    r = sd_bus_message_read_basic(msg, type, &v);
    if (r < 0)
        return r;
    r = sd_bus_message_exit_container(msg);
    if (r < 0)
        return r;
    if (type == 's') {
        *ret_text = g_strdup(v.s);
        return 0;
    }
    int64_t sval = type == 'n' ? v.n : type == 'i' ? v.i : type == 'x' ? v.x : 0;
    if (sval < 0) {
        g_autofree char *k = policy_quote(key);
        return sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                                 "%s: must not be negative (got %" PRId64 ")", k, sval);
    }
    uint64_t val = type == 'y'   ? v.y
                   : type == 'q' ? v.q
                   : type == 'u' ? v.u
                   : type == 't' ? v.t
                                 : (uint64_t)sval;
    *ret_text = policy_domain_key_integer_text(key, val);
    return 0;
}

/* Read the whole a{sv} into a copy of `base`; nothing is applied here. */
static int read_settings(sd_bus_message *msg, const PolicySettings *base, PolicySettings *ret,
                         sd_bus_error *error)
{
    PolicySettings s = base ? *base : (PolicySettings){0};
    unsigned n = 0;
    int r = sd_bus_message_enter_container(msg, 'a', "{sv}");
    if (r < 0)
        return r;
    while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
        const char *key;
        const char *contents;
        r = sd_bus_message_read(msg, "s", &key);
        if (r < 0)
            return r;
        r = sd_bus_message_peek_type(msg, NULL, &contents);
        if (r < 0)
            return r;
        g_autofree char *text = NULL;
        r = variant_to_text(msg, key, contents, &text, error);
        if (r < 0)
            return r;
        g_autofree char *err = NULL;
        if (policy_settings_set_key(&s, key, text, &err) < 0)
            return sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT, "%s", err);
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
            return r;
        n++;
    }
    if (r < 0)
        return r;
    r = sd_bus_message_exit_container(msg);
    if (r < 0)
        return r;
    if (n == 0)
        return sd_bus_error_set(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                                "no settings given (ResetDomainPolicy removes an override)");
    *ret = s;
    return 0;
}

/* The start of a changing call on one domain: the caller must be root,
 * the first argument names the domain. */
static int begin_domain_change(sd_bus_message *msg, DynmemBus *b, sd_bus_error *error,
                               ManagerDomain **ret)
{
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    const char *name;
    r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    *ret = bus_find_domain(b->manager, name, error);
    return *ret ? 0 : -ENOENT;
}

static int method_set_domain_policy(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    ManagerDomain *d;
    int r = begin_domain_change(msg, b, error, &d);
    if (r < 0)
        return r;
    /* New keys are laid over the domain's current override. */
    PolicySettings s;
    r = read_settings(msg, manager_get_override(b->manager, d->uuid), &s, error);
    if (r < 0)
        return r;
    int persist;
    r = sd_bus_message_read(msg, "b", &persist);
    if (r < 0)
        return r;
    g_autofree char *err = NULL;
    r = manager_set_override(b->manager, d, &s, persist, &err);
    if (r < 0) {
        log_debug("D-Bus: SetDomainPolicy %s refused: %s", d->label, err);
        return bus_error_from_manager(error, r, err);
    }
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_reset_domain_policy(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    ManagerDomain *d;
    int r = begin_domain_change(msg, b, error, &d);
    if (r < 0)
        return r;
    g_autofree char *err = NULL;
    r = manager_reset_override(b->manager, d, &err);
    if (r < 0) {
        log_warning("D-Bus: ResetDomainPolicy %s failed: %s", d->label, err);
        return bus_error_from_manager(error, r, err);
    }
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    g_autofree char *err = NULL;
    r = manager_reload(b->manager, &err);
    if (r < 0) {
        log_error("reload over D-Bus failed, the running policy is kept:\n%s", err);
        return sd_bus_error_setf(error, DYNMEM_ERROR_RELOAD_FAILED,
                                 "the running policy is kept:\n%s", err);
    }
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_set_paused(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    int paused;
    r = sd_bus_message_read(msg, "b", &paused);
    if (r < 0)
        return r;
    manager_set_paused(b->manager, paused);
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_rebalance(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    r = manager_run_cycle(b->manager);
    if (r == -ENOTCONN)
        return sd_bus_error_setf(error, DYNMEM_ERROR_NOT_CONNECTED, "not connected to %s",
                                 manager_get_uri(b->manager));
    if (r == -EBUSY)
        return sd_bus_error_set(error, DYNMEM_ERROR_BUSY, "a cycle is running");
    if (r < 0)
        return sd_bus_error_setf(error, DYNMEM_ERROR_FAILED,
                                 "the cycle failed: %s (see the daemon's log)", g_strerror(-r));
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_dump(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    g_autofree char *dump = manager_dump(b->manager);
    return sd_bus_reply_method_return(msg, "s", dump);
}

/* ---- admission (docs/admission.md) -------------------------------------- */

/* Longest definition Admit takes: libvirt's own domain XML is a few KiB;
 * one with thousands of devices stays far below this. */
#define ADMIT_DEFINITION_MAX (4 * 1024 * 1024)
/* Largest start CheckAdmission is asked about: 16 TiB. */
#define ADMIT_SIZE_MAX_BYTES (UINT64_C(16) << 40)

/* The answer of manager_admit(), now or cycles later: msg was ref'd. */
static void on_admit_answer(Manager *m, bool admitted, const char *message, void *userdata)
{
    g_autoptr(sd_bus_message) msg = userdata;
    int r = sd_bus_reply_method_return(msg, "bs", admitted, message ? message : "");
    if (r < 0)
        log_debug("D-Bus: cannot answer Admit: %s", g_strerror(-r));
}

static int method_admit(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    const char *definition;
    r = sd_bus_message_read(msg, "s", &definition);
    if (r < 0)
        return r;
    if (strlen(definition) > ADMIT_DEFINITION_MAX)
        return sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                                 "the definition is longer than %d bytes", ADMIT_DEFINITION_MAX);
    g_autofree char *err = NULL;
    r = manager_admit(b->manager, definition, on_admit_answer, sd_bus_message_ref(msg), &err);
    if (r < 0) {
        sd_bus_message_unref(msg);
        log_debug("D-Bus: Admit refused its input: %s", err);
        return bus_error_from_manager(error, r, err);
    }
    return 1; /* answered by on_admit_answer() */
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    int r = bus_check_privileged(msg, error);
    if (r < 0)
        return r;
    const char *name;
    r = sd_bus_message_read(msg, "s", &name);
    if (r < 0)
        return r;
    manager_release(b->manager, name);
    return sd_bus_reply_method_return(msg, NULL);
}

static int method_list_reservations(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    g_autoptr(sd_bus_message) reply = NULL;
    int r = sd_bus_message_new_method_return(msg, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "(ssstuts)");
    if (r < 0)
        return r;
    g_autoptr(GArray) all = manager_list_reservations(b->manager);
    for (guint i = 0; i < all->len; i++) {
        const ManagerReservationView *v = &g_array_index(all, ManagerReservationView, i);
        r = sd_bus_message_append(reply, "(ssstuts)", v->name, v->uuid, v->state,
                                  v->size_kib * 1024, v->weight, v->age_us, v->message);
        if (r < 0)
            return r;
    }
    r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

static int method_check_admission(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
    DynmemBus *b = userdata;
    const char *name;
    uint64_t bytes;
    int r = sd_bus_message_read(msg, "st", &name, &bytes);
    if (r < 0)
        return r;
    if (!*name)
        return sd_bus_error_set(error, DYNMEM_ERROR_INVALID_ARGUMENT, "the domain name is empty");
    if (bytes == 0 || bytes > ADMIT_SIZE_MAX_BYTES)
        return sd_bus_error_setf(error, DYNMEM_ERROR_INVALID_ARGUMENT,
                                 "size %" PRIu64 " bytes is out of range 1..16TiB", bytes);
    PolicyReservationState st;
    g_autofree char *message = NULL;
    g_autoptr(GArray) trims = NULL;
    r = manager_admit_whatif(b->manager, name, (bytes + 1023) / 1024, &st, &message, &trims);
    if (r == -EAGAIN)
        return sd_bus_error_set(error, DYNMEM_ERROR_NOT_CONNECTED,
                                "no plan yet: nothing to judge a start by");
    if (r < 0)
        return r;
    static const char *const verdicts[POLICY_RESERVATION_LAST] = {
        [POLICY_RESERVATION_GRANTED] = "now",
        [POLICY_RESERVATION_WAITING] = "after-trims",
        [POLICY_RESERVATION_REFUSED] = "refused",
    };
    g_autoptr(sd_bus_message) reply = NULL;
    r = sd_bus_message_new_method_return(msg, &reply);
    if (r < 0)
        return r;
    r = sd_bus_message_append(reply, "ss", verdicts[st], message);
    if (r < 0)
        return r;
    r = sd_bus_message_open_container(reply, 'a', "(st)");
    for (guint i = 0; r >= 0 && i < trims->len; i++) {
        const ManagerTrim *t = &g_array_index(trims, ManagerTrim, i);
        r = sd_bus_message_append(reply, "(st)", t->name, t->trim_kib * 1024);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(reply);
    if (r < 0)
        return r;
    return sd_bus_send(NULL, reply, NULL);
}

/* ---- vtable ------------------------------------------------------------- */

/* The properties are the rows of BUS_MANAGER_PROPERTIES (bus-props.h). */
#define PROPERTY(Name, field, TYPE, CHANGE) BUS_VTABLE_PROPERTY(get_property, Name, TYPE, CHANGE),
#define OPEN                                SD_BUS_VTABLE_UNPRIVILEGED /* access is checked in the handlers */

/* clang-format would join the list's expansion to the entry after it */
/* clang-format off */
const sd_bus_vtable bus_manager_vtable[] = {
    SD_BUS_VTABLE_START(0),
    BUS_MANAGER_PROPERTIES(PROPERTY)
    SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sso)", domains),
                            method_list_domains, OPEN),
    /* clang-format on */
    SD_BUS_METHOD_WITH_ARGS("GetDomain", SD_BUS_ARGS("s", name_or_uuid), SD_BUS_RESULT("o", path),
                            method_get_domain, OPEN),
    SD_BUS_METHOD_WITH_ARGS("SetDomainPolicy",
                            SD_BUS_ARGS("s", domain, "a{sv}", settings, "b", persist),
                            SD_BUS_NO_RESULT, method_set_domain_policy, OPEN),
    SD_BUS_METHOD_WITH_ARGS("ResetDomainPolicy", SD_BUS_ARGS("s", domain), SD_BUS_NO_RESULT,
                            method_reset_domain_policy, OPEN),
    SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, OPEN),
    SD_BUS_METHOD_WITH_ARGS("SetPaused", SD_BUS_ARGS("b", paused), SD_BUS_NO_RESULT,
                            method_set_paused, OPEN),
    SD_BUS_METHOD_WITH_ARGS("Rebalance", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_rebalance, OPEN),
    SD_BUS_METHOD_WITH_ARGS("Dump", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", dump), method_dump, OPEN),
    SD_BUS_METHOD_WITH_ARGS("Admit", SD_BUS_ARGS("s", definition),
                            SD_BUS_RESULT("b", admitted, "s", message), method_admit, OPEN),
    SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_ARGS("s", domain), SD_BUS_NO_RESULT, method_release,
                            OPEN),
    SD_BUS_METHOD_WITH_ARGS("ListReservations", SD_BUS_NO_ARGS,
                            SD_BUS_RESULT("a(ssstuts)", reservations), method_list_reservations,
                            OPEN),
    SD_BUS_METHOD_WITH_ARGS("CheckAdmission", SD_BUS_ARGS("s", domain, "t", size),
                            SD_BUS_RESULT("s", verdict, "s", message, "a(st)", trims),
                            method_check_admission, OPEN),
    SD_BUS_SIGNAL_WITH_ARGS(
        "Adjusted", SD_BUS_ARGS("s", domain, "t", from, "t", to, "s", mechanism, "s", reason), 0),
    SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("s", state), 0),
    SD_BUS_SIGNAL_WITH_ARGS("StartRefused",
                            SD_BUS_ARGS("s", domain, "s", uuid, "t", size, "s", reason), 0),
    SD_BUS_VTABLE_END,
};

int bus_manager_export(DynmemBus *b)
{
    return sd_bus_add_object_vtable(b->bus, NULL, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                                    bus_manager_vtable, b);
}

/* ---- signals ------------------------------------------------------------ */

static void emit_manager_changes(DynmemBus *b)
{
    if (!b->bus)
        return;
    BusManagerProps now;
    dynmem_manager_props(b->manager, &now);
    if (!b->last_manager_props) {
        /* Nothing emitted on this connection yet: clients read afresh. */
        b->last_manager_props = g_memdup2(&now, sizeof(now));
        return;
    }
    g_auto(GStrv) names = bus_props_changed(&bus_manager_props, b->last_manager_props, &now);
    *b->last_manager_props = now;
    if (!names)
        return;
    int r = sd_bus_emit_properties_changed_strv(b->bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE,
                                                names);
    if (r < 0)
        log_debug("D-Bus: cannot emit PropertiesChanged: %s", g_strerror(-r));
}

static void on_adjusted(Manager *m, ManagerDomain *d, const PolicyAction *action,
                        const char *reason, bool applied, void *userdata)
{
    DynmemBus *b = userdata;
    /* Adjusted reports changes made; dry-run and paused plans are in the log. */
    if (!b->bus || !applied)
        return;
    int r = sd_bus_emit_signal(b->bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "Adjusted",
                               "sttss", d->name, action->from_kib * 1024, action->to_kib * 1024,
                               policy_action_kind_to_string(action->kind), reason ? reason : "");
    if (r < 0)
        log_debug("D-Bus: cannot emit Adjusted: %s", g_strerror(-r));
}

static void on_state_changed(Manager *m, PolicyHostState state, void *userdata)
{
    DynmemBus *b = userdata;
    if (!b->bus)
        return;
    int r = sd_bus_emit_signal(b->bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "StateChanged",
                               "s", policy_host_state_to_string(state));
    if (r < 0)
        log_debug("D-Bus: cannot emit StateChanged: %s", g_strerror(-r));
}

static void on_start_refused(Manager *m, const char *name, const char *uuid, uint64_t size_kib,
                             const char *message, void *userdata)
{
    DynmemBus *b = userdata;
    if (!b->bus)
        return;
    int r = sd_bus_emit_signal(b->bus, DYNMEM_BUS_PATH, DYNMEM_BUS_MANAGER_IFACE, "StartRefused",
                               "ssts", name, uuid, size_kib * 1024, message);
    if (r < 0)
        log_debug("D-Bus: cannot emit StartRefused: %s", g_strerror(-r));
}

static void on_cycle_done(Manager *m, void *userdata)
{
    emit_manager_changes(userdata);
}

static void on_settings_changed(Manager *m, void *userdata)
{
    /* Paused, Connected, Interval: rare, and worth telling at once. */
    emit_manager_changes(userdata);
}

const ManagerListener bus_manager_listener = {
    .adjusted = on_adjusted,
    .state_changed = on_state_changed,
    .start_refused = on_start_refused,
    .cycle_done = on_cycle_done,
    .settings_changed = on_settings_changed,
};
