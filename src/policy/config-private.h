/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared between the policy model (config.c) and the policy file's schema
 * (config-load.c); not for other modules.
 */
#pragma once

#include "config.h"

/* The closest of the NULL-terminated `keys` to `word`, or NULL when nothing
 * is plausibly meant ("wieght" -> "weight"). */
const char *policy_nearest_key(const char *word, const char *const *keys);

/* A whole number in [min, max]. On error *ret_detail says what was wrong,
 * without naming the key. */
int policy_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *ret,
                      char **ret_detail);

/* Set one per-domain key; on failure *ret_detail says what was wrong with
 * the value (without naming the key) and *s is unchanged. -ENOENT: no such
 * key. */
int policy_settings_set_detail(PolicySettings *s, const char *key, const char *value,
                               char **ret_detail);
