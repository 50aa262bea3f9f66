/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The corpus replay: feeds every file of the directories (or files) given
 * to a fuzz target's LLVMFuzzerTestOneInput, so the normal gcc build runs
 * the committed corpus as a regression test. A broken invariant aborts.
 */
#include "fuzz.h"

static int replay_file(const char *path, unsigned *count)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, &err)) {
        fprintf(stderr, "replay: %s\n", err->message);
        return -1;
    }
    /* an exact-size copy, as libFuzzer hands it: no NUL after the data */
    g_autofree uint8_t *data = g_memdup2(text, len);
    LLVMFuzzerTestOneInput(data, len);
    (*count)++;
    return 0;
}

/* g_ptr_array_sort hands pointers to the elements */
static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir_path, unsigned *count)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!dir) {
        fprintf(stderr, "replay: %s\n", err->message);
        return -1;
    }
    while ((name = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_build_filename(dir_path, name, NULL));
    g_ptr_array_sort(names, cmp_path);
    for (guint i = 0; i < names->len; i++)
        if (replay_file(names->pdata[i], count) < 0)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;

    for (int i = 1; i < argc; i++) {
        int r = g_file_test(argv[i], G_FILE_TEST_IS_DIR) ? replay_dir(argv[i], &count)
                                                         : replay_file(argv[i], &count);
        if (r < 0)
            return 1;
    }
    printf("replayed %u inputs\n", count);
    return count > 0 ? 0 : 1;
}
