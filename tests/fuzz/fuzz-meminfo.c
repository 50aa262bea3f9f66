/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the /proc/meminfo and /proc/pressure/memory parsers and the
 * budget computed from what they return (src/policy/meminfo.c).
 *
 * Input: the text, given to both parsers. Checks: an error leaves the
 * sample untouched and says why; a parsed PSI figure is 0..100; the budget
 * of any parsed host never exceeds its MemTotal.
 */
#include "fuzz.h"
#include "meminfo.h"

#include <errno.h>

/* Runs a parser and checks its contract: 0 and no message, or -EINVAL or
 * -ERANGE with a message and *host untouched. Returns what it returned. */
static int parse_checked(int (*parse)(const char *text, PolicyHostSample *host, char **ret_error),
                         const char *text, PolicyHostSample *host)
{
    PolicyHostSample before = *host;
    g_autofree char *error = NULL;
    int r = parse(text, host, &error);

    if (r < 0) {
        FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
        FUZZ_CHECK(error != NULL);
        FUZZ_CHECK(memcmp(host, &before, sizeof(*host)) == 0);
    } else {
        FUZZ_CHECK(error == NULL);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = fuzz_strdup(data, size);
    g_autoptr(PolicyConfig) cfg = policy_config_new_default();
    PolicyHostSample host = {.mem_total_kib = 11, .mem_available_kib = 22, .psi_some_avg10 = -1};
    int r;

    r = parse_checked(policy_meminfo_parse_buf, text, &host);
    bool have_meminfo = r == 0;

    r = parse_checked(policy_psi_parse_buf, text, &host);
    if (r == 0) {
        FUZZ_CHECK(host.has_psi);
        FUZZ_CHECK(host.psi_some_avg10 >= 0.0 && host.psi_some_avg10 <= 100.0);
    }

    if (have_meminfo) {
        /* guests worth more than the host, or nothing at all */
        PolicyBudgetInput in = {
            .n_managed = size % 7,
            .sum_managed_assigned_kib = host.mem_total_kib / 2,
            .sum_unmanaged_assigned_kib = size,
            .sum_guest_rss_kib = host.mem_available_kib,
        };
        PolicyBudget b;

        cfg->psi_threshold_pct = 10;
        if (policy_budget_compute(cfg, &host, &in, &b) == 0) {
            FUZZ_CHECK(b.budget_kib <= host.mem_total_kib);
            FUZZ_CHECK(b.reserve_kib <= host.mem_total_kib || b.budget_kib == 0);
        } else {
            FUZZ_CHECK(host.mem_total_kib == 0 || host.mem_available_kib > host.mem_total_kib);
        }
    }
    return 0;
}
