/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

/* dynmemd --check-config FILE: print the effective settings to `out`, or
 * every error to `err`. Returns the process exit status (0 ok, 1 errors). */
int dynmem_check_config(const char *path, FILE *out, FILE *err);
