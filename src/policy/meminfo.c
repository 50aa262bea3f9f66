/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "meminfo.h"

#include "kib-math.h"
#include "text.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

/* Decimal digits at *p into *ret; stops at the first non-digit. 0, -EINVAL
 * (no digit) or -ERANGE (more than 64 bits). */
static int parse_u64(const char **p, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;

    if (!g_ascii_isdigit(*s))
        return -EINVAL;
    for (; g_ascii_isdigit(*s); s++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -ERANGE;
    }
    *p = s;
    *ret = v;
    return 0;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* The rest of a "Key:   123 kB" line after the colon. */
static int parse_kb_value(const char *s, uint64_t *ret)
{
    uint64_t v;
    int r;

    s = skip_blanks(s);
    r = parse_u64(&s, &v);
    if (r < 0)
        return r;
    s = skip_blanks(s);
    if (strncmp(s, "kB", 2) != 0)
        return -EINVAL;
    s = skip_blanks(s + 2);
    if (*s != '\0' && *s != '\n')
        return -EINVAL;
    *ret = v;
    return 0;
}

int policy_meminfo_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error)
{
    static const char *const keys[] = {"MemTotal:", "MemAvailable:"};
    uint64_t values[2] = {0, 0};
    bool seen[2] = {false, false};

    if (!text)
        return policy_set_error(ret_error, -EINVAL, "no meminfo text");

    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');

        for (size_t k = 0; k < G_N_ELEMENTS(keys); k++) {
            size_t len = strlen(keys[k]);
            int r;

            if (strncmp(line, keys[k], len) != 0)
                continue;
            if (seen[k])
                return policy_set_error(ret_error, -EINVAL, "meminfo: duplicate %.*s line",
                                        (int)len - 1, keys[k]);
            r = parse_kb_value(line + len, &values[k]);
            if (r < 0)
                return policy_set_error(ret_error, r, "meminfo: %.*s: %s", (int)len - 1, keys[k],
                                        r == -ERANGE ? "value out of range"
                                                     : "expected a number followed by kB");
            seen[k] = true;
        }
        if (!eol)
            break;
        line = eol + 1;
    }

    for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
        if (!seen[k])
            return policy_set_error(ret_error, -EINVAL, "meminfo: no %.*s line",
                                    (int)strlen(keys[k]) - 1, keys[k]);
    if (values[0] == 0)
        return policy_set_error(ret_error, -EINVAL, "meminfo: MemTotal is 0");
    if (values[1] > values[0])
        return policy_set_error(ret_error, -EINVAL, "meminfo: MemAvailable exceeds MemTotal");
    /* kB in /proc/meminfo are KiB */
    ret->mem_total_kib = values[0];
    ret->mem_available_kib = values[1];
    return 0;
}

/* "1.23" (digits, optionally a dot and digits) as hundredths-exact double. */
static int parse_avg(const char *s, double *ret)
{
    uint64_t whole, frac = 0, scale = 1;
    int r;

    r = parse_u64(&s, &whole);
    if (r < 0)
        return r;
    if (*s == '.') {
        s++;
        if (!g_ascii_isdigit(*s))
            return -EINVAL;
        for (; g_ascii_isdigit(*s); s++) {
            /* more digits than matter are read and ignored */
            if (scale < UINT64_C(1000000000)) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
    }
    if (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n')
        return -EINVAL;
    if (whole > 100 || (whole == 100 && frac != 0))
        return -ERANGE;
    *ret = (double)whole + (double)frac / (double)scale;
    return 0;
}

int policy_psi_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error)
{
    bool seen = false;
    double avg10 = 0;

    if (!text)
        return policy_set_error(ret_error, -EINVAL, "no pressure text");

    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');

        if (strncmp(line, "some ", 5) == 0) {
            const char *p = strstr(line, "avg10=");
            int r;

            if (seen)
                return policy_set_error(ret_error, -EINVAL, "pressure: duplicate some line");
            if (!p || (eol && p > eol))
                return policy_set_error(ret_error, -EINVAL, "pressure: some line without avg10=");
            r = parse_avg(p + 6, &avg10);
            if (r < 0)
                return policy_set_error(ret_error, r, "pressure: avg10: %s",
                                        r == -ERANGE ? "not a percentage in 0..100"
                                                     : "expected a number like 1.23");
            seen = true;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    if (!seen)
        return policy_set_error(ret_error, -EINVAL, "pressure: no some line");
    ret->has_psi = true;
    ret->psi_some_avg10 = avg10;
    return 0;
}

int policy_budget_compute(const PolicyConfig *cfg, const PolicyHostSample *host,
                          const PolicyBudgetInput *in, PolicyBudget *ret)
{
    PolicyBudget b = {0};
    uint64_t used, left;

    if (host->mem_total_kib == 0 || host->mem_available_kib > host->mem_total_kib)
        return -EINVAL;

    used = host->mem_total_kib - host->mem_available_kib;
    /* the host's own use: whatever is used that the guests' QEMUs do not hold */
    b.other_use_kib = kib_sub(used, in->sum_guest_rss_kib);
    b.reserve_kib = policy_amount_resolve_kib(&cfg->reserve, host->mem_total_kib, 0);
    b.unmanaged_kib = in->sum_unmanaged_assigned_kib;
    b.overhead_kib = kib_mul(in->n_managed, cfg->overhead_kib);

    left = host->mem_total_kib;
    left = kib_sub(left, b.reserve_kib);
    left = kib_sub(left, b.other_use_kib);
    left = kib_sub(left, b.unmanaged_kib);
    left = kib_sub(left, b.overhead_kib);

    if (cfg->pool_kib > 0 && cfg->pool_kib < left) {
        left = cfg->pool_kib;
        b.pool_limited = true;
    }
    /* Autodeflate guests can take their ballooned pages back at any
     * moment, pool or not: that much is kept out of what is handed out,
     * but only out of what is left above the guests' needs. The reserve
     * is for steps that may come; a need is a workload's memory now.
     * (Two guests booted with 32 GiB and ballooned to 4 on a 48 GiB host
     * reserved 60 GiB: budget 0, every guest squeezed to what it used,
     * and a third one swapped with 40 GiB free.) */
    b.deflate_reserve_kib =
        kib_min(in->deflate_reserve_kib, kib_sub(left, in->sum_managed_need_kib));
    left -= b.deflate_reserve_kib;
    /* Sustained host stalls mean the budget is too generous whatever
     * MemAvailable says: allow no net growth until they stop. */
    if (host->has_psi && cfg->psi_threshold_pct > 0 &&
        host->psi_some_avg10 >= (double)cfg->psi_threshold_pct) {
        b.psi_limited = true;
        left = kib_min(left, in->sum_managed_assigned_kib);
    }
    b.budget_kib = left;
    *ret = b;
    return 0;
}
