/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The policy model (DESIGN.md §4) and its YAML loader.
 *
 * A PolicyConfig holds daemon and host settings, tuning knobs of the
 * balancer, the per-domain defaults and an ordered list of rules. The
 * effective policy of a domain is: defaults, then the first rule that
 * matches it (by name, glob on the name, or UUID), then a runtime override
 * (set over D-Bus), each layer replacing only the fields it sets.
 *
 * Pure: the loader parses a buffer; reading the file is the caller's job.
 */
#pragma once

#include "units.h"

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLICY_WEIGHT_MAX         10000
#define POLICY_WEIGHT_DEFAULT     5000
#define POLICY_BUFFER_MAX_PCT     2000
#define POLICY_BUFFER_DEFAULT_PCT 20
/* burst-headroom: learn, kept at least this (docs in dynmem-policy.yaml(5)) */
#define POLICY_BURST_FLOOR_DEFAULT_KIB (128 * POLICY_KIB_PER_MIB)
/* host.deflate-reserve (docs/architecture.md, "The budget") */
#define POLICY_DEFLATE_RESERVE_DEFAULT 2
/* the most a per-domain headroom key may ask: more is surely a typo */
#define POLICY_HEADROOM_MAX_KIB (1024 * POLICY_KIB_PER_GIB)

typedef enum {
    POLICY_MODE_DYNAMIC = 0,
    POLICY_MODE_STATIC,
    POLICY_MODE_LAST,
} PolicyMode;

const char *policy_mode_to_string(PolicyMode mode);

/* host.admission (dynmem-policy.yaml(5), docs/admission.md) */
typedef enum {
    POLICY_ADMISSION_ENFORCE = 0, /* a start waits for room, or is refused */
    POLICY_ADMISSION_WARN,        /* allowed at once; a refusal is only logged */
    POLICY_ADMISSION_OFF,         /* every start allowed, nothing reserved */
    POLICY_ADMISSION_LAST,
} PolicyAdmission;

/* host.admission-unreachable: what the hook does without an answer */
typedef enum {
    POLICY_UNREACHABLE_ALLOW = 0,
    POLICY_UNREACHABLE_REFUSE,
    POLICY_UNREACHABLE_LAST,
} PolicyUnreachable;

const char *policy_admission_to_string(PolicyAdmission a);
const char *policy_unreachable_to_string(PolicyUnreachable u);

/* Which fields of a PolicySettings layer are set. */
typedef enum {
    POLICY_FIELD_MODE = 1u << 0,
    POLICY_FIELD_MINIMUM = 1u << 1,
    POLICY_FIELD_STARTUP = 1u << 2,
    POLICY_FIELD_MAXIMUM = 1u << 3,
    POLICY_FIELD_BUFFER = 1u << 4,
    POLICY_FIELD_WEIGHT = 1u << 5,
    POLICY_FIELD_BURST_HEADROOM = 1u << 6,
    POLICY_FIELD_BUFFER_MIN = 1u << 7,
} PolicyField;

/* Free memory kept in a guest for an instant step (DESIGN.md §3.10b): a
 * fixed size, or learnt from the guest's own largest recent rise in one
 * report and then at least kib. */
typedef struct {
    bool learn;
    uint64_t kib;
} PolicyBurstHeadroom;

/* One layer of per-domain settings. Sizes may be percentages: minimum,
 * startup and maximum in percent are relative to the most the domain can
 * physically reach. */
typedef struct {
    uint32_t set; /* PolicyField bits */
    PolicyMode mode;
    PolicyAmount minimum;
    PolicyAmount startup;
    PolicyAmount maximum;
    uint32_t buffer_pct;
    uint32_t weight;
    PolicyBurstHeadroom burst_headroom;
    uint64_t buffer_min_kib;
} PolicySettings;

/* Set one key of a layer from its text form, as YAML and dynmemctl write it
 * ("minimum", "512MiB"). Keys: the rows of policy_domain_keys (settings.h).
 * On error *ret_error names the key and what was wrong, and *s is
 * unchanged. */
int policy_settings_set_key(PolicySettings *s, const char *key, const char *value,
                            char **ret_error);

/* "learn", "learn 128MiB" or "256MiB", as the loader reads it back. Newly
 * allocated. */
char *policy_burst_headroom_format(const PolicyBurstHeadroom *b);

/* Whether two layers set the same keys to the same values (compared key
 * by key, never their padding). */
bool policy_settings_equal(const PolicySettings *a, const PolicySettings *b);

/* Check a layer on its own: minimum <= startup <= maximum where the fields
 * are comparable (both absolute, or both percentages). */
int policy_settings_validate(const PolicySettings *s, char **ret_error);

/* Lay `top` over `base` (fields set in top win). */
void policy_settings_merge(PolicySettings *base, const PolicySettings *top);

typedef enum {
    POLICY_MATCH_NAME = 0,
    POLICY_MATCH_GLOB,
    POLICY_MATCH_UUID,
    POLICY_MATCH_LAST,
} PolicyMatchKind;

typedef struct {
    PolicyMatchKind kind;
    char *pattern;
    unsigned line; /* where the rule starts in its file, for messages */
    PolicySettings settings;
} PolicyRule;

/* Balancer knobs, under `tuning:` in the YAML. */
typedef struct {
    uint64_t grace_us;            /* after boot, desired >= startup */
    uint64_t demand_half_life_us; /* decay of the demand peak */
    uint64_t min_step_kib;        /* changes below max(min_step, pct of A) are skipped */
    uint32_t min_step_pct;
    uint64_t max_shrink_kib;           /* most one domain is shrunk per cycle; 0: no cap
                                        * (the loader takes at least 1KiB) */
    uint64_t uncooperative_timeout_us; /* a shrink that does not move within this */
    uint64_t uncooperative_retry_us;   /* ... is retried after this */
    uint32_t stale_periods;            /* stats older than this many periods are stale */
    uint64_t pressure_swap_in_kib_s;   /* swap-in rate that means "needs more" */
    uint64_t pressure_major_faults_s;  /* major-fault rate that means "needs more" */
    uint32_t pressure_boost_pct;       /* demand correction when under pressure */
    uint32_t trim_hold_pct; /* a settling guest's trim held this % of the demand half-life,
                             * then made in one step; 0: trims follow the decaying peak */
} PolicyTuning;

/* How long a settling guest's trim is held: trim-hold of the demand
 * half-life. At 144 % (1/ln 2) holding the whole peak that long, then
 * dropping it, keeps the same memory-seconds as its exponential decay;
 * the default, 100 %, keeps 69 % of them, and the trim then lands a step
 * above the desire, where the decay's last step left a guest
 * (docs/benchmarks.md, "Trim hold"). */
static inline uint64_t policy_trim_hold_us(const PolicyTuning *t)
{
    return (uint64_t)((unsigned __int128)t->demand_half_life_us * t->trim_hold_pct / 100);
}

typedef struct {
    /* daemon: */
    char *connect_uri;
    uint64_t interval_us;
    char *metrics_file; /* NULL: no metrics file */
    uint64_t metrics_interval_us;
    char *record_file;       /* NULL: no recording (dynmemd(8), dynmem-sim --from-recording) */
    uint64_t record_max_kib; /* recording stops when the file reaches this */
    /* host: */
    PolicyAmount reserve;       /* size, or % of MemTotal */
    uint64_t pool_kib;          /* 0: unlimited */
    uint64_t overhead_kib;      /* per managed domain (QEMU's own memory) */
    uint32_t psi_threshold_pct; /* host `some avg10` at or above this: no net growth */
    /* autodeflate guests whose take-back up to their boot size the budget
     * keeps free (the largest ones) */
    uint32_t deflate_reserve_guests;
    PolicyAdmission admission;
    uint64_t admission_wait_us;    /* longest a start waits for room */
    PolicyUnreachable unreachable; /* the hook, when dynmemd does not answer */
    PolicyTuning tuning;
    /* defaults: and domains: */
    PolicySettings defaults;
    PolicyRule *rules;
    size_t n_rules;
} PolicyConfig;

/* A config with every built-in default (what an empty file means). */
PolicyConfig *policy_config_new_default(void);
void policy_config_free(PolicyConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PolicyConfig, policy_config_free)

/* Parse YAML text. filename is used in messages only. On success returns 0
 * and *ret_cfg. On failure returns -EINVAL and *ret_errors, a GPtrArray of
 * newly allocated strings "file:line:column: message", every error found
 * (not only the first). */
int policy_config_load_buf(const char *buf, size_t len, const char *filename,
                           PolicyConfig **ret_cfg, GPtrArray **ret_errors);

/* Where an effective value comes from, lowest layer first: a run-time
 * override beats the domain's own metadata, which beats the first
 * matching YAML rule, which beats the defaults. */
typedef enum {
    POLICY_SOURCE_DEFAULT = 0, /* defaults: (or the built-in default) */
    POLICY_SOURCE_RULE,        /* the first matching rule of domains: */
    POLICY_SOURCE_METADATA,    /* the domain's <metadata> (docs/metadata.md) */
    POLICY_SOURCE_OVERRIDE,    /* dynmemctl set / SetDomainPolicy */
    POLICY_SOURCE_LAST,
} PolicySource;

const char *policy_source_to_string(PolicySource source);

/* The most per-domain keys there are (settings.c's table). */
#define POLICY_MAX_DOMAIN_KEYS 16

/* The effective policy of one domain. Sizes are still amounts: they are
 * resolved against the domain's capabilities by the engine. */
typedef struct {
    PolicyMode mode;
    PolicyAmount minimum;
    PolicyAmount startup; /* UNSET: the domain's own memory at boot */
    PolicyAmount maximum;
    uint32_t buffer_pct;
    uint32_t weight;
    PolicyBurstHeadroom burst_headroom;
    uint64_t buffer_min_kib; /* the buffer is never less than this */
    int rule_index;          /* -1: defaults only */
    bool overridden;         /* an override layer set something */
    bool has_metadata;       /* the domain's metadata layer set something */
    /* per key of policy_domain_keys, in its order: where its value is from */
    uint8_t source[POLICY_MAX_DOMAIN_KEYS]; /* PolicySource */
} PolicyEffective;

/* First matching rule wins; `override` (may be NULL) is laid on top. */
void policy_config_resolve(const PolicyConfig *cfg, const char *name, const char *uuid,
                           const PolicySettings *override, PolicyEffective *ret);
/* The same with the domain's own metadata layer (may be NULL) between the
 * rule and the override. */
void policy_config_resolve_layers(const PolicyConfig *cfg, const char *name, const char *uuid,
                                  const PolicySettings *metadata, const PolicySettings *override,
                                  PolicyEffective *ret);

/* The effective settings, defaults and each rule, as --check-config prints
 * them. Newly allocated. */
char *policy_config_describe(const PolicyConfig *cfg);
