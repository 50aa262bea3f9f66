/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t test_clock_now_us(void *userdata)
{
    return *(const uint64_t *)userdata;
}

char *test_dir_new(const char *template, bool prefer_shm)
{
    char *dir;

    if (prefer_shm && !getenv("TMPDIR") && g_file_test("/dev/shm", G_FILE_TEST_IS_DIR))
        dir = g_mkdtemp(g_build_filename("/dev/shm", template, NULL));
    else
        dir = g_dir_make_tmp(template, NULL);
    if (!dir)
        g_error("cannot make a directory from %s: %s", template, g_strerror(errno));
    return dir;
}

/* Plain stdio: g_file_set_contents() may fsync, and the soak writes a file
 * every cycle. */
void test_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        g_error("%s: %s", path, g_strerror(errno));
}

void test_dir_write(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);

    test_write_file(path, text);
}

static void remove_entries(const char *dir, int depth)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (depth > 0 && g_file_test(path, G_FILE_TEST_IS_DIR) &&
            !g_file_test(path, G_FILE_TEST_IS_SYMLINK)) {
            remove_entries(path, depth - 1);
            g_rmdir(path);
        } else {
            g_unlink(path);
        }
    }
}

void test_dir_remove(const char *dir)
{
    if (!dir)
        return;
    remove_entries(dir, 8);
    if (g_rmdir(dir) < 0)
        g_warning("%s stays behind: %s", dir, g_strerror(errno));
}
