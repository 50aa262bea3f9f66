/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Demand traces for dynmem-sim: what a guest's workload uses over time,
 * from a CSV file or a generator (steps, a ramp, an office day, bursts, a
 * random walk, a boot). Pure: a trace is data, its value at a time is a
 * function of the trace, the VM's seed and (for the random walk only) a
 * small state the caller keeps.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SIM_TRACE_CONSTANT = 0, /* level */
    SIM_TRACE_STEPS,        /* points: (t, level) held until the next; repeats every period */
    SIM_TRACE_RAMP,         /* from level to peak at rate, starting at start, held */
    SIM_TRACE_OFFICE,       /* a diurnal office day: level at night, peak 8:00-18:00, lunch dip */
    SIM_TRACE_BURSTS,       /* level, a burst to peak every period for duration, at rate */
    SIM_TRACE_WALK,         /* a random walk between level and peak, a step every period */
    SIM_TRACE_BOOT,         /* after the VM starts: peak for duration, then level */
    SIM_TRACE_CSV,          /* points read from a file, held */
    SIM_TRACE_LAST,
} SimTraceKind;

const char *sim_trace_kind_to_string(SimTraceKind kind);
int sim_trace_kind_from_string(const char *s, SimTraceKind *ret);

typedef struct {
    uint64_t t_us;
    uint64_t kib;
} SimTracePoint;

typedef struct {
    SimTraceKind kind;
    uint64_t level_kib;   /* idle / night / start */
    uint64_t peak_kib;    /* busy / burst / ramp end / walk ceiling */
    uint64_t rate_kib_s;  /* ramp and burst rise rate; 0: instant */
    uint64_t start_us;    /* ramp start; first burst */
    uint64_t period_us;   /* bursts, steps repeat, walk step */
    uint64_t duration_us; /* burst length, boot length */
    uint64_t jitter_us;   /* bursts: random delay of each, per VM */
    uint64_t step_kib;    /* walk: largest step */
    uint32_t noise_pct;   /* office: ± noise per hour, per VM */
    GArray *points;       /* SimTracePoint, STEPS and CSV */
} SimTrace;

void sim_trace_clear(SimTrace *t);

/* The random walk's state, per VM; zero it at the start. */
typedef struct {
    uint64_t kib;
    uint64_t next_us;
    uint64_t rng;
    bool started;
} SimTraceState;

/* The demand at t_us (time since the VM started for BOOT, since the
 * scenario started otherwise); seed makes each VM's randomness its own. */
uint64_t sim_trace_demand_kib(const SimTrace *t, SimTraceState *st, uint64_t seed, uint64_t t_us,
                              uint64_t since_start_us);

/* Pure CSV parser: lines "seconds,MiB" (a header line and '#' comments
 * allowed), times non-decreasing. Returns 0 and a new array, or -EINVAL
 * with *ret_error naming the line. */
int sim_trace_parse_csv_buf(const char *text, GArray **ret_points, char **ret_error);

/* A 64-bit mix of a and b (splitmix64), the simulator's one source of
 * randomness. */
uint64_t sim_hash(uint64_t a, uint64_t b);
