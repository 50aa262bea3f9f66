/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the engine over several cycles, with guests that lie.
 *
 * A guest's balloon driver writes its own statistics, so a hostile guest
 * controls them: usable above available, available above assigned,
 * counters that wrap or jump, a huge swap-in, a last_update in the future.
 * Here some domains are hostile (every figure drawn from the input) and
 * the others honest (figures from a model of a guest whose workload holds
 * `used`). The engine plans, the model follows the plan (hostile guests
 * may refuse to shrink), and so on for up to MAX_CYCLES cycles.
 *
 * Checked every cycle: the engine accepts the input and does not crash or
 * trip the sanitizers (overflow, wrapped casts); every target stays within
 * [minimum, maximum] or moves toward it, never above what the domain can
 * physically reach; stale and uncooperative guests are never shrunk; every
 * action is one the domain can carry out (balloon up to its ceiling,
 * virtio-mem aligned and within its size, a DIMM only into a free slot);
 * growth comes only from memory that is free (Σ targets within the budget,
 * or within what the domains hold already); and an honest guest never
 * loses memory its workload uses, whatever the hostile ones claim.
 */
#include "engine.h"
#include "fuzz.h"
#include "planner.h"
#include "test-sizes.h"

#include <errno.h>
#include <inttypes.h>

#define MAX_DOMAINS 6
#define MAX_CYCLES  12

typedef struct {
    bool hostile;
    bool cooperative; /* moves its balloon down when asked */
    uint64_t used_kib;
    uint64_t balloon_kib; /* the truth, boot + DIMMs − ballooned */
    uint64_t swap_in_kib;
    uint64_t major_faults;
    PolicyEffective policy;
    PolicyDomainCaps caps;
    PolicyDomainSample sample;
    PolicyDomainState st;
} Dom;

static PolicyAmount draw_amount(FuzzReader *r, uint64_t max_kib)
{
    switch (fuzz_u8(r) % 4) {
    case 0:
        return (PolicyAmount){POLICY_AMOUNT_UNSET, 0};
    case 1:
        return (PolicyAmount){POLICY_AMOUNT_PERCENT, fuzz_range(r, 0, 150)};
    default:
        return (PolicyAmount){POLICY_AMOUNT_KIB, fuzz_range(r, 0, max_kib / MiB) * MiB};
    }
}

static void draw_config(FuzzReader *r, PolicyConfig *cfg)
{
    static const uint64_t durations[] = {0, 100000, SEC, 10 * SEC, 3600 * SEC, 86400 * SEC};
    PolicyTuning *t = &cfg->tuning;

    cfg->reserve = fuzz_bool(r) ? (PolicyAmount){POLICY_AMOUNT_PERCENT, fuzz_range(r, 0, 100)}
                                : (PolicyAmount){POLICY_AMOUNT_KIB, fuzz_range(r, 0, 8) * GiB};
    cfg->pool_kib = fuzz_bool(r) ? fuzz_range(r, 1, 64) * 512 * MiB : 0;
    cfg->overhead_kib = fuzz_range(r, 0, 4) * 64 * MiB;
    cfg->psi_threshold_pct = (uint32_t)fuzz_range(r, 0, 100);
    t->grace_us = durations[fuzz_u8(r) % G_N_ELEMENTS(durations)];
    t->demand_half_life_us = durations[1 + fuzz_u8(r) % (G_N_ELEMENTS(durations) - 1)];
    t->min_step_kib = fuzz_range(r, 0, 64) * MiB;
    t->min_step_pct = (uint32_t)fuzz_range(r, 0, 100);
    t->max_shrink_kib = fuzz_range(r, 1, 2048) * MiB;
    t->uncooperative_timeout_us = durations[fuzz_u8(r) % G_N_ELEMENTS(durations)];
    t->uncooperative_retry_us = durations[fuzz_u8(r) % G_N_ELEMENTS(durations)];
    t->stale_periods = (uint32_t)fuzz_range(r, 1, 100);
    t->pressure_swap_in_kib_s = fuzz_range(r, 0, 64) * MiB;
    t->pressure_major_faults_s = fuzz_range(r, 0, 10000);
    t->pressure_boost_pct = (uint32_t)fuzz_range(r, 0, 1000);
}

static void draw_domain(FuzzReader *r, Dom *d, uint64_t now)
{
    PolicyDomainCaps *c = &d->caps;

    memset(d, 0, sizeof(*d));
    d->hostile = fuzz_bool(r);
    d->cooperative = !d->hostile || fuzz_bool(r);
    d->policy = (PolicyEffective){
        .mode = fuzz_u8(r) % 16 == 0 ? POLICY_MODE_STATIC : POLICY_MODE_DYNAMIC,
        .minimum = draw_amount(r, 4 * GiB),
        .startup = draw_amount(r, 8 * GiB),
        .maximum = draw_amount(r, 32 * GiB),
        .buffer_pct = (uint32_t)fuzz_range(r, 0, 2000),
        .weight = (uint32_t)fuzz_range(r, 0, 10000),
        .rule_index = -1,
    };
    c->has_balloon = fuzz_u8(r) % 16 != 0;
    c->stats_period_s = (uint32_t)fuzz_range(r, 0, 3);
    c->balloon_autodeflate = fuzz_bool(r);
    c->balloon_max_kib = fuzz_range(r, 64, 16384) * MiB;
    c->n_virtio_mem = fuzz_range(r, 0, 2);
    for (size_t k = 0; k < c->n_virtio_mem; k++) {
        PolicyVirtioMem *vm = &c->virtio_mem[k];

        g_snprintf(vm->alias, sizeof(vm->alias), "virtiomem%zu", k);
        vm->block_kib = (UINT64_C(2) << fuzz_range(r, 0, 6)) * MiB;
        vm->size_kib = fuzz_range(r, 1, 64) * vm->block_kib;
        vm->current_kib = fuzz_range(r, 0, vm->size_kib / vm->block_kib) * vm->block_kib;
        vm->requested_kib = vm->current_kib;
    }
    c->total_memory_kib = policy_caps_reach_kib(c);
    c->dimm_node = -1;
    c->dimm_block_kib = POLICY_DIMM_BLOCK_KIB_DEFAULT;
    if (fuzz_bool(r)) {
        c->max_memory_kib = c->total_memory_kib + fuzz_range(r, 0, 64) * 512 * MiB;
        c->free_dimm_slots = (uint32_t)fuzz_range(r, 0, 4);
        c->dimm_node = 0;
    }
    d->balloon_kib = fuzz_range(r, c->balloon_max_kib / 8 / MiB, c->balloon_max_kib / MiB) * MiB;
    d->used_kib = fuzz_range(r, 0, policy_caps_reach_kib(c) / MiB) * MiB;
    if (fuzz_bool(r))
        policy_domain_state_init_booted(&d->st, now - fuzz_range(r, 0, 120) * SEC);
}

/* A figure a hostile guest reports: plausible, extreme or arbitrary. */
static uint64_t hostile_figure(FuzzReader *r, uint64_t assigned)
{
    switch (fuzz_u8(r) % 8) {
    case 0:
        return 0;
    case 1:
        return assigned;
    case 2:
        return UINT64_MAX;
    case 3:
        return fuzz_u64(r);
    case 4:
        return assigned + fuzz_range(r, 0, 65535) * MiB; /* more than it has */
    default:
        return fuzz_range(r, 0, 65535) * (assigned / 65535 + 1);
    }
}

/* A counter the guest reports: grows, jumps, stands, goes back or wraps. */
static uint64_t hostile_counter(FuzzReader *r, uint64_t prev)
{
    switch (fuzz_u8(r) % 6) {
    case 0:
        return prev;
    case 1:
        return prev + fuzz_range(r, 0, 65535);
    case 2:
        return prev + fuzz_range(r, 0, 65535) * GiB; /* a huge jump, may wrap */
    case 3:
        return prev - fuzz_range(r, 0, 65535); /* backwards, may wrap */
    case 4:
        return UINT64_MAX - fuzz_range(r, 0, 255);
    default:
        return fuzz_u64(r);
    }
}

static void make_sample(FuzzReader *r, Dom *d, uint64_t now)
{
    PolicyDomainSample *s = &d->sample;
    uint64_t assigned = policy_caps_assigned_kib(&d->caps, d->balloon_kib);
    int64_t wall = 1700000000 + (int64_t)(now / SEC);

    memset(s, 0, sizeof(*s));
    s->timestamp_us = now;
    s->wallclock_s = wall;
    s->assigned_kib = assigned;
    s->balloon_kib = d->balloon_kib;
    s->has_rss = true;
    s->rss_kib = assigned;
    if (!d->hostile) {
        /* a consistent guest: MemTotal is what it has, it swaps what does
         * not fit */
        s->has_balloon_stats = true;
        s->has_usable = s->has_available = s->has_unused = true;
        s->available_kib = assigned;
        s->usable_kib = assigned > d->used_kib ? assigned - d->used_kib : 0;
        s->unused_kib = s->usable_kib;
        if (d->used_kib > assigned)
            d->swap_in_kib += d->used_kib - assigned;
        s->has_swap_in = true;
        s->swap_in_kib = d->swap_in_kib;
        s->has_major_faults = true;
        s->major_faults = d->major_faults;
        s->last_update_s = wall;
        return;
    }
    uint8_t flags = fuzz_u8(r);
    s->has_balloon_stats = !(flags & 0x80);
    s->has_usable = flags & 1;
    s->has_available = flags & 2;
    s->has_unused = flags & 4;
    s->has_swap_in = flags & 8;
    s->has_major_faults = flags & 16;
    s->has_rss = flags & 32;
    /* QEMU's balloon figure is the boot memory minus what the guest says
     * it gave up: anything, if the guest lies. libvirt adds the virtio-mem
     * memory QEMU saw plugged. */
    if (flags & 64) {
        uint64_t plugged = assigned - d->balloon_kib;

        s->balloon_kib = hostile_figure(r, d->balloon_kib);
        s->assigned_kib =
            s->balloon_kib > UINT64_MAX - plugged ? UINT64_MAX : s->balloon_kib + plugged;
    }
    s->usable_kib = hostile_figure(r, assigned);
    s->available_kib = hostile_figure(r, assigned);
    s->unused_kib = hostile_figure(r, assigned);
    s->disk_caches_kib = hostile_figure(r, assigned);
    s->rss_kib = hostile_figure(r, assigned);
    d->swap_in_kib = hostile_counter(r, d->swap_in_kib);
    d->major_faults = hostile_counter(r, d->major_faults);
    s->swap_in_kib = d->swap_in_kib;
    s->major_faults = d->major_faults;
    switch (fuzz_u8(r) % 6) {
    case 0:
        s->last_update_s = wall;
        break;
    case 1:
        s->last_update_s = wall + (int64_t)fuzz_range(r, 1, 1u << 30); /* the future */
        break;
    case 2:
        s->last_update_s = INT64_MAX;
        break;
    case 3:
        s->last_update_s = INT64_MIN;
        break;
    case 4:
        s->last_update_s = wall - (int64_t)fuzz_range(r, 0, 600);
        break;
    default:
        s->last_update_s = (int64_t)fuzz_u64(r);
        break;
    }
}

/* What the engine decided for a domain, when a check fails. */
static void dump_entry(size_t i, const PolicyPlanEntry *e, const Dom *d)
{
    fprintf(stderr,
            "domain %zu (%s): status %s A %" PRIu64 " T %" PRIu64 " demand %" PRIu64
            " floor %" PRIu64 " need %" PRIu64 " desired %" PRIu64 " min %" PRIu64 " max %" PRIu64
            " used %" PRIu64 " reason \"%s\"\n",
            i, d->hostile ? "hostile" : "honest", policy_status_to_string(e->status),
            e->assigned_kib, e->target_kib, e->demand_kib, e->floor_kib, e->need_kib,
            e->desired_kib, e->minimum_kib, e->maximum_kib, d->used_kib, e->reason);
    fprintf(stderr, "  balloon %" PRIu64 " ceiling %" PRIu64 " reach %" PRIu64 "\n", d->balloon_kib,
            d->caps.balloon_max_kib, policy_caps_reach_kib(&d->caps));
    for (size_t k = 0; k < e->n_actions; k++)
        fprintf(stderr, "  action %s %s %" PRIu64 " -> %" PRIu64 "\n",
                policy_action_kind_to_string(e->actions[k].kind), e->actions[k].alias,
                e->actions[k].from_kib, e->actions[k].to_kib);
}

static void check_plan(const Dom *doms, size_t n, const PolicyDomainInput *in,
                       const PolicyPlanEntry *out, const PolicyPlanSummary *sum,
                       const uint64_t *base_before)
{
    unsigned __int128 sum_t = 0, sum_base = 0;

    for (size_t i = 0; i < n; i++) {
        const PolicyPlanEntry *e = &out[i];
        const PolicyDomainCaps *c = &doms[i].caps;
        uint64_t a = e->assigned_kib, t = e->target_kib;

        FUZZ_CHECK((unsigned)e->status < POLICY_STATUS_LAST);
        FUZZ_CHECK(e->n_actions <= POLICY_MAX_ACTIONS);
        FUZZ_CHECK(memchr(e->reason, '\0', sizeof(e->reason)) != NULL);
        if (!e->managed) {
            FUZZ_CHECK(t == a && e->n_actions == 0);
            continue;
        }
        FUZZ_CHECK(e->minimum_kib <= e->maximum_kib);
        FUZZ_CHECK(e->maximum_kib <= policy_caps_reach_kib(c));
        /* never past a bound, never further past one */
        /* a figure no domain can hold (QEMU's balloon figure is its RAM
         * size minus what the guest says it gave up) */
        bool impossible = in[i].sample && in[i].sample->assigned_kib >
                                              policy_caps_assigned_kib(c, c->balloon_max_kib);

        if (t > (a > e->maximum_kib ? a : e->maximum_kib) ||
            (!impossible && t < (a < e->minimum_kib ? a : e->minimum_kib)))
            dump_entry(i, e, &doms[i]);
        FUZZ_CHECK(t <= (a > e->maximum_kib ? a : e->maximum_kib));
        FUZZ_CHECK(impossible || t >= (a < e->minimum_kib ? a : e->minimum_kib));
        if (e->status == POLICY_STATUS_STALE || e->status == POLICY_STATUS_UNCOOPERATIVE)
            FUZZ_CHECK(t >= a);
        /* an honest guest keeps what its workload uses (up to its maximum) */
        if (!doms[i].hostile) {
            uint64_t keep = a;

            keep = keep < doms[i].used_kib ? keep : doms[i].used_kib;
            keep = keep < e->maximum_kib ? keep : e->maximum_kib;
            if (t < keep)
                dump_entry(i, e, &doms[i]);
            FUZZ_CHECK(t >= keep);
        }
        for (size_t k = 0; k < e->n_actions; k++) {
            const PolicyAction *act = &e->actions[k];

            FUZZ_CHECK((unsigned)act->kind < POLICY_ACTION_LAST);
            if (act->kind == POLICY_ACTION_BALLOON) {
                if (act->to_kib > c->balloon_max_kib)
                    dump_entry(i, e, &doms[i]);
                FUZZ_CHECK(act->to_kib <= c->balloon_max_kib);
            } else if (act->kind == POLICY_ACTION_VIRTIO_MEM) {
                bool found = false;

                for (size_t v = 0; v < c->n_virtio_mem; v++) {
                    if (strcmp(c->virtio_mem[v].alias, act->alias) != 0)
                        continue;
                    found = true;
                    FUZZ_CHECK(act->to_kib % c->virtio_mem[v].block_kib == 0);
                    FUZZ_CHECK(act->to_kib <= c->virtio_mem[v].size_kib);
                }
                FUZZ_CHECK(found);
            } else {
                FUZZ_CHECK(act->to_kib > 0 && act->to_kib % c->dimm_block_kib == 0);
                FUZZ_CHECK(c->free_dimm_slots > 0 && c->dimm_node >= 0);
                FUZZ_CHECK(c->total_memory_kib + act->to_kib <= c->max_memory_kib);
            }
        }
        sum_t += t;
        sum_base += base_before[i] > a ? base_before[i] : a;
    }
    FUZZ_CHECK((unsigned)sum->state < POLICY_HOST_LAST);
    /* growth only from memory that is free: what grows was in the budget */
    if (sum_t > (sum_base > sum->budget_kib ? sum_base : sum->budget_kib)) {
        fprintf(stderr, "budget %" PRIu64 " state %s\n", sum->budget_kib,
                policy_host_state_to_string(sum->state));
        for (size_t i = 0; i < n; i++)
            dump_entry(i, &out[i], &doms[i]);
    }
    FUZZ_CHECK(sum_t <= (sum_base > sum->budget_kib ? sum_base : sum->budget_kib));
}

/* The guests follow the plan: grows land; a shrink only if the guest
 * cooperates; a refused action is reported as failed now and then. */
static void follow_plan(FuzzReader *r, Dom *d, const PolicyPlanEntry *e, uint64_t now)
{
    PolicyDomainCaps *c = &d->caps;
    bool failed = e->n_actions > 0 && fuzz_u8(r) % 8 == 0;

    if (failed) {
        policy_domain_state_note_failed(&d->st);
        return;
    }
    for (size_t k = 0; k < e->n_actions; k++) {
        const PolicyAction *a = &e->actions[k];

        if (a->kind == POLICY_ACTION_BALLOON) {
            if (d->cooperative || a->to_kib > d->balloon_kib)
                d->balloon_kib = a->to_kib;
        } else if (a->kind == POLICY_ACTION_VIRTIO_MEM) {
            for (size_t v = 0; v < c->n_virtio_mem; v++) {
                PolicyVirtioMem *vm = &c->virtio_mem[v];

                if (strcmp(vm->alias, a->alias) != 0)
                    continue;
                vm->requested_kib = a->to_kib;
                if (d->cooperative || a->to_kib > vm->current_kib)
                    vm->current_kib = a->to_kib;
            }
        } else {
            c->balloon_max_kib += a->to_kib;
            c->total_memory_kib += a->to_kib;
            c->free_dimm_slots--;
            c->n_dimms++;
            d->balloon_kib += a->to_kib;
        }
    }
    policy_domain_state_note_issued(&d->st, e, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzReader r = {data, size, 0};
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    g_autoptr(PolicyEngine) engine = policy_engine_new();
    Dom doms[MAX_DOMAINS];
    PolicyDomainInput in[MAX_DOMAINS];
    PolicyPlanEntry out[MAX_DOMAINS];
    PolicyHostSample host = {0};
    uint64_t now = 1000 * SEC;
    size_t n;

    draw_config(&r, cfg);
    n = 1 + fuzz_u8(&r) % MAX_DOMAINS;
    for (size_t i = 0; i < n; i++)
        draw_domain(&r, &doms[i], now);
    host.mem_total_kib = fuzz_range(&r, 1, 256) * GiB;
    host.mem_available_kib = fuzz_range(&r, 0, host.mem_total_kib / MiB) * MiB;
    host.has_psi = fuzz_bool(&r);
    host.psi_some_avg10 = (double)fuzz_range(&r, 0, 10000) / 100.0;

    for (int cycle = 0; cycle < MAX_CYCLES && !fuzz_done(&r); cycle++) {
        PolicyPlanSummary sum;
        uint64_t base_before[MAX_DOMAINS];

        for (size_t i = 0; i < n; i++) {
            Dom *d = &doms[i];

            /* an honest workload changes now and then */
            if (!d->hostile && fuzz_u8(&r) % 4 == 0)
                d->used_kib = fuzz_range(&r, 0, policy_caps_reach_kib(&d->caps) / MiB) * MiB;
            make_sample(&r, d, now);
            base_before[i] = d->st.grow_pending_to_kib;
            in[i] = (PolicyDomainInput){
                .name = "d",
                .uuid = "u",
                .policy = &d->policy,
                .caps = &d->caps,
                .sample = d->hostile && fuzz_u8(&r) % 16 == 0 ? NULL : &d->sample,
                .state = &d->st,
            };
        }
        FUZZ_CHECK(policy_engine_plan(engine, cfg, &host, now, in, n, out, &sum) == 0);
        check_plan(doms, n, in, out, &sum, base_before);
        g_free(policy_plan_format_table(in, out, n, &sum));
        for (size_t i = 0; i < n; i++)
            follow_plan(&r, &doms[i], &out[i], now);
        now += fuzz_range(&r, 0, 10) * SEC + fuzz_range(&r, 0, 999);
    }
    return 0;
}
