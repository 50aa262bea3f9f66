/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A dynmem-sim scenario (dynmem-sim(1)): the host, the guest model, the
 * dynmem policy, the VMs with their memory devices and demand traces, and
 * the events that start and stop them. The loader is pure: text in, a
 * scenario out (a CSV trace is read through a callback, so tests feed
 * text).
 */
#pragma once

#include "config.h"
#include "sim-model.h"
#include "sim-trace.h"

#include <glib.h>

typedef struct {
    char *name;
    uint64_t duration_us;
    uint64_t seed;
    uint64_t host_ram_kib;
    uint64_t host_reserve_kib;
    uint64_t host_pool_kib;  /* 0: unlimited */
    uint64_t host_other_kib; /* the host's own use besides the guests */
    SimModel model;
    char *policy_text;    /* the dynmem policy: the scenario's policy with a rule per VM */
    PolicyConfig *policy; /* ... loaded */
    GPtrArray *traces;    /* SimTrace *, owned */
    GArray *vms;          /* SimVm, names owned */
    GArray *weights;      /* uint32_t per VM, resolved from the policy */
} SimScenario;

void sim_scenario_free(SimScenario *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimScenario, sim_scenario_free)

/* Reads a file the scenario names (a CSV trace), relative to its own. */
typedef int (*SimReadFunc)(const char *path, char **ret_text, char **ret_error, void *userdata);

/* Parse a scenario. Returns 0, or -EINVAL with every problem in
 * *ret_errors ("line:column: message"). */
int sim_scenario_parse_buf(const char *text, size_t len, SimReadFunc read, void *read_userdata,
                           SimScenario **ret, GPtrArray **ret_errors);

/* The thin reader: a file, CSV traces relative to it. */
int sim_scenario_load(const char *path, SimScenario **ret, GPtrArray **ret_errors);

/* A VM's policy as the engine resolves it (minimum, maximum of its reach,
 * buffer, weight), for the baselines and the metrics. */
typedef struct {
    bool dynamic;
    uint64_t minimum_kib;
    uint64_t maximum_kib;
    uint32_t buffer_pct;
    uint32_t weight;
} SimVmPolicy;

void sim_scenario_vm_policy(const SimScenario *s, const SimVm *vm, SimVmPolicy *ret);
