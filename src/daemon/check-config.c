/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dynmemd --check-config: load a policy file and show what it means. */
#include "check-config.h"

#include "config-file.h"

int dynmem_check_config(const char *path, FILE *out, FILE *err)
{
    g_autoptr(PolicyConfig) cfg = NULL;
    g_autoptr(GPtrArray) errors = NULL;
    g_autofree char *text = NULL;

    if (dynmem_config_load_file(path, &cfg, &errors) < 0) {
        for (guint i = 0; errors && i < errors->len; i++)
            fprintf(err, "%s\n", (const char *)g_ptr_array_index(errors, i));
        return 1;
    }
    text = policy_config_describe(cfg);
    fputs(text, out);
    return 0;
}
