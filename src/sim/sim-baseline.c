/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-baseline.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#define MIB 1024ULL

static const char *const algo_names[SIM_ALGO_LAST] = {
    [SIM_ALGO_DYNMEM] = "dynmem", [SIM_ALGO_STATIC] = "static",   [SIM_ALGO_HYPERV] = "hyperv",
    [SIM_ALGO_MOM] = "mom",       [SIM_ALGO_PROXMOX] = "proxmox", [SIM_ALGO_SQUEEZED] = "squeezed",
};

const char *sim_algo_to_string(SimAlgo a)
{
    return a < SIM_ALGO_LAST ? algo_names[a] : "?";
}

int sim_algo_from_string(const char *s, SimAlgo *ret)
{
    for (int a = 0; a < SIM_ALGO_LAST; a++)
        if (strcmp(s, algo_names[a]) == 0) {
            *ret = (SimAlgo)a;
            return 0;
        }
    return -EINVAL;
}

uint64_t sim_algo_interval_us(SimAlgo a)
{
    switch (a) {
    case SIM_ALGO_HYPERV:
        return G_USEC_PER_SEC; /* a 1 s balancer */
    case SIM_ALGO_MOM:
    case SIM_ALGO_PROXMOX:
    case SIM_ALGO_SQUEEZED:
        return 10 * G_USEC_PER_SEC;
    default:
        return G_USEC_PER_SEC;
    }
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- Hyper-V ------------------------------------------------------------ */

static int by_weight_desc(const void *a, const void *b, void *userdata)
{
    const SimBaseVm *vms = userdata;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (vms[i].weight != vms[j].weight)
        return vms[i].weight > vms[j].weight ? -1 : 1;
    return i < j ? -1 : i > j;
}

void sim_hyperv_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets)
{
    uint64_t sum_want = 0, sum_min = 0;
    g_autofree uint64_t *want = g_new(uint64_t, n ? n : 1);
    g_autofree uint64_t *need = g_new(uint64_t, n ? n : 1);
    g_autofree size_t *order = g_new(size_t, n ? n : 1);

    for (size_t i = 0; i < n; i++) {
        const SimBaseVm *v = &vms[i];
        uint64_t lo = MIN(v->min_kib, v->max_kib);
        need[i] = clamp_u64(v->used_kib, lo, v->max_kib);
        want[i] = clamp_u64(v->used_kib + v->used_kib / 100 * v->buffer_pct, lo, v->max_kib);
        sum_want += want[i];
        sum_min += lo;
        targets[i] = lo;
        order[i] = i;
    }
    if (sum_want <= h->budget_kib) {
        memcpy(targets, want, n * sizeof(*targets));
        return;
    }
    if (sum_min >= h->budget_kib)
        return; /* minimums only */
    uint64_t rest = h->budget_kib - sum_min;
    g_qsort_with_data(order, (gint)n, sizeof(*order), by_weight_desc, (void *)vms);
    /* demand first, by priority; then the buffers, by priority */
    for (int pass = 0; pass < 2 && rest; pass++)
        for (size_t k = 0; k < n && rest; k++) {
            size_t i = order[k];
            uint64_t goal = pass == 0 ? need[i] : want[i];
            uint64_t add = goal > targets[i] ? MIN(goal - targets[i], rest) : 0;
            targets[i] += add;
            rest -= add;
        }
}

/* ---- MoM ---------------------------------------------------------------- */

void sim_mom_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets)
{
    double p = h->total_kib ? (double)h->free_kib / (double)h->total_kib : 0;
    for (size_t i = 0; i < n; i++) {
        const SimBaseVm *v = &vms[i];
        double cur = (double)v->cur_kib, used = (double)v->used_kib, t;
        if (p < 0.20) {
            double f = p <= 0.05 ? p - 0.05 : p;
            double floor = MAX((double)v->min_kib, used + f * cur);
            t = MAX(floor, 0.95 * cur);
            t = MIN(t, cur); /* under pressure it only shrinks */
        } else {
            double floor = MAX((double)v->min_kib, used + 0.20 * cur);
            t = MIN((double)v->max_kib, MAX(1.05 * cur, floor));
        }
        if (t < 0)
            t = 0;
        targets[i] = (uint64_t)t;
        double diff = t > cur ? t - cur : cur - t;
        if (diff <= 0.0025 * cur)
            targets[i] = v->cur_kib;
    }
}

/* ---- Proxmox ------------------------------------------------------------ */

void sim_proxmox_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets)
{
    int64_t used = (int64_t)(h->total_kib - MIN(h->free_kib, h->total_kib));
    int64_t goal = (int64_t)(h->total_kib / 100 * 80) - used;
    uint64_t sum_shares = 0;
    int64_t sum_cur = 0, sum_min = 0;

    for (size_t i = 0; i < n; i++) {
        targets[i] = vms[i].cur_kib;
        sum_shares += vms[i].weight / 5;
        sum_cur += (int64_t)vms[i].cur_kib;
        sum_min += (int64_t)vms[i].min_kib;
    }
    if (goal >= -(int64_t)(10 * MIB) && goal <= (int64_t)(10 * MIB))
        return;
    int64_t alloc = MAX(sum_cur + goal - sum_min, 0);
    for (size_t i = 0; i < n; i++) {
        const SimBaseVm *v = &vms[i];
        uint64_t shares = v->weight / 5;
        if (shares == 0 || sum_shares == 0)
            continue; /* shares 0: never ballooned */
        uint64_t d = v->min_kib + (uint64_t)((double)alloc * (double)shares / (double)sum_shares);
        d = clamp_u64(d, MIN(v->min_kib, v->max_kib), v->max_kib);
        if (d > v->cur_kib)
            d = MIN(d, v->cur_kib + 100 * MIB);
        else if (d + 100 * MIB < v->cur_kib)
            d = v->cur_kib - 100 * MIB;
        targets[i] = d;
    }
}

/* ---- squeezed ----------------------------------------------------------- */

void sim_squeezed_plan(const SimBaseHost *h, const SimBaseVm *vms, size_t n, uint64_t *targets)
{
    uint64_t sum_min = 0, sum_range = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = MIN(vms[i].min_kib, vms[i].max_kib);
        sum_min += lo;
        sum_range += vms[i].max_kib - lo;
    }
    uint64_t surplus = h->budget_kib > sum_min + 9 * MIB ? h->budget_kib - sum_min - 9 * MIB : 0;
    double gamma = sum_range ? (double)surplus / (double)sum_range : 1;
    gamma = CLAMP(gamma, 0.0, 1.0);
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = MIN(vms[i].min_kib, vms[i].max_kib);
        targets[i] = lo + (uint64_t)(gamma * (double)(vms[i].max_kib - lo));
    }
}
