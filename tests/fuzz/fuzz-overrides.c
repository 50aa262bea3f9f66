/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target: the persistent overrides file reader (src/daemon/overrides.c),
 * which reads /var/lib/dynmem/overrides.yaml at start.
 *
 * Checks: a failure says why and gives no table; a success formats, and
 * that text reads back to a table that formats to the very same text.
 */
#include "fuzz.h"
#include "overrides.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GHashTable *table = NULL, *again = NULL;
    char *error = NULL;
    int r;

    r = overrides_parse_buf((const char *)data, size, &table, &error);
    if (r < 0) {
        FUZZ_CHECK(table == NULL);
        FUZZ_CHECK(error != NULL && error[0] != '\0');
        g_free(error);
        return 0;
    }
    FUZZ_CHECK(table != NULL && error == NULL);

    g_autofree char *text = overrides_format(table);
    r = overrides_parse_buf(text, strlen(text), &again, &error);
    if (r < 0)
        fprintf(stderr, "formatted text does not read back: %s\n%s", error, text);
    FUZZ_CHECK(r == 0);
    FUZZ_CHECK(g_hash_table_size(again) == g_hash_table_size(table));
    g_autofree char *text2 = overrides_format(again);
    FUZZ_CHECK(strcmp(text, text2) == 0);
    g_hash_table_unref(again);
    g_hash_table_unref(table);
    return 0;
}
