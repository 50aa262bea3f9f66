/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host readings: /proc/meminfo and /proc/pressure/memory as text, and the
 * budget for managed domains (DESIGN.md §3.5). Pure: callers read files.
 */
#pragma once

#include "config.h"
#include "engine.h"

/* Parse /proc/meminfo text. Needs MemTotal and MemAvailable (in kB); a
 * missing, duplicated or malformed field is -EINVAL, a value that does not
 * fit in 64 bits -ERANGE, with *ret_error (if not NULL) naming it. Other
 * lines are ignored. On success sets only mem_total_kib and
 * mem_available_kib of *ret; on failure *ret is untouched. */
int policy_meminfo_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error);

/* Parse /proc/pressure/memory text ("some avg10=1.23 avg60=... total=N")
 * into ret->psi_some_avg10 and ret->has_psi = true. Needs the `some` line;
 * avg10 must be a number in 0..100. Errors as above; *ret untouched. */
int policy_psi_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error);

/* ---- the budget for managed domains (DESIGN.md §3.5) -------------------- */

/* What the engine knows about the guests when it computes the budget. */
typedef struct {
    size_t n_managed;
    uint64_t sum_managed_assigned_kib;
    uint64_t sum_unmanaged_assigned_kib; /* static, unmanaged, no-balloon domains */
    uint64_t sum_guest_rss_kib;          /* every running guest; assigned where rss is unknown */
    /* what autodeflate guests may take back at once (engine.c says which) */
    uint64_t deflate_reserve_kib;
    /* Σ of the managed domains' needs: the deflate reserve never takes
     * the budget below it */
    uint64_t sum_managed_need_kib;
} PolicyBudgetInput;

typedef struct {
    uint64_t budget_kib;
    uint64_t reserve_kib;
    uint64_t other_use_kib;
    uint64_t unmanaged_kib;
    uint64_t overhead_kib; /* n_managed × per-domain overhead */
    bool pool_limited;
    bool psi_limited;
    uint64_t deflate_reserve_kib;
} PolicyBudget;

/* The memory the allocator may hand out to managed domains:
 *
 *   used      = MemTotal − MemAvailable
 *   other_use = max(0, used − Σ_all guests rss)   (rss := assigned when unknown)
 *   reserve   = host.reserve (a size, or a percentage of MemTotal)
 *   B = MemTotal − reserve − other_use − Σ unmanaged assigned − n_managed × overhead
 *   B = min(B, pool)                        when a pool is configured
 *   B = B − min(deflate_reserve, B − Σ managed need)
 *   B = min(B, Σ managed assigned)          when host PSI some avg10 >= psi_threshold
 *
 * every subtraction floored at 0 (saturating, never wrapping). Managed
 * guests' assigned memory counts as used whether or not the guest touched
 * it: untouched guest pages are not free host memory.
 * Returns 0, or -EINVAL when MemAvailable > MemTotal or MemTotal is 0. */
int policy_budget_compute(const PolicyConfig *cfg, const PolicyHostSample *host,
                          const PolicyBudgetInput *in, PolicyBudget *ret);
