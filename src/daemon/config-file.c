/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reads a policy file and hands its text to the pure loader. */
#include "config-file.h"

#include <errno.h>

int dynmem_config_load_file(const char *path, PolicyConfig **ret_cfg, GPtrArray **ret_errors)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;

    g_return_val_if_fail(path, -EINVAL);

    if (!g_file_get_contents(path, &text, &len, &error)) {
        /* g_file_get_contents() maps errno onto GFileError; map it back so
         * callers can tell "missing" from "unreadable". */
        int r = error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_NOENT   ? -ENOENT
                : error->domain == G_FILE_ERROR && error->code == G_FILE_ERROR_ACCES ? -EACCES
                                                                                     : -EIO;

        if (ret_errors) {
            GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);

            /* GError's message already names the file. */
            g_ptr_array_add(errors, g_strdup(error->message));
            *ret_errors = errors;
        }
        return r;
    }
    return policy_config_load_buf(text, len, path, ret_cfg, ret_errors);
}
