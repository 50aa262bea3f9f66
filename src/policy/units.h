/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sizes, percentages and durations as operators write them in policy.yaml and
 * dynmemctl: "512MiB", "2G", "1.5GiB", "20%", "500ms", "2min".
 *
 * Pure: no I/O. Every parser returns 0 on success or a negative errno
 * (-EINVAL for malformed text, -ERANGE for a value out of range) and then
 * sets *ret_error to a newly allocated message that says what was expected
 * and what was found. ret_* outputs are untouched on failure.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define POLICY_KIB_PER_MIB  UINT64_C(1024)
#define POLICY_KIB_PER_GIB  (UINT64_C(1024) * 1024)
#define POLICY_USEC_PER_SEC UINT64_C(1000000)

typedef enum {
    POLICY_AMOUNT_UNSET = 0,
    POLICY_AMOUNT_KIB,     /* value is an absolute size in KiB */
    POLICY_AMOUNT_PERCENT, /* value is a whole percentage of a reference size */
    POLICY_AMOUNT_LAST,
} PolicyAmountKind;

/* A size that may also be written relative to something ("100%" of what a
 * domain can reach, "5%" of host MemTotal). */
typedef struct {
    PolicyAmountKind kind;
    uint64_t value;
} PolicyAmount;

/* "512MiB", "2G", "1.5GiB", "4096KiB", "0". Units: B, KiB, MiB, GiB, TiB and
 * the libvirt-style shorthands K, M, G, T (all binary). Sizes in B are
 * rounded down to whole KiB only if they are multiples of 1024; anything else
 * is an error, as is a number without a unit (except 0). */
int policy_parse_size_kib(const char *text, uint64_t *ret_kib, char **ret_error);

/* "20%" (whole percentages, 0..max_pct). */
int policy_parse_percent(const char *text, uint32_t max_pct, uint32_t *ret_pct, char **ret_error);

/* A size or a percentage (0..max_pct). */
int policy_parse_amount(const char *text, uint32_t max_pct, PolicyAmount *ret, char **ret_error);

/* "500ms", "1s", "2min", "1h" (also "1.5s"). Result in microseconds. */
int policy_parse_duration_us(const char *text, uint64_t *ret_us, char **ret_error);

/* Resolve an amount against a reference size (percentages of reference_kib).
 * Unset amounts resolve to fallback_kib. Saturates instead of overflowing. */
uint64_t policy_amount_resolve_kib(const PolicyAmount *amount, uint64_t reference_kib,
                                   uint64_t fallback_kib);

/* Human forms, newly allocated: "512 MiB", "1.5 GiB", "20%", "1.5s". The size
 * form is exact enough for tables (one decimal); sizes on the bus are bytes. */
char *policy_format_size_kib(uint64_t kib);

/* The same size form into a caller's buffer, without allocating (for
 * reasons written every cycle). Returns buf. */
char *policy_size_to_buf(uint64_t kib, char *buf, size_t len);
char *policy_format_amount(const PolicyAmount *amount);

/* A size exactly, in the largest unit that divides it, as the parser takes
 * it back: "1536MiB", "4100KiB", "2TiB". Newly allocated. */
char *policy_format_size_kib_exact(uint64_t kib);
char *policy_format_duration_us(uint64_t us);
