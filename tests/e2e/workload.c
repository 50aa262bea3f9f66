/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * workload: the memory consumer that runs inside an e2e test guest.
 *
 * It follows a plan read from the kernel command line:
 *
 *   dynmem.plan=0:64,20:300,60:64   from second 0 hold 64 MiB, from 20 hold 300, ...
 *   dynmem.loop=120                 repeat the plan every 120 s (optional)
 *   dynmem.chunk=4                  grow/shrink in 4 MiB mappings (optional)
 *   dynmem.rate=32                  grow by at most 32 MiB a second (optional; as a
 *                                   real workload ramps up, rather than all at once)
 *   dynmem.cue=/dev/ttyS1           the plan's clock starts at a cue, not at boot
 *                                   (optional): until a line "go" arrives on that
 *                                   device, the workload holds what the plan wants at
 *                                   second 0. The test harness gives the cue to every
 *                                   guest at once, when all have booted and the daemon
 *                                   is steady, however long libvirt took to create them.
 *
 * and prints one machine-readable line per second on stdout (the serial console):
 *
 *   DYNMEM t=12 want=300 held=300 failed=0 oom_kills=0 restarts=0 memtotal=457 memavail=101
 *          up=80 cued=1
 *
 * All sizes are MiB. t is the plan's clock: seconds since the first start of the
 * workload, or since the cue (0 until then); it survives a restart. up counts seconds
 * since the first start; cued says whether the cue has come. held is memory that is
 * mapped and fully touched; failed counts mmap failures
 * (cumulative); oom_kills is the guest's /proc/vmstat oom_kill; memtotal and memavail
 * come from /proc/meminfo.
 *
 * Design: the process forks. The parent is a tiny supervisor with oom_score_adj -1000;
 * the child (the worker) holds the memory with oom_score_adj 0. When the balloon squeezes
 * the guest below what the worker holds, the kernel OOM killer kills the worker: that is
 * the signal the tests want to observe. The supervisor then prints
 *   DYNMEM event=worker-died t=.. signal=9 restarts=1
 * and starts a new worker, which continues the same plan (same clock) and reports the
 * raised oom_kills. Memory goes back with munmap, so the guest really gets it back.
 *
 * Usage outside a guest (for a quick check):
 *   workload --cmdline 'dynmem.plan=0:16,3:48,6:8' --duration 10
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PLAN_MAX_STEPS 64
#define CHUNKS_MAX     16384 /* 64 GiB in 4 MiB chunks: far above any test guest */
#define MIB            (1024UL * 1024UL)

typedef struct {
    long start_s;
    long mib;
} PlanStep;

typedef struct {
    PlanStep steps[PLAN_MAX_STEPS];
    size_t n_steps;
    long loop_s;       /* 0: no repetition */
    long chunk_mib;    /* size of one mapping */
    long rate_mib_s;   /* growth limit, 0: as fast as the guest allows */
    char cue_path[64]; /* "": the plan starts at boot */
} Plan;

/* Where the cue's arrival is kept (seconds after the first start), so that a
 * worker restarted after an OOM kill keeps the same plan clock. */
#define CUE_STATE_PATH "/tmp/dynmem-cue"

typedef struct {
    int fd;        /* the cue device, -1 when closed */
    bool cued;     /* the plan clock runs */
    double cue_at; /* when it started, seconds after t0 */
} Cue;

typedef struct {
    void *chunks[CHUNKS_MAX];
    long chunk_mib[CHUNKS_MAX]; /* the last chunk of a step may be smaller */
    size_t n_chunks;
    long held_mib;
    unsigned long failed;
} Holding;

static double monotonic_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parses "S:MIB,S:MIB,..." into plan->steps. Returns 0, or -EINVAL on bad text. */
static int plan_parse_steps(const char *text, Plan *plan)
{
    const char *p = text;

    plan->n_steps = 0;
    while (*p != '\0' && *p != ' ' && *p != '\n') {
        char *end;
        long s, mib;

        if (plan->n_steps >= PLAN_MAX_STEPS)
            return -EINVAL;
        errno = 0;
        s = strtol(p, &end, 10);
        if (errno != 0 || end == p || *end != ':' || s < 0)
            return -EINVAL;
        p = end + 1;
        mib = strtol(p, &end, 10);
        if (errno != 0 || end == p || mib < 0)
            return -EINVAL;
        if (plan->n_steps > 0 && s <= plan->steps[plan->n_steps - 1].start_s)
            return -EINVAL; /* steps must be in increasing time order */
        plan->steps[plan->n_steps++] = (PlanStep){.start_s = s, .mib = mib};
        p = end;
        if (*p == ',')
            p++;
        else if (*p != '\0' && *p != ' ' && *p != '\n')
            return -EINVAL;
    }
    return 0;
}

/* Returns the value of "key=" in a kernel-style command line, or NULL. */
static const char *cmdline_get(const char *cmdline, const char *key)
{
    size_t len = strlen(key);
    const char *p = cmdline;

    while ((p = strstr(p, key)) != NULL) {
        bool at_word_start = p == cmdline || p[-1] == ' ';

        if (at_word_start && p[len] == '=')
            return p + len + 1;
        p += len;
    }
    return NULL;
}

static int plan_parse_cmdline(const char *cmdline, Plan *ret)
{
    Plan plan = {.loop_s = 0, .chunk_mib = 4};
    const char *v;
    int r;

    v = cmdline_get(cmdline, "dynmem.plan");
    if (v == NULL)
        v = "0:64";
    r = plan_parse_steps(v, &plan);
    if (r < 0)
        return r;
    v = cmdline_get(cmdline, "dynmem.loop");
    if (v != NULL)
        plan.loop_s = strtol(v, NULL, 10);
    v = cmdline_get(cmdline, "dynmem.chunk");
    if (v != NULL)
        plan.chunk_mib = strtol(v, NULL, 10);
    v = cmdline_get(cmdline, "dynmem.rate");
    if (v != NULL)
        plan.rate_mib_s = strtol(v, NULL, 10);
    v = cmdline_get(cmdline, "dynmem.cue");
    if (v != NULL) {
        size_t len = strcspn(v, " \n");

        if (len == 0 || len >= sizeof(plan.cue_path))
            return -EINVAL;
        memcpy(plan.cue_path, v, len);
        plan.cue_path[len] = '\0';
    }
    if (plan.loop_s < 0 || plan.chunk_mib <= 0 || plan.chunk_mib > 1024 || plan.rate_mib_s < 0)
        return -EINVAL;
    *ret = plan;
    return 0;
}

/* The MiB the plan wants at second t (0 before the first step). */
static long plan_want_mib(const Plan *plan, long t)
{
    long want = 0;

    if (plan->loop_s > 0)
        t %= plan->loop_s;
    for (size_t i = 0; i < plan->n_steps; i++)
        if (t >= plan->steps[i].start_s)
            want = plan->steps[i].mib;
    return want;
}

/* Reads a whole small file into buf (NUL-terminated). Returns bytes or -errno. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
    ssize_t n, total = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    while ((size_t)total < size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
        total += n;
    close(fd);
    buf[total] = '\0';
    return total;
}

/* Value after "key" at the start of a line ("MemTotal:" / "oom_kill "), or -1. */
static long field_value(const char *text, const char *key)
{
    size_t len = strlen(key);

    const char *p = text;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, len) == 0)
            return strtol(p + len, NULL, 10);
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

static void write_oom_score_adj(const char *value)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (write(fd, value, strlen(value)) < 0) {
        /* not fatal: outside a guest we may lack the privilege */
    }
    close(fd);
}

static bool holding_grow(Holding *h, long mib)
{
    size_t chunk_bytes = (size_t)mib * MIB;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *m;

    if (h->n_chunks >= CHUNKS_MAX)
        return false;
    m = mmap(NULL, chunk_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        h->failed++;
        return false;
    }
    /* Touch every page with a non-zero byte so no page stays shared with the zero
     * page and KSM-like merging cannot hide it. If memory is short, this is where
     * the OOM killer strikes. */
    for (size_t off = 0; off < chunk_bytes; off += (size_t)page)
        m[off] = (unsigned char)(off / (size_t)page) | 1u;
    h->chunks[h->n_chunks] = m;
    h->chunk_mib[h->n_chunks++] = mib;
    h->held_mib += mib;
    return true;
}

static void holding_shrink(Holding *h)
{
    if (h->n_chunks == 0)
        return;
    h->n_chunks--;
    munmap(h->chunks[h->n_chunks], (size_t)h->chunk_mib[h->n_chunks] * MIB);
    h->held_mib -= h->chunk_mib[h->n_chunks];
}

/* Opens the cue device in raw mode, or finds the cue an earlier worker saw. */
static void cue_open(Cue *cue, const Plan *plan)
{
    char buf[64];
    struct termios tio;

    *cue = (Cue){.fd = -1, .cued = plan->cue_path[0] == '\0'};
    if (cue->cued)
        return;
    if (read_small_file(CUE_STATE_PATH, buf, sizeof(buf)) > 0) {
        cue->cue_at = strtod(buf, NULL);
        cue->cued = true;
        return;
    }
    cue->fd = open(plan->cue_path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (cue->fd < 0) {
        printf("DYNMEM error=cue-open path=%s errno=%d\n", plan->cue_path, errno);
        return;
    }
    if (tcgetattr(cue->fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(cue->fd, TCSANOW, &tio);
    }
}

/* Reads what came on the cue device; "go" starts the plan clock at now. */
static void cue_check(Cue *cue, double now)
{
    char buf[256];
    ssize_t n;

    if (cue->cued || cue->fd < 0)
        return;
    while ((n = read(cue->fd, buf, sizeof(buf) - 1)) > 0) {
        buf[n] = '\0';
        if (strstr(buf, "go") != NULL) {
            int fd = open(CUE_STATE_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

            cue->cued = true;
            cue->cue_at = now;
            if (fd >= 0) {
                dprintf(fd, "%.3f\n", now);
                close(fd);
            }
            printf("DYNMEM event=cue up=%.3f\n", now);
            close(cue->fd);
            cue->fd = -1;
            return;
        }
    }
}

/* Sleeps up to seconds, waking early when something arrives on the cue device. */
static void cue_wait(const Cue *cue, double seconds)
{
    if (seconds <= 0)
        return;
    if (cue->fd >= 0 && !cue->cued) {
        struct pollfd pfd = {.fd = cue->fd, .events = POLLIN};

        if (poll(&pfd, 1, (int)(seconds * 1000) + 1) <= 0)
            return;
        /* a hung-up device reports POLLIN too, and read() then gives 0:
         * sleep rather than spin; a cue waiting there is read next pass */
        if (pfd.revents & (POLLHUP | POLLERR))
            usleep((useconds_t)(seconds * 1e6) + 1000);
        return;
    }
    usleep((useconds_t)(seconds * 1e6) + 1000);
}

static void report(const Holding *h, long t, long want, unsigned restarts, long up, bool cued)
{
    static char buf[16384];
    long oom_kills = -1, memtotal = -1, memavail = -1;

    if (read_small_file("/proc/vmstat", buf, sizeof(buf)) > 0)
        oom_kills = field_value(buf, "oom_kill ");
    if (read_small_file("/proc/meminfo", buf, sizeof(buf)) > 0) {
        memtotal = field_value(buf, "MemTotal:");
        memavail = field_value(buf, "MemAvailable:");
    }
    printf("DYNMEM t=%ld want=%ld held=%ld failed=%lu oom_kills=%ld restarts=%u memtotal=%ld "
           "memavail=%ld up=%ld cued=%d\n",
           t, want, h->held_mib, h->failed, oom_kills, restarts,
           memtotal < 0 ? -1 : memtotal / 1024, memavail < 0 ? -1 : memavail / 1024, up,
           cued ? 1 : 0);
    fflush(stdout);
}

/* The worker: never returns before the duration (0 = forever) ends. */
static int worker_run(const Plan *plan, double t0, long duration_s, unsigned restarts)
{
    static Holding h;
    long last_reported = -1;
    long grown_second = -1, grown_mib = 0; /* for the rate limit */
    Cue cue;

    cue_open(&cue, plan);
    for (;;) {
        double now = monotonic_s() - t0;
        long up = (long)now;
        long t;
        long want;
        bool busy = false;

        cue_check(&cue, now);
        t = cue.cued ? (long)(now - cue.cue_at) : 0;
        want = plan_want_mib(plan, t);
        if (duration_s > 0 && up >= duration_s)
            return 0;
        if (up != last_reported) {
            report(&h, t, want, restarts, up, cue.cued);
            last_reported = up;
        }
        /* One chunk per pass keeps the once-a-second report on time; after a
         * failed mmap, fall through and wait for the next second to retry. */
        if (up != grown_second) {
            grown_second = up;
            grown_mib = 0;
        }
        if (h.held_mib < want && (plan->rate_mib_s == 0 || grown_mib < plan->rate_mib_s)) {
            long mib = want - h.held_mib;

            if (mib > plan->chunk_mib)
                mib = plan->chunk_mib;
            busy = holding_grow(&h, mib);
            if (busy)
                grown_mib += mib;
        } else if (h.held_mib > want) {
            /* Drops whole chunks; a shortfall is grown back next pass. */
            holding_shrink(&h);
            busy = true;
        }
        if (!busy)
            cue_wait(&cue, (double)(up + 1) - (monotonic_s() - t0));
    }
}

int main(int argc, char **argv)
{
    static char cmdline[8192];
    const char *cmdline_text = NULL;
    long duration_s = 0;
    unsigned restarts = 0;
    double t0;
    Plan plan;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cmdline") == 0 && i + 1 < argc)
            cmdline_text = argv[++i];
        else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
            duration_s = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--cmdline TEXT] [--duration SECONDS]\n", argv[0]);
            return 2;
        }
    }
    if (cmdline_text == NULL) {
        if (read_small_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0) {
            perror("DYNMEM error=/proc/cmdline");
            return 1;
        }
        cmdline_text = cmdline;
    }
    r = plan_parse_cmdline(cmdline_text, &plan);
    if (r < 0) {
        printf("DYNMEM error=bad-plan\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("DYNMEM event=start steps=%zu loop=%ld chunk=%ld rate=%ld cue=%s\n", plan.n_steps,
           plan.loop_s, plan.chunk_mib, plan.rate_mib_s, plan.cue_path[0] ? plan.cue_path : "none");

    t0 = monotonic_s();
    write_oom_score_adj("-1000"); /* the supervisor must survive */
    for (;;) {
        int status;
        pid_t pid = fork();

        if (pid < 0) {
            printf("DYNMEM error=fork errno=%d\n", errno);
            sleep(1);
            continue;
        }
        if (pid == 0) {
            write_oom_score_adj("0"); /* the worker is the OOM victim */
            _exit(worker_run(&plan, t0, duration_s, restarts));
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status))
            return WEXITSTATUS(status); /* duration reached */
        restarts++;
        printf("DYNMEM event=worker-died t=%ld signal=%d restarts=%u\n", (long)(monotonic_s() - t0),
               WIFSIGNALED(status) ? WTERMSIG(status) : 0, restarts);
        sleep(1);
    }
}
