/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-scenario.h"

#include "planner.h"
#include "text.h"
#include "units.h"
#include "yaml-tree.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef PolicyYamlNode Node;

typedef struct {
    GPtrArray *errors;
    SimReadFunc read;
    void *read_userdata;
} Ctx;

static void G_GNUC_PRINTF(3, 4) err(Ctx *c, const Node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_ptr_array_add(c->errors,
                    g_strdup_printf("%u:%u: %s", n ? n->line : 0, n ? n->column : 0, msg));
}

static const Node *map_get(const Node *map, const char *key)
{
    if (!map || map->kind != POLICY_YAML_MAPPING)
        return NULL;
    for (guint i = 0; i + 1 < map->items->len; i += 2) {
        const Node *k = map->items->pdata[i];
        if (k->kind == POLICY_YAML_SCALAR && strcmp(k->value, key) == 0)
            return map->items->pdata[i + 1];
    }
    return NULL;
}

/* Unknown keys are errors, as in the policy file. */
static void check_keys(Ctx *c, const Node *map, const char *where, const char *const *keys)
{
    if (!map)
        return;
    if (map->kind != POLICY_YAML_MAPPING) {
        err(c, map, "%s must be a mapping, not %s", where, policy_yaml_node_kind_name(map));
        return;
    }
    for (guint i = 0; i + 1 < map->items->len; i += 2) {
        const Node *k = map->items->pdata[i];
        bool known = false;
        for (size_t j = 0; keys[j]; j++)
            known |= k->kind == POLICY_YAML_SCALAR && strcmp(k->value, keys[j]) == 0;
        if (!known) {
            g_autofree char *q = policy_quote(k->kind == POLICY_YAML_SCALAR ? k->value : "?");
            err(c, k, "unknown key \"%s\" in %s", q, where);
        }
    }
}

static const char *scalar(Ctx *c, const Node *n, const char *key)
{
    if (n->kind != POLICY_YAML_SCALAR || n->is_null) {
        err(c, n, "%s: expected a value, found %s", key, policy_yaml_node_kind_name(n));
        return NULL;
    }
    return n->value;
}

static void get_size(Ctx *c, const Node *map, const char *key, uint64_t *ret)
{
    const Node *n = map_get(map, key);
    g_autofree char *e = NULL;
    const char *v = n ? scalar(c, n, key) : NULL;
    if (v && policy_parse_size_kib(v, ret, &e) < 0)
        err(c, n, "%s: %s", key, e);
}

static void get_duration(Ctx *c, const Node *map, const char *key, uint64_t *ret)
{
    const Node *n = map_get(map, key);
    g_autofree char *e = NULL;
    const char *v = n ? scalar(c, n, key) : NULL;
    if (v && strcmp(v, "never") == 0)
        *ret = UINT64_MAX;
    else if (v && policy_parse_duration_us(v, ret, &e) < 0)
        err(c, n, "%s: %s", key, e);
}

static void get_uint(Ctx *c, const Node *map, const char *key, uint64_t max, uint64_t *ret)
{
    const Node *n = map_get(map, key);
    const char *v = n ? scalar(c, n, key) : NULL;
    if (!v)
        return;
    guint64 x;
    if (!g_ascii_string_to_unsigned(v, 10, 0, max, &x, NULL))
        err(c, n, "%s: expected a whole number up to %" G_GUINT64_FORMAT, key, max);
    else
        *ret = x;
}

static void get_bool(Ctx *c, const Node *map, const char *key, bool *ret)
{
    const Node *n = map_get(map, key);
    const char *v = n ? scalar(c, n, key) : NULL;
    if (!v)
        return;
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "on") == 0)
        *ret = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "off") == 0)
        *ret = false;
    else
        err(c, n, "%s: expected true or false", key);
}

/* ---- the policy, as text for the loader ---------------------------------- */

static void emit_quoted(GString *out, const char *s)
{
    g_autofree char *q = policy_yaml_quote(s);
    g_string_append(out, q);
}

static void emit_node(GString *out, const Node *n, int indent)
{
    if (n->kind == POLICY_YAML_SCALAR) {
        g_string_append_c(out, ' ');
        emit_quoted(out, n->value ? n->value : "");
        g_string_append_c(out, '\n');
        return;
    }
    g_string_append_c(out, '\n');
    if (n->kind == POLICY_YAML_MAPPING) {
        for (guint i = 0; i + 1 < n->items->len; i += 2) {
            const Node *k = n->items->pdata[i];
            g_string_append_printf(out, "%*s", indent, "");
            emit_quoted(out, k->value ? k->value : "");
            g_string_append_c(out, ':');
            emit_node(out, n->items->pdata[i + 1], indent + 2);
        }
    } else {
        for (guint i = 0; i < n->items->len; i++) {
            g_string_append_printf(out, "%*s-", indent, "");
            emit_node(out, n->items->pdata[i], indent + 2);
        }
    }
}

static void emit_map_body(GString *out, const Node *map, int indent)
{
    for (guint i = 0; map && i + 1 < map->items->len; i += 2) {
        const Node *k = map->items->pdata[i];
        g_string_append_printf(out, "%*s", indent, "");
        emit_quoted(out, k->value ? k->value : "");
        g_string_append_c(out, ':');
        emit_node(out, map->items->pdata[i + 1], indent + 2);
    }
}

/* ---- traces ---------------------------------------------------------------- */

static const char *const trace_keys[] = {"kind",   "level",    "peak",   "rate", "start",
                                         "period", "duration", "jitter", "step", "noise",
                                         "points", "file",     NULL};

static SimTrace *load_trace(Ctx *c, const Node *n)
{
    SimTrace *t = g_new0(SimTrace, 1);
    if (n->kind == POLICY_YAML_SCALAR) { /* "demand: 300MiB" */
        g_autofree char *e = NULL;
        if (policy_parse_size_kib(n->value, &t->level_kib, &e) < 0)
            err(c, n, "demand: %s", e);
        return t;
    }
    check_keys(c, n, "demand", trace_keys);
    const Node *k = map_get(n, "kind");
    const char *kind = k ? scalar(c, k, "kind") : "constant";
    if (kind && sim_trace_kind_from_string(kind, &t->kind) < 0)
        err(c, k,
            "kind: one of constant, steps, ramp, office-day, bursts, random-walk, boot, "
            "csv");
    get_size(c, n, "level", &t->level_kib);
    t->peak_kib = t->level_kib;
    get_size(c, n, "peak", &t->peak_kib);
    get_size(c, n, "rate", &t->rate_kib_s); /* per second */
    get_duration(c, n, "start", &t->start_us);
    get_duration(c, n, "period", &t->period_us);
    get_duration(c, n, "duration", &t->duration_us);
    get_duration(c, n, "jitter", &t->jitter_us);
    get_size(c, n, "step", &t->step_kib);
    uint64_t noise = 0;
    get_uint(c, n, "noise", 100, &noise);
    t->noise_pct = (uint32_t)noise;
    if ((t->kind == SIM_TRACE_BURSTS || t->kind == SIM_TRACE_WALK) && t->period_us == 0)
        err(c, n, "demand: %s needs a period", kind);
    const Node *pts = map_get(n, "points");
    if (t->kind == SIM_TRACE_STEPS) {
        t->points = g_array_new(FALSE, FALSE, sizeof(SimTracePoint));
        if (!pts || pts->kind != POLICY_YAML_LIST) {
            err(c, n, "demand: steps needs points: a list of [time, size]");
            return t;
        }
        for (guint i = 0; i < pts->items->len; i++) {
            const Node *p = pts->items->pdata[i];
            SimTracePoint sp = {0};
            g_autofree char *e1 = NULL, *e2 = NULL;
            if (p->kind != POLICY_YAML_LIST || p->items->len != 2 ||
                ((Node *)p->items->pdata[0])->kind != POLICY_YAML_SCALAR ||
                ((Node *)p->items->pdata[1])->kind != POLICY_YAML_SCALAR) {
                err(c, p, "points: each is [time, size]");
                continue;
            }
            if (policy_parse_duration_us(((Node *)p->items->pdata[0])->value, &sp.t_us, &e1) < 0 ||
                policy_parse_size_kib(((Node *)p->items->pdata[1])->value, &sp.kib, &e2) < 0)
                err(c, p, "points: %s", e1 ? e1 : e2);
            else if (t->points->len &&
                     sp.t_us < g_array_index(t->points, SimTracePoint, t->points->len - 1).t_us)
                err(c, p, "points: time goes backwards");
            else
                g_array_append_val(t->points, sp);
        }
    } else if (pts) {
        err(c, pts, "points: only for kind steps");
    }
    const Node *f = map_get(n, "file");
    if (t->kind == SIM_TRACE_CSV) {
        const char *path = f ? scalar(c, f, "file") : NULL;
        g_autofree char *text = NULL, *e = NULL;
        if (!path)
            err(c, n, "demand: csv needs a file");
        else if (!c->read || c->read(path, &text, &e, c->read_userdata) < 0)
            err(c, f, "file: %s", e ? e : "cannot be read here");
        else if (sim_trace_parse_csv_buf(text, &t->points, &e) < 0)
            err(c, f, "file %s: %s", path, e);
    }
    return t;
}

static void trace_free(void *p)
{
    SimTrace *t = p;
    sim_trace_clear(t);
    g_free(t);
}

/* ---- VMs ---------------------------------------------------------------- */

static const char *const vm_keys[] = {
    "name",        "count",  "memory", "virtio-mem", "virtio-mem-block", "dimm-slots", "max-memory",
    "autodeflate", "policy", "demand", "start",      "start-every",      "stop",       NULL};

static void load_vms(Ctx *c, SimScenario *s, const Node *list, GString *rules)
{
    if (!list || list->kind != POLICY_YAML_LIST) {
        err(c, list, "vms: a list of VMs is required");
        return;
    }
    for (guint i = 0; i < list->items->len; i++) {
        const Node *g = list->items->pdata[i];
        check_keys(c, g, "a VM", vm_keys);
        if (g->kind != POLICY_YAML_MAPPING)
            continue;
        const Node *nn = map_get(g, "name");
        const char *name = nn ? scalar(c, nn, "name") : NULL;
        if (!name) {
            err(c, g, "a VM needs a name");
            continue;
        }
        uint64_t count = 1, boot = 1024 * 1024, vmem = 0, block = 2048, slots = 0, maxmem = 0;
        uint64_t start = 0, every = 0, stop = UINT64_MAX;
        bool ad = true;
        bool counted = map_get(g, "count") != NULL;
        get_uint(c, g, "count", 100000, &count);
        get_size(c, g, "memory", &boot);
        get_size(c, g, "virtio-mem", &vmem);
        get_size(c, g, "virtio-mem-block", &block);
        get_uint(c, g, "dimm-slots", 16, &slots);
        get_size(c, g, "max-memory", &maxmem);
        get_bool(c, g, "autodeflate", &ad);
        get_duration(c, g, "start", &start);
        get_duration(c, g, "start-every", &every);
        get_duration(c, g, "stop", &stop);
        if (boot < 64 * 1024)
            err(c, g, "memory: at least 64MiB");
        if (vmem && (block == 0 || vmem % block))
            err(c, g, "virtio-mem: a multiple of its block");
        if (slots && maxmem < boot + vmem)
            err(c, g, "dimm-slots need a max-memory above memory and virtio-mem");
        const Node *dn = map_get(g, "demand");
        SimTrace *t = dn ? load_trace(c, dn) : g_new0(SimTrace, 1);
        g_ptr_array_add(s->traces, t);
        const Node *pol = map_get(g, "policy");
        if (pol && pol->kind != POLICY_YAML_MAPPING)
            err(c, pol, "policy: a mapping of dynmem-policy.yaml(5) domain keys");
        for (uint64_t k = 0; k < count; k++) {
            SimVm vm = {0};
            vm.name =
                counted ? g_strdup_printf("%s-%03" G_GUINT64_FORMAT, name, k + 1) : g_strdup(name);
            vm.seed = sim_hash(s->seed, s->vms->len + 1);
            snprintf(vm.uuid, sizeof(vm.uuid), "5e000000-0000-4000-8000-%012x", s->vms->len + 1);
            vm.boot_kib = boot;
            vm.vmem_size_kib = vmem;
            vm.vmem_block_kib = block;
            vm.dimm_slots = (uint32_t)slots;
            vm.max_memory_kib = maxmem;
            vm.autodeflate = ad;
            vm.trace = t;
            vm.start_us = start == UINT64_MAX ? UINT64_MAX : start + k * every;
            vm.stop_us = stop;
            g_array_append_val(s->vms, vm);
            g_string_append(rules, "  - name: ");
            emit_quoted(rules, vm.name);
            g_string_append_c(rules, '\n');
            emit_map_body(rules, pol && pol->kind == POLICY_YAML_MAPPING ? pol : NULL, 4);
        }
    }
}

static SimVm *vm_named(SimScenario *s, const char *name)
{
    for (guint i = 0; i < s->vms->len; i++)
        if (strcmp(g_array_index(s->vms, SimVm, i).name, name) == 0)
            return &g_array_index(s->vms, SimVm, i);
    return NULL;
}

static void load_events(Ctx *c, SimScenario *s, const Node *list)
{
    static const char *const keys[] = {"at", "start", "stop", NULL};
    if (!list)
        return;
    if (list->kind != POLICY_YAML_LIST) {
        err(c, list, "events: a list");
        return;
    }
    for (guint i = 0; i < list->items->len; i++) {
        const Node *e = list->items->pdata[i];
        check_keys(c, e, "an event", keys);
        uint64_t at = 0;
        get_duration(c, e, "at", &at);
        for (int k = 0; k < 2; k++) {
            const Node *n = map_get(e, k ? "stop" : "start");
            const char *name = n ? scalar(c, n, k ? "stop" : "start") : NULL;
            SimVm *vm = name ? vm_named(s, name) : NULL;
            if (name && !vm)
                err(c, n, "no VM named %s", name);
            else if (vm && k)
                vm->stop_us = at;
            else if (vm)
                vm->start_us = at;
        }
    }
}

static void load_model(Ctx *c, SimModel *m, const Node *n)
{
    static const char *const keys[] = {"tick",
                                       "inflate-rate",
                                       "deflate-rate",
                                       "plug-rate",
                                       "unplug-rate",
                                       "dimm-online",
                                       "stats-period",
                                       "kernel-reserve",
                                       "kernel-reserve-permille",
                                       "pressure-below",
                                       "stall-at",
                                       "deflate-extra",
                                       NULL};
    check_keys(c, n, "model", keys);
    get_duration(c, n, "tick", &m->tick_us);
    get_size(c, n, "inflate-rate", &m->inflate_kib_s);
    get_size(c, n, "deflate-rate", &m->deflate_kib_s);
    get_size(c, n, "plug-rate", &m->plug_kib_s);
    get_size(c, n, "unplug-rate", &m->unplug_kib_s);
    get_duration(c, n, "dimm-online", &m->dimm_online_us);
    get_duration(c, n, "stats-period", &m->stats_period_us);
    get_size(c, n, "kernel-reserve", &m->reserve_base_kib);
    uint64_t pm = m->reserve_permille;
    get_uint(c, n, "kernel-reserve-permille", 500, &pm);
    m->reserve_permille = (uint32_t)pm;
    get_size(c, n, "pressure-below", &m->pressure_kib);
    get_size(c, n, "stall-at", &m->stall_kib);
    get_size(c, n, "deflate-extra", &m->deflate_extra_kib);
    if (m->tick_us < 10000 || m->tick_us > 10 * G_USEC_PER_SEC)
        err(c, n, "tick: between 10ms and 10s");
    if (m->stats_period_us < m->tick_us)
        err(c, n, "stats-period: at least a tick");
}

void sim_scenario_free(SimScenario *s)
{
    if (!s)
        return;
    g_free(s->name);
    g_free(s->policy_text);
    policy_config_free(s->policy);
    if (s->vms) {
        for (guint i = 0; i < s->vms->len; i++)
            sim_vm_clear(&g_array_index(s->vms, SimVm, i));
        g_array_unref(s->vms);
    }
    if (s->traces)
        g_ptr_array_unref(s->traces);
    if (s->weights)
        g_array_unref(s->weights);
    g_free(s);
}

int sim_scenario_parse_buf(const char *text, size_t len, SimReadFunc read, void *read_userdata,
                           SimScenario **ret, GPtrArray **ret_errors)
{
    static const char *const top[] = {"name",   "duration", "seed",   "host", "model",
                                      "policy", "vms",      "events", NULL};
    static const char *const host_keys[] = {"ram", "reserve", "pool", "other", NULL};
    g_autoptr(GPtrArray) errors = NULL;
    g_autoptr(PolicyYamlNode) root = NULL;
    if (policy_yaml_parse(text, len, "a scenario", &root, &errors) < 0) {
        *ret_errors = g_steal_pointer(&errors);
        return -EINVAL;
    }
    Ctx c = {.errors = g_ptr_array_new_with_free_func(g_free),
             .read = read,
             .read_userdata = read_userdata};
    g_autoptr(GPtrArray) own = c.errors;
    g_autoptr(SimScenario) s = g_new0(SimScenario, 1);
    s->traces = g_ptr_array_new_with_free_func(trace_free);
    s->vms = g_array_new(FALSE, TRUE, sizeof(SimVm));
    s->weights = g_array_new(FALSE, TRUE, sizeof(uint32_t));
    s->duration_us = 3600ULL * G_USEC_PER_SEC;
    s->seed = 1;
    s->host_ram_kib = 64ULL * 1024 * 1024;
    s->host_reserve_kib = 2ULL * 1024 * 1024;
    s->host_other_kib = 1024 * 1024;
    sim_model_defaults(&s->model);
    g_autoptr(GString) ptext = g_string_new("# generated by dynmem-sim\n");
    g_autoptr(GString) rules = g_string_new("");
    g_autofree char *res = NULL;
    if (!root || root->kind != POLICY_YAML_MAPPING) {
        err(&c, root, "a scenario is a mapping with vms:");
        goto done;
    }
    check_keys(&c, root, "the scenario", top);
    const Node *nn = map_get(root, "name");
    s->name = g_strdup(nn && nn->kind == POLICY_YAML_SCALAR ? nn->value : "scenario");
    get_duration(&c, root, "duration", &s->duration_us);
    get_uint(&c, root, "seed", UINT64_MAX, &s->seed);
    const Node *host = map_get(root, "host");
    check_keys(&c, host, "host", host_keys);
    get_size(&c, host, "ram", &s->host_ram_kib);
    get_size(&c, host, "reserve", &s->host_reserve_kib);
    get_size(&c, host, "other", &s->host_other_kib);
    const Node *pool = map_get(host, "pool");
    if (pool &&
        !(pool->kind == POLICY_YAML_SCALAR && pool->value && strcmp(pool->value, "unlimited") == 0))
        get_size(&c, host, "pool", &s->host_pool_kib);
    if (s->duration_us == 0 || s->duration_us > 366ULL * 86400 * G_USEC_PER_SEC)
        err(&c, root, "duration: more than 0, at most a year");
    if (map_get(root, "model"))
        load_model(&c, &s->model, map_get(root, "model"));

    /* the policy: the scenario's, the host's figures, a rule per VM */
    const Node *pol = map_get(root, "policy");
    if (pol && pol->kind != POLICY_YAML_MAPPING)
        err(&c, pol, "policy: a mapping as in dynmem-policy.yaml(5)");
    load_vms(&c, s, map_get(root, "vms"), rules);
    load_events(&c, s, map_get(root, "events"));
    res = policy_format_size_kib_exact(s->host_reserve_kib);
    g_string_append_printf(ptext, "host:\n  reserve: %s\n", res);
    if (s->host_pool_kib) {
        g_autofree char *p = policy_format_size_kib_exact(s->host_pool_kib);
        g_string_append_printf(ptext, "  pool: %s\n", p);
    }
    const Node *phost = map_get(pol, "host");
    if (phost && phost->kind == POLICY_YAML_MAPPING)
        emit_map_body(ptext, phost, 2);
    for (guint i = 0; pol && pol->kind == POLICY_YAML_MAPPING && i + 1 < pol->items->len; i += 2) {
        const Node *k = pol->items->pdata[i], *v = pol->items->pdata[i + 1];
        if (k->kind != POLICY_YAML_SCALAR || strcmp(k->value, "host") == 0)
            continue;
        if (strcmp(k->value, "domains") == 0) {
            err(&c, k, "policy: domains come from vms: (each VM's policy:)");
        } else if (v->kind == POLICY_YAML_MAPPING) {
            emit_quoted(ptext, k->value);
            g_string_append(ptext, ":\n");
            emit_map_body(ptext, v, 2);
        } else {
            err(&c, k, "policy: %s must be a mapping", k->value);
        }
    }
    if (rules->len)
        g_string_append_printf(ptext, "domains:\n%s", rules->str);
    s->policy_text = g_strdup(ptext->str);
    if (c.errors->len == 0) {
        g_autoptr(GPtrArray) perr = NULL;
        if (policy_config_load_buf(s->policy_text, strlen(s->policy_text), "policy", &s->policy,
                                   &perr) < 0)
            for (guint i = 0; i < perr->len; i++)
                err(&c, pol, "policy: %s", (char *)perr->pdata[i]);
    }
    if (c.errors->len == 0)
        for (guint i = 0; i < s->vms->len; i++) {
            SimVmPolicy vp;
            sim_scenario_vm_policy(s, &g_array_index(s->vms, SimVm, i), &vp);
            g_array_append_val(s->weights, vp.weight);
        }
done:
    if (c.errors->len) {
        *ret_errors = g_steal_pointer(&own);
        return -EINVAL;
    }
    *ret = g_steal_pointer(&s);
    return 0;
}

typedef struct {
    char *dir;
} FileCtx;

static int read_relative(const char *path, char **ret_text, char **ret_error, void *userdata)
{
    FileCtx *f = userdata;
    g_autofree char *full =
        g_path_is_absolute(path) ? g_strdup(path) : g_build_filename(f->dir, path, NULL);
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(full, ret_text, NULL, &e)) {
        *ret_error = g_strdup(e->message);
        return -EIO;
    }
    return 0;
}

int sim_scenario_load(const char *path, SimScenario **ret, GPtrArray **ret_errors)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    g_autoptr(GError) e = NULL;
    if (!g_file_get_contents(path, &text, &len, &e)) {
        *ret_errors = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(*ret_errors, g_strdup(e->message));
        return -EIO;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    FileCtx f = {dir};
    return sim_scenario_parse_buf(text, len, read_relative, &f, ret, ret_errors);
}

void sim_scenario_vm_policy(const SimScenario *s, const SimVm *vm, SimVmPolicy *ret)
{
    PolicyEffective eff;
    policy_config_resolve(s->policy, vm->name, vm->uuid, NULL, &eff);
    uint64_t reach = vm->boot_kib + vm->vmem_size_kib;
    if (vm->dimm_slots && vm->max_memory_kib > reach)
        reach = vm->max_memory_kib;
    ret->dynamic = eff.mode == POLICY_MODE_DYNAMIC;
    ret->minimum_kib = MIN(policy_amount_resolve_kib(&eff.minimum, reach, 0), reach);
    ret->maximum_kib = MIN(policy_amount_resolve_kib(&eff.maximum, reach, reach), reach);
    ret->buffer_pct = eff.buffer_pct;
    ret->weight = eff.weight;
}
