/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reads a policy file and hands its text to the pure loader. */
#include "config-file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int dynmem_read_file_bounded(const char *path, size_t max_bytes, char **ret_text, size_t *ret_len,
                             char **ret_error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int r = -errno;
        *ret_error = g_strdup_printf("%s: %s", path, g_strerror(-r));
        return r;
    }
    /* Read at most one byte more than allowed, whatever the file claims to
     * be (a FIFO or a file in /proc has no useful size). */
    g_autoptr(GByteArray) buf = g_byte_array_new();
    int r = 0;
    for (;;) {
        guint8 chunk[16384];
        size_t want = MIN(sizeof(chunk), max_bytes + 1 - buf->len);
        ssize_t k = read(fd, chunk, want);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = -errno;
            *ret_error = g_strdup_printf("%s: %s", path, g_strerror(-r));
            break;
        }
        if (k == 0)
            break;
        g_byte_array_append(buf, chunk, (guint)k);
        if (buf->len > max_bytes) {
            r = -EFBIG;
            *ret_error = g_strdup_printf("%s: larger than %zu KiB, the most dynmemd reads; "
                                         "nothing in it was used",
                                         path, max_bytes / 1024);
            break;
        }
    }
    close(fd);
    if (r < 0)
        return r;
    *ret_len = buf->len;
    g_byte_array_append(buf, (const guint8 *)"", 1);
    *ret_text = (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
    return 0;
}

int dynmem_config_load_file(const char *path, PolicyConfig **ret_cfg, GPtrArray **ret_errors)
{
    g_autofree char *text = NULL;
    g_autofree char *error = NULL;
    size_t len = 0;

    g_return_val_if_fail(path, -EINVAL);

    int r = dynmem_read_file_bounded(path, DYNMEM_FILE_MAX_BYTES, &text, &len, &error);
    if (r < 0) {
        if (ret_errors) {
            GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);

            g_ptr_array_add(errors, g_steal_pointer(&error));
            *ret_errors = errors;
        }
        return r;
    }
    return policy_config_load_buf(text, len, path, ret_cfg, ret_errors);
}
