/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sim-trace.h"

#include "text.h"
#include "units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[SIM_TRACE_LAST] = {
    [SIM_TRACE_CONSTANT] = "constant", [SIM_TRACE_STEPS] = "steps",
    [SIM_TRACE_RAMP] = "ramp",         [SIM_TRACE_OFFICE] = "office-day",
    [SIM_TRACE_BURSTS] = "bursts",     [SIM_TRACE_WALK] = "random-walk",
    [SIM_TRACE_BOOT] = "boot",         [SIM_TRACE_CSV] = "csv",
};

const char *sim_trace_kind_to_string(SimTraceKind kind)
{
    return kind < SIM_TRACE_LAST ? kind_names[kind] : "?";
}

int sim_trace_kind_from_string(const char *s, SimTraceKind *ret)
{
    for (int k = 0; k < SIM_TRACE_LAST; k++)
        if (strcmp(s, kind_names[k]) == 0) {
            *ret = (SimTraceKind)k;
            return 0;
        }
    return -EINVAL;
}

void sim_trace_clear(SimTrace *t)
{
    if (t->points)
        g_array_unref(t->points);
    t->points = NULL;
}

uint64_t sim_hash(uint64_t a, uint64_t b)
{
    uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e5ffULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* level + (peak − level) × num / den, saturating at peak */
static uint64_t between(uint64_t lo, uint64_t hi, uint64_t num, uint64_t den)
{
    if (hi <= lo || den == 0)
        return lo;
    if (num >= den)
        return hi;
    return lo + (uint64_t)((double)(hi - lo) * (double)num / (double)den);
}

/* A rise from lo toward hi at rate, elapsed us after it began. */
static uint64_t rising(uint64_t lo, uint64_t hi, uint64_t rate_kib_s, uint64_t elapsed_us)
{
    if (rate_kib_s == 0)
        return hi;
    double v = (double)lo + (double)rate_kib_s * (double)elapsed_us / 1e6;
    return v >= (double)hi ? hi : (uint64_t)v;
}

/* The last point at or before t_us; a rise to it taken at rate (0: at
 * once) from the level before it. */
static uint64_t held_point(const GArray *pts, uint64_t rate_kib_s, uint64_t t_us)
{
    uint64_t v = 0, before = 0;
    if (!pts || pts->len == 0)
        return 0;
    v = before = g_array_index(pts, SimTracePoint, 0).kib;
    for (guint i = 0; i < pts->len; i++) {
        const SimTracePoint *p = &g_array_index(pts, SimTracePoint, i);
        if (p->t_us > t_us)
            break;
        before = v;
        v = p->kib > before ? rising(before, p->kib, rate_kib_s, t_us - p->t_us) : p->kib;
    }
    return v;
}

static uint64_t office(const SimTrace *t, uint64_t seed, uint64_t t_us)
{
    const uint64_t hour = 3600ULL * G_USEC_PER_SEC;
    uint64_t tod = t_us % (24 * hour), h = tod / hour;
    /* arrivals spread over 7:30-9:00 and leaving over 17:00-18:30, per VM */
    uint64_t arrive = 7 * hour + hour / 2 + sim_hash(seed, 1) % (3 * hour / 2);
    uint64_t leave = 17 * hour + sim_hash(seed, 2) % (3 * hour / 2);
    uint64_t v = t->level_kib;
    if (tod >= arrive && tod < leave) {
        v = rising(t->level_kib, t->peak_kib, t->rate_kib_s, tod - arrive);
        if (tod >= 12 * hour && tod < 13 * hour) /* lunch: half way back */
            v = t->level_kib + (v - t->level_kib) / 2;
    }
    if (t->noise_pct) {
        uint64_t r = sim_hash(seed, 100 + t_us / hour + h);
        int64_t span = (int64_t)(v / 100 * t->noise_pct);
        int64_t d = span ? (int64_t)(r % (uint64_t)(2 * span + 1)) - span : 0;
        v = (int64_t)v + d > (int64_t)t->level_kib / 2 ? (uint64_t)((int64_t)v + d) : v;
    }
    return v;
}

static uint64_t bursts(const SimTrace *t, uint64_t seed, uint64_t t_us)
{
    if (t->period_us == 0 || t_us < t->start_us)
        return t->level_kib;
    uint64_t since = t_us - t->start_us, n = since / t->period_us, in = since % t->period_us;
    uint64_t jitter = t->jitter_us ? sim_hash(seed, n) % t->jitter_us : 0;
    if (in < jitter || in >= jitter + t->duration_us)
        return t->level_kib;
    return rising(t->level_kib, t->peak_kib, t->rate_kib_s, in - jitter);
}

static uint64_t walk(const SimTrace *t, SimTraceState *st, uint64_t seed, uint64_t t_us)
{
    if (!st->started) {
        st->started = true;
        st->rng = seed;
        st->kib = between(t->level_kib, t->peak_kib, sim_hash(seed, 7) % 1000, 1000);
        st->next_us = t_us + t->period_us;
    }
    while (t->period_us && t_us >= st->next_us) {
        st->rng = sim_hash(st->rng, st->next_us);
        uint64_t span = 2 * t->step_kib + 1;
        int64_t d = (int64_t)(st->rng % span) - (int64_t)t->step_kib;
        int64_t v = (int64_t)st->kib + d;
        v = MAX(v, (int64_t)t->level_kib);
        v = MIN(v, (int64_t)MAX(t->peak_kib, t->level_kib));
        st->kib = (uint64_t)v;
        st->next_us += t->period_us;
    }
    return st->kib;
}

uint64_t sim_trace_demand_kib(const SimTrace *t, SimTraceState *st, uint64_t seed, uint64_t t_us,
                              uint64_t since_start_us)
{
    switch (t->kind) {
    case SIM_TRACE_CONSTANT:
        return t->level_kib;
    case SIM_TRACE_STEPS:
        return held_point(t->points, t->rate_kib_s, t->period_us ? t_us % t->period_us : t_us);
    case SIM_TRACE_CSV:
        return held_point(t->points, 0, t_us);
    case SIM_TRACE_RAMP:
        if (t_us < t->start_us)
            return t->level_kib;
        return rising(t->level_kib, t->peak_kib, t->rate_kib_s, t_us - t->start_us);
    case SIM_TRACE_OFFICE:
        return office(t, seed, t_us);
    case SIM_TRACE_BURSTS:
        return bursts(t, seed, t_us);
    case SIM_TRACE_WALK:
        return walk(t, st, seed, t_us);
    case SIM_TRACE_BOOT:
        if (since_start_us < t->duration_us)
            return rising(t->level_kib, t->peak_kib, t->rate_kib_s, since_start_us);
        return t->level_kib;
    default:
        return 0;
    }
}

int sim_trace_parse_csv_buf(const char *text, GArray **ret_points, char **ret_error)
{
    g_autoptr(GArray) pts = g_array_new(FALSE, FALSE, sizeof(SimTracePoint));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    uint64_t last = 0;
    for (guint i = 0; lines[i]; i++) {
        char *l = g_strstrip(lines[i]);
        if (*l == '\0' || *l == '#')
            continue;
        char *end = NULL;
        errno = 0;
        double secs = g_ascii_strtod(l, &end);
        if (end == l) {
            if (pts->len == 0 && i == 0)
                continue; /* a header */
            return policy_set_error(ret_error, -EINVAL, "line %u: expected seconds,MiB", i + 1);
        }
        while (*end == ' ')
            end++;
        if (*end != ',' || errno || secs < 0 || secs > 1e9)
            return policy_set_error(ret_error, -EINVAL, "line %u: expected seconds,MiB", i + 1);
        char *v = end + 1, *vend = NULL;
        double mib = g_ascii_strtod(v, &vend);
        while (vend && (*vend == ' ' || *vend == '\r'))
            vend++;
        if (vend == v || *vend != '\0' || mib < 0 || mib > 1e9)
            return policy_set_error(ret_error, -EINVAL, "line %u: expected seconds,MiB", i + 1);
        SimTracePoint p = {(uint64_t)(secs * 1e6), (uint64_t)(mib * 1024)};
        if (p.t_us < last)
            return policy_set_error(ret_error, -EINVAL, "line %u: time goes backwards", i + 1);
        last = p.t_us;
        g_array_append_val(pts, p);
    }
    if (pts->len == 0)
        return policy_set_error(ret_error, -EINVAL, "no samples");
    *ret_points = g_steal_pointer(&pts);
    return 0;
}
