/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reads a policy file and hands its text to the pure loader. */
#include "config-file.h"

#include <errno.h>

/* g_file_get_contents() turns errno into a GFileError; turn it back, so that
 * callers can tell a missing file from an unreadable one and messages read
 * "path: strerror" like every other tool's. */
static int file_error_to_errno(const GError *error)
{
    static const struct {
        GFileError code;
        int err;
    } map[] = {
        {G_FILE_ERROR_NOENT, ENOENT},   {G_FILE_ERROR_ACCES, EACCES},
        {G_FILE_ERROR_PERM, EPERM},     {G_FILE_ERROR_ISDIR, EISDIR},
        {G_FILE_ERROR_NOTDIR, ENOTDIR}, {G_FILE_ERROR_NAMETOOLONG, ENAMETOOLONG},
        {G_FILE_ERROR_LOOP, ELOOP},     {G_FILE_ERROR_NOMEM, ENOMEM},
        {G_FILE_ERROR_NXIO, ENXIO},     {G_FILE_ERROR_NODEV, ENODEV},
        {G_FILE_ERROR_MFILE, EMFILE},   {G_FILE_ERROR_NFILE, ENFILE},
        {G_FILE_ERROR_INVAL, EINVAL},
    };

    if (error->domain == G_FILE_ERROR)
        for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
            if ((GFileError)error->code == map[i].code)
                return map[i].err;
    return EIO;
}

int dynmem_config_load_file(const char *path, PolicyConfig **ret_cfg, GPtrArray **ret_errors)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;

    g_return_val_if_fail(path, -EINVAL);

    if (!g_file_get_contents(path, &text, &len, &error)) {
        int err = file_error_to_errno(error);

        if (ret_errors) {
            GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);

            g_ptr_array_add(errors, g_strdup_printf("%s: %s", path, g_strerror(err)));
            *ret_errors = errors;
        }
        return -err;
    }
    return policy_config_load_buf(text, len, path, ret_cfg, ret_errors);
}
