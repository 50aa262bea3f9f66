/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the size, percentage, amount and duration parsers
 * (src/policy/units.c), which see every value of policy.yaml, of the
 * overrides file and of dynmemctl set.
 *
 * Input: one byte choosing the parser and its limit, then the text.
 * Checks: an error always comes with a message and leaves the output as it
 * was; a success never comes with one and stays within its range; what
 * was parsed formats without trouble.
 */
#include "fuzz.h"
#include "units.h"

#include <errno.h>

static const uint32_t pct_limits[] = {0, 100, 2000, UINT32_MAX};

/* The contract every parser keeps: success without a message, or -EINVAL
 * or -ERANGE with one and the output untouched. Frees the message. */
static void check_result(int r, char *error, bool untouched)
{
    if (r == 0) {
        FUZZ_CHECK(error == NULL);
    } else {
        FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
        FUZZ_CHECK(error != NULL && error[0] != '\0');
        FUZZ_CHECK(untouched);
    }
    g_free(error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    uint32_t max_pct = pct_limits[(sel >> 2) % G_N_ELEMENTS(pct_limits)];
    g_autofree char *text = fuzz_strdup(data + 1, size - 1);
    char *error = NULL;
    char buf[32];
    int r;

    switch (sel & 3) {
    case 0: {
        uint64_t kib = 0x5a5a5a5a;

        r = policy_parse_size_kib(text, &kib, &error);
        check_result(r, error, kib == 0x5a5a5a5a);
        if (r < 0)
            break;
        g_free(policy_format_size_kib(kib));
        FUZZ_CHECK(policy_size_to_buf(kib, buf, sizeof(buf)) == buf);
        FUZZ_CHECK(memchr(buf, '\0', sizeof(buf)) != NULL);
        break;
    }
    case 1: {
        uint32_t pct = 0x5a5a5a5a;

        r = policy_parse_percent(text, max_pct, &pct, &error);
        check_result(r, error, pct == 0x5a5a5a5a);
        FUZZ_CHECK(r < 0 || pct <= max_pct);
        break;
    }
    case 2: {
        PolicyAmount a = {.kind = POLICY_AMOUNT_LAST, .value = 7};

        r = policy_parse_amount(text, max_pct, &a, &error);
        check_result(r, error, a.kind == POLICY_AMOUNT_LAST && a.value == 7);
        if (r < 0)
            break;
        FUZZ_CHECK(a.kind == POLICY_AMOUNT_KIB || a.kind == POLICY_AMOUNT_PERCENT);
        if (a.kind == POLICY_AMOUNT_PERCENT) {
            FUZZ_CHECK(a.value <= max_pct);
            /* a share of a reference is never more than the reference
             * scaled, and saturates instead of wrapping */
            uint64_t of_max = policy_amount_resolve_kib(&a, UINT64_MAX, 0);
            uint64_t of_gib = policy_amount_resolve_kib(&a, 1024 * 1024, 0);
            FUZZ_CHECK(a.value > 100 || of_max <= UINT64_MAX);
            FUZZ_CHECK(a.value > 100 || of_gib <= 1024 * 1024);
        } else {
            FUZZ_CHECK(policy_amount_resolve_kib(&a, 1, 0) == a.value);
        }
        g_free(policy_format_amount(&a));
        break;
    }
    default: {
        uint64_t us = 0x5a5a5a5a;

        r = policy_parse_duration_us(text, &us, &error);
        check_result(r, error, us == 0x5a5a5a5a);
        if (r < 0)
            break;
        g_free(policy_format_duration_us(us));
        break;
    }
    }
    return 0;
}
