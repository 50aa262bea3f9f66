/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every policy key described once: its name, the type of its value, its
 * range, its built-in default and a line of documentation. The tables drive
 * everything that handles keys by name: the built-in defaults, the policy
 * file's schema (config-load.c), the --check-config printout
 * (config-describe.c), layering and resolving per-domain settings
 * (config.c), the overrides file (src/daemon/overrides.c) and the a{sv} of
 * SetDomainPolicy (src/daemon/bus-manager.c).
 *
 * Adding a per-domain key: a member in PolicySettings and PolicyEffective, a
 * PolicyField bit, and one row in policy_domain_keys[] (settings.c). Adding
 * a daemon, host or tuning key: a member in PolicyConfig and one row in
 * policy_global_keys[]. A new kind of value is a new PolicyValueType.
 * Anything else that reads per-domain settings from text (the per-VM policy
 * in libvirt metadata, when it comes) goes through policy_settings_set_key()
 * and so through these rows.
 *
 * Pure: no I/O.
 */
#pragma once

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    POLICY_VALUE_STRING,         /* char *, any text */
    POLICY_VALUE_PATH,           /* char *: an absolute file path, or "none" (NULL) */
    POLICY_VALUE_CHOICE,         /* an enum (int): one of the row's choices[] by name */
    POLICY_VALUE_UINT,           /* uint32_t or uint64_t: a whole number, min..max */
    POLICY_VALUE_PERCENT,        /* uint32_t: "20%", min..max */
    POLICY_VALUE_SIZE,           /* uint64_t KiB: "512MiB", min..max */
    POLICY_VALUE_POOL,           /* uint64_t KiB: a size above 0 or "unlimited" (0) */
    POLICY_VALUE_DURATION,       /* uint64_t µs: "500ms", "2min", min..max */
    POLICY_VALUE_AMOUNT,         /* PolicyAmount: a size or a percentage up to max %;
                                  * min 1: above 0 */
    POLICY_VALUE_BURST_HEADROOM, /* PolicyBurstHeadroom: "learn", "learn SIZE" or a
                                  * SIZE, sizes up to max KiB */
    POLICY_VALUE_LAST,
} PolicyValueType;

typedef struct {
    const char *section; /* "daemon", "host" or "tuning"; NULL for a per-domain key */
    const char *name;
    PolicyValueType type;
    size_t offset; /* of the member: in PolicyConfig, or in PolicySettings */
    size_t size;   /* of the member */
    uint64_t min, max;
    const char *default_text; /* as a file would write it; NULL: unset */
    /* --check-config: written after the value ("/s"); for an amount only
     * after a percentage, which it then says what of */
    const char *unit;
    const char *unset_text;     /* --check-config: an unset per-domain key */
    PolicyField field;          /* per-domain: its bit in PolicySettings.set */
    size_t effective_offset;    /* per-domain: its member in PolicyEffective */
    const char *const *choices; /* CHOICE: the names, in the enum's order, NULL-ended */
    const char *doc;            /* one line, for help texts */
} PolicyKey;

/* Both tables end with a row whose name is NULL. Per-domain keys are in the
 * order the printout and the overrides file use. */
extern const PolicyKey policy_domain_keys[];
/* daemon:, host:, then tuning: keys, each section in printout order. */
extern const PolicyKey policy_global_keys[];

/* The most keys one section or the per-domain table has. */
#define POLICY_MAX_SECTION_KEYS 16

/* NULL when there is no such key. */
const PolicyKey *policy_domain_key_find(const char *name);
const PolicyKey *policy_domain_key_by_field(PolicyField field);

/* The names of a section's keys (section NULL: the per-domain keys), in
 * table order after n_first names already in ret_names, NULL-terminated.
 * ret_names holds POLICY_MAX_SECTION_KEYS + 1 entries; names beyond that
 * are left out (test-config checks that none is). Returns how many it
 * added. */
size_t policy_key_names(const char *section, const char **ret_names, size_t n_first);

/* Parse `text` into the key's member of `base` (a PolicyConfig or a
 * PolicySettings, as the key says). For a per-domain key the field bit is
 * not touched. On error returns a negative errno, *ret_detail says what was
 * wrong with the value without naming the key, and *base is unchanged. */
int policy_key_parse(const PolicyKey *k, const char *text, void *base, char **ret_detail);

/* The key's member of `base` as text, newly allocated: for people (exact
 * false, "512 MiB", with the unit: what --check-config prints), or exact as
 * the parser takes it back ("512MiB"). */
char *policy_key_format(const PolicyKey *k, const void *base, bool exact);

/* A D-Bus integer given for a per-domain key as the text its parser takes:
 * bytes for sizes ("1024B"), a percentage for a percent ("20%"), else the
 * number (also for unknown keys, which set_key then reports). */
char *policy_domain_key_integer_text(const char *name, uint64_t value);
