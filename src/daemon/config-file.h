/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The thin reader around policy_config_load_buf(). */
#pragma once

#include "config.h"

/* The largest policy.yaml or overrides.yaml read (dynmem-policy.yaml(5)).
 * Parsing costs about 16 times the file's size in memory; a real policy is
 * a few KiB, and a megabyte holds thousands of rules. */
#define DYNMEM_FILE_MAX_BYTES (1024 * 1024)

/* Read a whole file of at most max_bytes. Returns 0, *ret_text (NUL
 * terminated, newly allocated) and *ret_len; or a negative errno and
 * *ret_error ("path: ..."): -EFBIG for a larger file, which is not read
 * past max_bytes + 1. */
int dynmem_read_file_bounded(const char *path, size_t max_bytes, char **ret_text, size_t *ret_len,
                             char **ret_error);

/* Read and parse a policy file (at most DYNMEM_FILE_MAX_BYTES). Returns 0 and *ret_cfg, or a
 * negative errno and *ret_errors (strings "file:line:column: message"; a file that cannot be read
 * gives one "file: <strerror>" entry). */
int dynmem_config_load_file(const char *path, PolicyConfig **ret_cfg, GPtrArray **ret_errors);
