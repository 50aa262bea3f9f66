/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Host readings: /proc/meminfo and /proc/pressure/memory as text, and the
 * budget for managed domains (DESIGN.md §3.5). Pure: callers read files.
 */
#pragma once

#include "config.h"
#include "engine.h"

/* Parse /proc/meminfo text. Needs MemTotal and MemAvailable; a missing or
 * malformed field is -EINVAL with *ret_error naming it. */
int policy_meminfo_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error);

/* Parse /proc/pressure/memory text into ret->psi_some_avg10 / has_psi. */
int policy_psi_parse_buf(const char *text, PolicyHostSample *ret, char **ret_error);
