/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dynmemd: arguments, config, run, exit code. Everything else lives in the
 * manager (state and cycle), the backend (libvirt) and the bus front end.
 */
#include "backend.h"
#include "bus.h"
#include "check-config.h"
#include "dynmem-config.h"
#include "libvirt-backend.h"
#include "log.h"
#include "metrics.h"
#include "manager.h"
#include "notify.h"
#include "text.h"

#include <errno.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --interval: the range daemon.interval has in the policy file */
#define INTERVAL_MIN_US (100 * G_TIME_SPAN_MILLISECOND)
#define INTERVAL_MAX_US (3600 * G_TIME_SPAN_SECOND)

enum {
    EXIT_OK = 0,
    EXIT_CONFIG = 1,
    EXIT_USAGE = 2,
    EXIT_CONNECT = 3,
    EXIT_BUS = 4, /* --require-bus, or another dynmemd owns the bus name */
};

typedef struct {
    char *config_path;
    char *connect_uri;
    char *interval;
    char *check_config;
    char *log_level;
    char *proc_root;
    char *state_dir;
    char *record;
    gboolean dry_run;
    gboolean once;
    gboolean version;
    gboolean bus_introspect;
    gboolean require_bus;
} Args;

static void args_clear(Args *a)
{
    g_free(a->config_path);
    g_free(a->connect_uri);
    g_free(a->interval);
    g_free(a->check_config);
    g_free(a->log_level);
    g_free(a->proc_root);
    g_free(a->state_dir);
    g_free(a->record);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Args, args_clear)

typedef struct {
    Manager *manager;
    GMainLoop *loop;
    DynmemNotify *notify;
} Daemon;

static gboolean on_terminate(void *userdata)
{
    Daemon *d = userdata;
    log_notice("stopping; every domain keeps the memory it has");
    dynmem_notify_stopping(d->notify);
    /* while the bus is still there to carry the answers */
    manager_admission_stop(d->manager);
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static gboolean on_reload(void *userdata)
{
    Daemon *d = userdata;
    dynmem_notify_reloading(d->notify);
    g_autofree char *err = NULL;
    if (manager_reload(d->manager, &err) < 0)
        log_error("reload failed, the running policy is kept:\n%s", err);
    dynmem_notify_ready(d->notify, d->manager);
    return G_SOURCE_CONTINUE;
}

static int parse_args(int argc, char **argv, Args *a)
{
    const GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &a->config_path,
         "Policy file (default " DYNMEM_SYSCONFDIR "/policy.yaml)", "FILE"},
        {"connect", 0, 0, G_OPTION_ARG_STRING, &a->connect_uri,
         "libvirt URI, overriding daemon.connect", "URI"},
        {"interval", 'i', 0, G_OPTION_ARG_STRING, &a->interval,
         "Cycle interval, overriding daemon.interval (e.g. 1s, 500ms)", "DURATION"},
        {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &a->dry_run, "Plan and log, change nothing", NULL},
        {"once", 0, 0, G_OPTION_ARG_NONE, &a->once, "Run one cycle, print the plan, exit", NULL},
        {"check-config", 0, 0, G_OPTION_ARG_FILENAME, &a->check_config,
         "Validate a policy file, print its effective settings, exit", "FILE"},
        {"log-level", 0, 0, G_OPTION_ARG_STRING, &a->log_level,
         "error, warning, notice, info (default) or debug", "LEVEL"},
        {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &a->state_dir,
         "Where persistent overrides live (default $STATE_DIRECTORY, else " DYNMEM_STATEDIR ")",
         "DIR"},
        {"record", 0, 0, G_OPTION_ARG_FILENAME, &a->record,
         "Append every domain's figures each cycle to FILE, an absolute path, overriding "
         "daemon.record-file (for dynmem-sim --from-recording)",
         "FILE"},
        {"proc-root", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &a->proc_root,
         "Read host memory from this directory instead of /proc (tests)", "DIR"},
        {"require-bus", 0, 0, G_OPTION_ARG_NONE, &a->require_bus,
         "Exit when the system bus cannot be reached (default: balance without it)", NULL},
        {"bus-introspect", 0, 0, G_OPTION_ARG_NONE, &a->bus_introspect,
         "Print the D-Bus introspection XML of org.dynmem1, exit", NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &a->version, "Print the version", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- balance memory across libvirt VMs");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_summary(ctx, "dynmemd gives libvirt/KVM domains memory as their "
                                      "workload needs it and takes back what they do not use.");
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "dynmemd: %s (see --help)\n", err->message);
        return -1;
    }
    if (argc > 1) {
        fprintf(stderr, "dynmemd: unexpected argument \"%s\" (see --help)\n", argv[1]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_auto(Args) a = {0};
    if (parse_args(argc, argv, &a) < 0)
        return EXIT_USAGE;
    if (a.version) {
        printf("dynmemd %s\n", DYNMEM_VERSION);
        return EXIT_OK;
    }
    if (a.bus_introspect) {
        g_autofree char *xml = NULL;
        g_autofree char *err = NULL;
        if (dynmem_bus_introspect(&xml, &err) < 0) {
            fprintf(stderr, "dynmemd: %s\n", err);
            return EXIT_CONFIG;
        }
        fputs(xml, stdout);
        return EXIT_OK;
    }
    if (a.check_config)
        return dynmem_check_config(a.check_config, stdout, stderr);

    int level = LOG_INFO;
    if (a.log_level && dynmem_log_level_from_string(a.log_level, &level) < 0) {
        fprintf(stderr, "dynmemd: unknown log level \"%s\"\n", a.log_level);
        return EXIT_USAGE;
    }
    dynmem_log_setup(level);

    uint64_t interval_us = 0;
    if (a.interval) {
        g_autofree char *err = NULL;
        /* the same range as daemon.interval in the policy file */
        if (policy_parse_duration_us(a.interval, &interval_us, &err) < 0) {
            fprintf(stderr, "dynmemd: --interval: %s\n", err);
            return EXIT_USAGE;
        }
        if (interval_us < INTERVAL_MIN_US || interval_us > INTERVAL_MAX_US) {
            g_autofree char *q = policy_quote(a.interval);
            fprintf(stderr, "dynmemd: --interval: must be between 100ms and 1h, found \"%s\"\n", q);
            return EXIT_USAGE;
        }
    }

    /* the same rule as daemon.record-file: under ProtectSystem=strict a
     * relative path would name a file nobody meant, where we cannot write */
    if (a.record && !g_path_is_absolute(a.record)) {
        g_autofree char *q = policy_quote(a.record);
        fprintf(stderr,
                "dynmemd: --record: expected an absolute file path (under the state directory "
                "%s, or a ReadWritePaths= of the unit), found \"%s\"\n",
                DYNMEM_STATEDIR, q);
        return EXIT_USAGE;
    }

    /* systemd passes StateDirectory= (the only place ProtectSystem=strict
     * leaves writable) as $STATE_DIRECTORY, a list separated by ':'. */
    g_autofree char *state_dir = g_strdup(a.state_dir);
    const char *env_state = g_getenv("STATE_DIRECTORY");
    if (!state_dir && env_state && env_state[0] != '\0')
        state_dir = g_strndup(env_state, strcspn(env_state, ":"));
    if (!state_dir)
        state_dir = g_strdup(DYNMEM_STATEDIR);

    ManagerOptions opts = {
        .config_path = a.config_path ? a.config_path : DYNMEM_SYSCONFDIR "/policy.yaml",
        .connect_uri = a.connect_uri,
        .interval_us = interval_us,
        .dry_run = a.dry_run,
        .proc_root = a.proc_root,
        .state_dir = state_dir,
        .no_timer = a.once,
        .record_file = a.record,
    };
    /* A missing default policy means the built-in defaults. */
    if (!a.config_path && !g_file_test(opts.config_path, G_FILE_TEST_EXISTS)) {
        log_info("%s does not exist; using built-in defaults", opts.config_path);
        opts.config_path = NULL;
    }

    g_autoptr(Manager) m = NULL;
    g_autofree char *err = NULL;
    if (manager_new(&opts, backend_libvirt_new(), &m, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_CONFIG;
    }

    if (a.once) {
        /* One cycle (changing memory unless --dry-run), print the plan.
         * No daemon, no notify. */
        manager_start(m);
        if (!manager_is_connected(m)) {
            fprintf(stderr, "dynmemd: cannot connect to %s\n", manager_get_uri(m));
            return EXIT_CONNECT;
        }
        if (manager_run_cycle(m) < 0) {
            fprintf(stderr, "dynmemd: the cycle failed (see the messages above)\n");
            return EXIT_CONNECT;
        }
        g_autofree char *dump = manager_dump(m);
        fputs(dump, stdout);
        return EXIT_OK;
    }

    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Daemon d = {.manager = m, .loop = loop};
    /* the metrics file (daemon.metrics-file), removed again when we stop */
    g_autoptr(DynmemMetrics) metrics = dynmem_metrics_new(m);
    (void)metrics; /* works from its timer; freed (its file removed) on the way out */
    d.notify = dynmem_notify_new(m);
    /* Balancing does not need the bus; only a second dynmemd (which would
     * fight this one over the same domains) or --require-bus stop us. */
    g_autoptr(DynmemBus) bus = dynmem_bus_new(m);
    g_autofree char *bus_err = NULL;
    int r = dynmem_bus_connect(bus, &bus_err);
    if (r == -EEXIST || (r < 0 && a.require_bus)) {
        log_error("%s", bus_err);
        dynmem_notify_free(d.notify);
        return EXIT_BUS;
    }
    if (r < 0) {
        log_warning("%s; balancing without D-Bus until it can be reached", bus_err);
        dynmem_bus_connect_later(bus);
    }
    g_unix_signal_add(SIGTERM, on_terminate, &d);
    g_unix_signal_add(SIGINT, on_terminate, &d);
    g_unix_signal_add(SIGHUP, on_reload, &d);

    log_notice("starting %s: policy %s, %s, every %" G_GUINT64_FORMAT " ms%s", DYNMEM_VERSION,
               opts.config_path ? opts.config_path : "built-in defaults", manager_get_uri(m),
               manager_get_interval_us(m) / 1000, opts.dry_run ? ", dry-run" : "");
    manager_start(m);
    g_main_loop_run(loop);
    dynmem_notify_free(d.notify);
    return EXIT_OK;
}
