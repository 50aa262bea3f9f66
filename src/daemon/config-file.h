/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The thin reader around policy_config_load_buf(). */
#pragma once

#include "config.h"

/* Read and parse a policy file. Returns 0 and *ret_cfg, or a negative errno
 * and *ret_errors (strings "file:line:column: message"; a file that cannot be
 * read gives one "file: <strerror>" entry). */
int dynmem_config_load_file(const char *path, PolicyConfig **ret_cfg, GPtrArray **ret_errors);
