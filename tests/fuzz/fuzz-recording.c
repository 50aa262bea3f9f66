/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: a dynmemd recording turned into a dynmem-sim scenario
 * (src/sim/sim-recording.c, dynmem-sim --from-recording).
 *
 * Input: the recording's bytes, NULs included. Checks: a refusal is
 * -EINVAL with a message; an accepted recording gives one trace file name
 * per VM, and a scenario that dynmem-sim's own loader takes, with that
 * many VMs, every trace it names served.
 */
#include "fuzz.h"
#include "sim-recording.h"
#include "sim-scenario.h"

#include <errno.h>

static int read_trace(const char *path, char **ret_text, char **ret_error, void *userdata)
{
    const SimRecordingScenario *r = userdata;
    for (guint i = 0; i < r->files->len; i++)
        if (r->texts->pdata[i] && strcmp(path, r->files->pdata[i]) == 0) {
            *ret_text = g_strdup(r->texts->pdata[i]);
            return 0;
        }
    *ret_error = g_strdup("not in the recording");
    return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(SimRecordingScenario) r = NULL;
    g_autofree char *err = NULL;
    int rc = sim_recording_convert_buf((const char *)data, size, "fuzz", &r, &err);

    if (rc < 0) {
        FUZZ_CHECK(rc == -EINVAL);
        FUZZ_CHECK(err != NULL && r == NULL);
        return 0;
    }
    FUZZ_CHECK(err == NULL && r != NULL);
    FUZZ_CHECK(r->n_vms > 0 && r->files->len == r->n_vms && r->texts->len == r->n_vms);

    g_autoptr(SimScenario) s = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    if (sim_scenario_parse_buf(r->yaml, strlen(r->yaml), read_trace, r, &s, &errors) < 0) {
        fprintf(stderr, "the scenario made was refused: %s\n%s\n", (char *)errors->pdata[0],
                r->yaml);
        abort();
    }
    FUZZ_CHECK(s->vms->len == r->n_vms);
    return 0;
}
