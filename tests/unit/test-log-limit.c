/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The repeated-warning limiter (src/daemon/log-limit.c): the first of a
 * kind is said, the same text again within a minute is held and counted,
 * said again after the minute with the count; other texts are not held;
 * a full table gives up the slot said longest ago.
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

static void test_full_table_gives_up_the_oldest(void **state)
{
    LogLimiter l = {0};
    uint64_t held;

    (void)state;
    for (int i = 0; i < LOG_LIMIT_SLOTS; i++) {
        g_autofree char *msg = g_strdup_printf("domain %d: cannot read capabilities", i);
        assert_true(log_limiter_admit(&l, msg, (uint64_t)(i + 1) * SEC, &held));
    }
    /* one more kind: it takes the slot of "domain 0", said first */
    assert_true(log_limiter_admit(&l, "one more", 40 * SEC, &held));
    /* so "domain 0" is said again (its history is gone); "domain 5", said at
     * 6 s, is still held */
    assert_true(log_limiter_admit(&l, "domain 0: cannot read capabilities", 41 * SEC, &held));
    assert_false(log_limiter_admit(&l, "domain 5: cannot read capabilities", 42 * SEC, &held));
    log_limiter_clear(&l);
    for (int i = 0; i < LOG_LIMIT_SLOTS; i++)
        assert_null(l.slots[i].text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeats_held_and_counted),
        cmocka_unit_test(test_full_table_gives_up_the_oldest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
