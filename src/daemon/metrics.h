/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prometheus metrics in the text exposition format, written to a file for
 * node_exporter's textfile collector (daemon.metrics-file, rewritten every
 * daemon.metrics-interval; no listening socket). The figures are the D-Bus
 * properties' (props.h) plus the manager's counters.
 */
#pragma once

#include "manager.h"

typedef struct DynmemMetrics DynmemMetrics;

/* On the default GLib main context: when the policy's metrics-file is set
 * and its interval has passed, the file is replaced atomically (checked
 * every second, whether cycles succeed or not). Free it before the
 * manager. */
DynmemMetrics *dynmem_metrics_new(Manager *m);
/* Removes the file it wrote (a stopped daemon has no current figures). */
void dynmem_metrics_free(DynmemMetrics *x);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DynmemMetrics, dynmem_metrics_free)

/* The whole exposition text, newly allocated. */
char *dynmem_metrics_format(Manager *m);

/* Write `text` to `path` atomically (a temporary file in the same
 * directory, renamed over it), mode 0644 whatever the umask, so that the
 * collector's user can read it. Returns 0 or a negative errno with
 * *ret_error set. */
int dynmem_metrics_write_file(const char *path, const char *text, char **ret_error);
