/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A dynmemd recording (daemon.record-file, dynmemd(8) RECORDING) turned
 * into a dynmem-sim scenario (dynmem-sim --from-recording): one VM per
 * recorded domain, its devices from its recorded capabilities, its demand
 * a CSV trace of what its guest used, the host from the recording's
 * header. Pure: text in, the scenario's YAML and its traces' text out.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *yaml;       /* the scenario, naming its traces relative to itself */
    GPtrArray *files; /* char *: the traces' file names ... */
    GPtrArray *texts; /* char *: ... and their CSV text ("seconds,MiB"); NULL: a
                       * domain whose guest never reported has none */
    unsigned n_vms;
    uint64_t n_samples; /* data lines read */
    bool truncated;     /* the last line had no end (a write cut short): left out */
} SimRecordingScenario;

void sim_recording_scenario_free(SimRecordingScenario *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SimRecordingScenario, sim_recording_scenario_free)

/* Convert the recording `text` (len bytes). `name` names the scenario and
 * its traces ("NAME.N.csv", N the VM's number from 1). Returns 0, or
 * -EINVAL with *ret_error "LINE: message" (or a message about the whole
 * file without a line). */
int sim_recording_convert_buf(const char *text, size_t len, const char *name,
                              SimRecordingScenario **ret, char **ret_error);

/* The guest's kernel reserve dynmem-sim's model adds to a VM booted with
 * boot_kib (sim-model.c), taken off a demand read as assigned − MemAvailable
 * so that the replay does not count it twice. */
uint64_t sim_recording_kernel_reserve_kib(uint64_t boot_kib);
