/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scaffolding the manager and backend tests share: a clock the test moves
 * by hand, and a throw-away directory for the files a daemon reads (a fake
 * /proc, a policy file, a state directory).
 *
 * Failures abort with a message: a test cannot go on without its files.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A ManagerOptions.clock: userdata points to the uint64_t holding the
 * test's "now" in microseconds. */
uint64_t test_clock_now_us(void *userdata);

/* A new empty directory named after template (its XXXXXX replaced), under
 * $TMPDIR; with prefer_shm, under /dev/shm when it exists and TMPDIR is
 * not set (no disk writes, no fsync cost). Newly allocated. */
char *test_dir_new(const char *template, bool prefer_shm);

/* Writes text to path, replacing the file. */
void test_write_file(const char *path, const char *text);

/* Writes text to dir/name, replacing it. */
void test_dir_write(const char *dir, const char *name, const char *text);

/* Removes dir and everything below it (symbolic links are removed, not
 * followed). Accepts NULL. */
void test_dir_remove(const char *dir);
