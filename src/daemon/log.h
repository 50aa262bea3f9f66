/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging at the boundary: to the journal with structured fields when
 * systemd started us (JOURNAL_STREAM names our stderr), else readable lines
 * on stderr. The level threshold is per process, set once from --log-level.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

typedef struct {
    int max_level; /* LOG_ERR .. LOG_DEBUG */
    bool journal;
} DynmemLog;

/* Parse "error", "warning", "notice", "info", "debug". */
int dynmem_log_level_from_string(const char *s, int *ret_level);

void dynmem_log_setup(int max_level);
int dynmem_log_get_level(void);

void dynmem_log(int level, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Domain names given to these functions and in log lines are
 * ManagerDomain.label: escaped with policy_escape(), so a name cannot end
 * a line, move the cursor or reorder text. */

/* One change of a domain's memory (from its assigned figure to its target)
 * by one or more mechanisms ("balloon+virtio-mem"), with the devices'
 * figures in detail; journal fields DYNMEM_DOMAIN, DYNMEM_FROM_KIB,
 * DYNMEM_TO_KIB, DYNMEM_MECHANISM, DYNMEM_DETAIL, DYNMEM_REASON. A notice,
 * but at debug level when from and to are the same in MiB. */
void dynmem_log_change(const char *domain, uint64_t from_kib, uint64_t to_kib,
                       const char *mechanism, const char *detail, const char *reason, bool dry_run);

/* A failed action on one domain, with DYNMEM_DOMAIN and DYNMEM_ACTION.
 * `domain` is the escaped name (ManagerDomain.label); `message` is
 * escaped here. */
void dynmem_log_action_error(const char *domain, const char *action, const char *message);

#define log_error(...)   dynmem_log(LOG_ERR, __VA_ARGS__)
#define log_warning(...) dynmem_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  dynmem_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    dynmem_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   dynmem_log(LOG_DEBUG, __VA_ARGS__)
