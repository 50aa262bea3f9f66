/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Daemon cycle cost on libvirt's test driver, against the bare libvirt
 * calls that fetch the same figures, and the process RSS.
 *
 *   build/bench/bench-daemon [N...]      (default: 10 100 1000)
 *
 * For each N: a node XML with N running domains (2 GiB, balloon with
 * stats), the real backend and manager, cycles until the plan is steady
 * (no change for 20 cycles: the idle guests are trimmed step by step as
 * their demand decays, for about 40 cycles), then 50 cycles; the bare figure is one
 * virConnectGetAllDomainStats() plus one virDomainMemoryStats() per domain (what the test driver
 * needs for balloon figures), on a second connection. Both are timed in 10 rounds of 5, the
 * daemon's and the bare calls' rounds taking turns, so that a burst of other work on the machine
 * falls on both alike; the figures are the medians of the rounds (the means over all 50 are shown
 * too). "By list" is the same figures asked as the daemon must ask them,
 * for the domains' handles (virDomainListGetStats()), and "in a thread"
 * the bare calls made in a worker thread with the main loop told when
 * they are done, both for information.
 */
#include "libvirt-backend-private.h"
#include "manager.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS    10
#define PER_ROUND 5 /* ROUNDS x PER_ROUND cycles measured */

static uint64_t fake_now;

static uint64_t bench_clock(void *userdata)
{
    return fake_now;
}

static void on_adjusted(Manager *m, ManagerDomain *d, const PolicyAction *action,
                        const char *reason, bool applied, void *userdata)
{
    (*(unsigned *)userdata)++;
}

static const ManagerListener count_changes = {.adjusted = on_adjusted};

static char *write_node(const char *dir, unsigned n)
{
    g_autoptr(GString) s = g_string_new("<node>\n");
    for (unsigned i = 0; i < n; i++)
        g_string_append_printf(s,
                               "<domain type='test'><name>vm%05u</name>"
                               "<uuid>00000000-0000-4000-8000-%012x</uuid>"
                               "<memory unit='MiB'>2048</memory><vcpu>1</vcpu>"
                               "<os><type>hvm</type></os><devices>"
                               "<memballoon model='virtio'><stats period='1'/></memballoon>"
                               "</devices></domain>\n",
                               i, i + 1);
    g_string_append(s, "</node>\n");
    char *path = g_build_filename(dir, "node.xml", NULL);
    g_file_set_contents(path, s->str, -1, NULL);
    return path;
}

static long rss_kib(void)
{
    g_autofree char *status = NULL;
    if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
        return -1;
    const char *p = strstr(status, "VmRSS:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

/* The bare calls once: the stats of every running domain, or of the
 * domains in doms (NULL-terminated) when given, and each domain's memory
 * stats. */
static void bare_once(virConnectPtr conn, virDomainPtr *doms)
{
    virDomainStatsRecordPtr *recs = NULL;
    unsigned stats = VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_STATE;
    int k =
        doms ? virDomainListGetStats(doms, stats, &recs, VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT)
             : virConnectGetAllDomainStats(conn, stats, &recs,
                                           VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
    for (int i = 0; i < k; i++) {
        virDomainMemoryStatStruct st[VIR_DOMAIN_MEMORY_STAT_NR];
        virDomainMemoryStats(recs[i]->dom, st, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    }
    virDomainStatsRecordListFree(recs);
}

/* One round of the bare calls, us per cycle. */
static double bare_round_us(virConnectPtr conn, virDomainPtr *doms)
{
    gint64 t0 = g_get_monotonic_time();
    for (int c = 0; c < PER_ROUND; c++)
        bare_once(conn, doms);
    return (double)(g_get_monotonic_time() - t0) / PER_ROUND;
}

/* "In a thread": the bare calls made in a worker thread, the main loop
 * told when they are done, as a daemon that never listed on its main
 * loop (the admission deadlock, docs/admission.md) would have to: the
 * least such a cycle could cost. */
static gboolean thread_done(void *data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

static void thread_work(void *data, void *conn)
{
    bare_once(conn, NULL);
    g_idle_add(thread_done, data);
}

static double thread_round_us(GThreadPool *pool)
{
    gint64 t0 = g_get_monotonic_time();
    for (int c = 0; c < PER_ROUND; c++) {
        bool done = false;
        g_thread_pool_push(pool, &done, NULL);
        while (!done)
            g_main_context_iteration(NULL, TRUE);
    }
    return (double)(g_get_monotonic_time() - t0) / PER_ROUND;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and mean of the rounds (v is sorted). */
static double median(double *v, double *ret_mean)
{
    double sum = 0;
    for (int i = 0; i < ROUNDS; i++)
        sum += v[i];
    *ret_mean = sum / ROUNDS;
    qsort(v, ROUNDS, sizeof(*v), cmp_double);
    return (v[(ROUNDS - 1) / 2] + v[ROUNDS / 2]) / 2;
}

static int bench(unsigned n)
{
    g_autofree char *dir = g_dir_make_tmp("dynmem-bench-XXXXXX", NULL);
    g_autofree char *node = write_node(dir, n);
    g_autofree char *mi = g_build_filename(dir, "meminfo", NULL);
    g_autofree char *policy = g_build_filename(dir, "policy.yaml", NULL);
    /* a host large enough for every domain: no scarcity */
    g_autofree char *meminfo = g_strdup_printf("MemTotal: %u kB\nMemAvailable: %u kB\n",
                                               (n + 8) * 2u * 1048576u, (n + 4) * 2u * 1048576u);
    g_file_set_contents(mi, meminfo, -1, NULL);
    g_file_set_contents(policy,
                        "host:\n  reserve: 1GiB\n  overhead: 0\n"
                        "tuning:\n  max-shrink: 2GiB\n"
                        "defaults:\n  minimum: 1GiB\n",
                        -1, NULL);
    g_autofree char *uri = g_strdup_printf("test://%s", node);

    long rss0 = rss_kib();
    ManagerOptions o = {.config_path = policy,
                        .connect_uri = uri,
                        .proc_root = dir,
                        .clock = bench_clock,
                        .no_timer = true};
    Manager *m = NULL;
    g_autofree char *err = NULL;
    if (manager_new(&o, backend_libvirt_new(), &m, &err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    unsigned changes = 0;
    manager_add_listener(m, &count_changes, &changes);
    manager_start(m);
    /* settle: trims to the minimum, then nothing changes */
    int settled = 0;
    for (int i = 0; i < 1000 && (i < 10 || settled < 20); i++) {
        unsigned before = changes;
        fake_now += 1000000;
        manager_run_cycle(m);
        settled = changes == before ? settled + 1 : 0;
    }
    unsigned changes_settled = changes;
    long rss1 = rss_kib();

    /* the bare calls' own connection (its own copy of the test driver's
     * domains), and the handles the "by list" calls ask for, had once as
     * the daemon keeps them */
    virConnectPtr conn = virConnectOpen(uri);
    virDomainPtr *doms = NULL;
    int nd = conn ? virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE) : -1;
    if (nd < 0) {
        fprintf(stderr, "cannot open or list %s\n", uri);
        return 1;
    }
    doms = realloc(doms, sizeof(*doms) * (size_t)(nd + 1)); /* NULL-terminated */
    doms[nd] = NULL;

    GThreadPool *pool = g_thread_pool_new(thread_work, conn, 1, FALSE, NULL);
    double cycle[ROUNDS], bare[ROUNDS], list[ROUNDS], thread[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        gint64 t0 = g_get_monotonic_time();
        for (int i = 0; i < PER_ROUND; i++) {
            fake_now += 1000000;
            manager_run_cycle(m);
        }
        cycle[r] = (double)(g_get_monotonic_time() - t0) / PER_ROUND;
        bare[r] = bare_round_us(conn, NULL);
        list[r] = bare_round_us(conn, doms);
        thread[r] = thread_round_us(pool);
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    if (changes != changes_settled)
        fprintf(stderr, "%u domains: %u changes while measured\n", n, changes - changes_settled);
    manager_free(m);
    for (int i = 0; i < nd; i++)
        virDomainFree(doms[i]);
    free(doms);
    virConnectClose(conn);

    double cycle_mean, bare_mean, list_mean;
    double cycle_us = median(cycle, &cycle_mean);
    double bare_us = median(bare, &bare_mean);
    double list_us = median(list, &list_mean);
    double thread_mean, thread_us = median(thread, &thread_mean);
    printf("%6u domains: cycle %9.1f us (%6.2f us/domain), bare stats %9.1f us, ratio %.2f "
           "(means %.1f / %.1f us: %.2f); by list %9.1f us, ratio %.2f; "
           "in a thread %9.1f us, %.2f of the bare calls; "
           "RSS %ld KiB (+%ld KiB for the manager and its domains)\n",
           n, cycle_us, cycle_us / n, bare_us, cycle_us / bare_us, cycle_mean, bare_mean,
           cycle_mean / bare_mean, list_us, cycle_us / list_us, thread_us, thread_us / bare_us,
           rss1, rss1 - rss0);
    g_unlink(node);
    g_unlink(mi);
    g_unlink(policy);
    g_rmdir(dir);
    return 0;
}

int main(int argc, char **argv)
{
    static const unsigned defaults[] = {10, 100, 1000};
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            if (bench((unsigned)strtoul(argv[i], NULL, 10)) != 0)
                return 1;
        return 0;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(defaults); i++)
        if (bench(defaults[i]) != 0)
            return 1;
    return 0;
}
