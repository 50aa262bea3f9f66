/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pure half of dynmem-hook, libvirt's qemu hook for admission control
 * (dynmem-hook(8)): its arguments, what each libvirt operation asks of it,
 * and every line it prints. No I/O; table-tested in tests/hook.
 */
#pragma once

#include "config.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The most of the domain XML the hook reads from stdin. A domain's XML is a
 * few KiB; more is an error, and the rest is still read (and dropped) so
 * that libvirt, which writes all of it, never meets a closed pipe. */
#define HOOK_STDIN_MAX_BYTES (8 * 1024 * 1024)

/* Added to host.admission-wait for Admit's call timeout: the daemon replies
 * within admission-wait of the call's arrival, after the cycle it may be in. */
#define HOOK_CALL_MARGIN_US (10 * G_USEC_PER_SEC)

/* Release's call timeout: nothing waits on it but libvirt's stop. */
#define HOOK_RELEASE_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* Past a call's timeout, a hook still running (a bus that accepted the
 * connection and never answered the handshake) is ended by an alarm. */
#define HOOK_ALARM_GRACE_S 5

/* How much of a domain name and of dynmemd's message a line shows. libvirt
 * keeps names of up to 255 bytes; a message is one line of a few hundred. */
#define HOOK_NAME_MAX_CHARS    255
#define HOOK_MESSAGE_MAX_CHARS 1024

typedef enum {
    HOOK_ACTION_NONE = 0, /* drain stdin, exit 0 */
    HOOK_ACTION_ADMIT,    /* prepare begin: ask dynmemd's Admit */
    HOOK_ACTION_RELEASE,  /* stopped end, release end: Release, ignore failures */
    HOOK_ACTION_LAST,
} HookAction;

typedef struct {
    bool help;
    bool version;
    const char *config_path; /* NULL: the built-in default; points into argv */
    uint64_t margin_us;      /* HOOK_CALL_MARGIN_US unless --timeout-margin */
    /* libvirt's four arguments, pointing into argv */
    const char *domain;
    const char *operation;
    const char *suboperation;
    const char *extra;
} HookArgs;

/* argv as libvirt gives it, `HOOK DOMAIN OPERATION SUBOPERATION EXTRA`,
 * with our options before libvirt's arguments. The last four arguments are
 * always libvirt's, whatever they look like (a domain may be named
 * "--config"); everything before them must be an option: --config FILE,
 * --timeout-margin DURATION (also as --opt=VALUE). `--help` or `--version`
 * alone set help or version. Returns 0 and *ret; or -EINVAL and *ret_error
 * (newly allocated, one line, hostile text escaped). */
int hook_args_parse(int argc, char **argv, HookArgs *ret, char **ret_error);

/* What the hook does for libvirt's OPERATION SUBOPERATION. */
HookAction hook_action_for(const char *operation, const char *suboperation);

/* Admit's call timeout: admission-wait + margin, saturating, at least 1 µs
 * (sd-bus takes 0 as "its default"). */
uint64_t hook_call_timeout_us(uint64_t admission_wait_us, uint64_t margin_us);

/* A domain name as a line shows it: escaped (policy_escape), at most
 * HOOK_NAME_MAX_CHARS. Newly allocated. */
char *hook_name_for_line(const char *name);

/* dynmemd's message as a line shows it: verbatim when it is valid UTF-8
 * without control, format or separator characters (the contract: one
 * line), else escaped; cut at HOOK_MESSAGE_MAX_CHARS. Newly allocated. */
char *hook_message_for_line(const char *message);

/* Why a call got no usable answer, from sd_bus_call()'s result: r (negative
 * errno) and the error's name and message (NULL when none). The reasons for
 * a missing owner, a timeout, a daemon that left the bus and a daemon that
 * does not know the method are worded for operators; others name the
 * error. One line, newly allocated. */
char *hook_call_failure_reason(int r, const char *error_name, const char *error_message,
                               const char *method, uint64_t timeout_us);

/* The line (without "\n") and exit status for a start that got no answer,
 * per host.admission-unreachable:
 *   allow:  "dynmem: dynmemd did not answer (REASON); DOMAIN starts without admission", 0
 *   refuse: "dynmem: cannot start DOMAIN: dynmemd did not answer (REASON) and
 *            host.admission-unreachable is refuse", 1
 * DOMAIN as hook_name_for_line(). Returns the exit status. */
int hook_unreachable_outcome(const char *domain, const char *reason, PolicyUnreachable unreachable,
                             char **ret_line);

/* The line (or NULL: nothing to say) and exit status for dynmemd's answer:
 * admitted: 0, "dynmem: MESSAGE" when the message is not empty;
 * refused: 1, "dynmem: MESSAGE", or a line naming the domain when empty. */
int hook_answer_outcome(const char *domain, bool admitted, const char *message, char **ret_line);

/* The policy file could not be used: one line saying so, with the first
 * error and how many more there were, and that the hook asks dynmemd with
 * the built-in policy. errors may be NULL or empty. Newly allocated. */
char *hook_policy_problem_line(const char *path, GPtrArray *errors);
