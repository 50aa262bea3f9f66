/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The repeated-warning limiter (src/daemon/log-limit.c): the first of a
 * kind is said, the same text again within a minute is held and counted,
 * said again after the minute with the count; other texts are not held;
 * a warning per domain for a thousand domains is held like one; a full
 * table gives up the texts done with, else the one said longest ago.
 */
#include "log-limit.h"
#include "test-sizes.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <glib.h>

static void test_repeats_held_and_counted(void **state)
{
    LogLimiter l = {0};
    uint64_t held = 99;

    (void)state;
    assert_true(log_limiter_admit(&l, "cannot collect domain stats: x", 1 * SEC, &held));
    assert_int_equal(held, 0);
    /* a second a cycle for the rest of the minute: all held */
    for (uint64_t t = 2; t < 61; t++)
        assert_false(log_limiter_admit(&l, "cannot collect domain stats: x", t * SEC, &held));
    /* another text meanwhile is said at once */
    assert_true(log_limiter_admit(&l, "cannot collect domain stats: y", 30 * SEC, &held));
    assert_int_equal(held, 0);
    /* a minute after it was said: said again, with the 59 held back */
    assert_true(log_limiter_admit(&l, "cannot collect domain stats: x", 61 * SEC, &held));
    assert_int_equal(held, 59);
    assert_false(log_limiter_admit(&l, "cannot collect domain stats: x", 62 * SEC, &held));
    /* a clock that went backwards never holds a message for ever */
    assert_true(log_limiter_admit(&l, "cannot collect domain stats: x", 5 * SEC, &held));
    assert_int_equal(held, 1);
    log_limiter_clear(&l);
}

/* A warning per domain every second, for 1,000 domains: each said once
 * in the minute, then once more with its count. (A table of 32 texts
 * said every one of them every second from the 33rd domain on.) */
static void test_one_warning_per_domain_each_cycle(void **state)
{
    LogLimiter l = {0};
    uint64_t held;
    unsigned said = 0;

    (void)state;
    for (uint64_t t = 1; t <= 61; t++) {
        for (int i = 0; i < 1000; i++) {
            g_autofree char *msg = g_strdup_printf("vm-%04d: cannot read capabilities", i);
            if (log_limiter_admit(&l, msg, t * SEC, &held)) {
                said++;
                assert_int_equal(held, t == 1 ? 0 : 59);
            }
        }
    }
    assert_int_equal(said, 2000);
    assert_int_equal(log_limiter_size(&l), 1000);
    log_limiter_clear(&l);
    assert_int_equal(log_limiter_size(&l), 0);
}

static void test_full_table_gives_up_the_oldest(void **state)
{
    LogLimiter l = {0};
    uint64_t held;

    (void)state;
    /* the table full of texts said within the minute, one of them held */
    for (int i = 0; i < LOG_LIMIT_MAX_TEXTS; i++) {
        g_autofree char *msg = g_strdup_printf("domain %d: cannot read capabilities", i);
        assert_true(log_limiter_admit(&l, msg, 1 * SEC + (uint64_t)i, &held));
    }
    assert_false(log_limiter_admit(&l, "domain 5: cannot read capabilities", 2 * SEC, &held));
    /* one more kind: it takes the place of "domain 0", said first */
    assert_true(log_limiter_admit(&l, "one more", 3 * SEC, &held));
    assert_int_equal(log_limiter_size(&l), LOG_LIMIT_MAX_TEXTS);
    /* so "domain 0" is said again (its history is gone), pushing out
     * "domain 1"; "domain 5" is still held */
    assert_true(log_limiter_admit(&l, "domain 0: cannot read capabilities", 4 * SEC, &held));
    assert_false(log_limiter_admit(&l, "domain 5: cannot read capabilities", 5 * SEC, &held));

    /* a minute on, a new text frees every text done with, but the one
     * with a count still to say */
    assert_true(log_limiter_admit(&l, "later", 70 * SEC, &held));
    assert_int_equal(log_limiter_size(&l), 2);
    assert_true(log_limiter_admit(&l, "domain 5: cannot read capabilities", 71 * SEC, &held));
    assert_int_equal(held, 2);
    log_limiter_clear(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_held_and_counted),
        cmocka_unit_test(test_one_warning_per_domain_each_cycle),
        cmocka_unit_test(test_full_table_gives_up_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
