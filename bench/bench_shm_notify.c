/* Cross-process notification latency of the host shmem objects: two processes attach to one
 * region; the parent notifies, the child's `changed` callback (on its watcher thread) reads
 * its status and notifies back, the parent's callback wakes the measuring thread. Prints the
 * round trip (median, p99) and half of it as the one-way notify -> changed latency. Each leg
 * is a futex wake of the peer's watcher: what a guest's notify costs before the interrupt.
 * A benchmark, not a test.
 *
 * Usage: bench_shm_notify [round trips, default 2000] */
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/shm_object.h"

static struct shm_client *me;
static sem_t answered;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Child: answer every notification. */
static void echo(void *arg)
{
    if (me && (shm_client_read_status(me) & 0xffffu))
        shm_client_notify(me, ~0u);
}

/* Parent: the answer arrived. */
static void arrived(void *arg)
{
    if (me && (shm_client_read_status(me) & 0xffffu))
        sem_post(&answered);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (n < 10)
        n = 10;
    char name[64];
    snprintf(name, sizeof(name), "bench-%d", (int)getpid());
    struct shm_open_args a = {.pages = 1, .create = true, .mode = 0600, .gid = (gid_t)-1};
    int ready[2];
    if (pipe(ready))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *o;
        struct shm_client *c;
        a.who = "echo";
        if (shm_obj_open(name, &a, &o, NULL, 0) || shm_client_attach(o, echo, NULL, &c))
            _exit(1);
        me = c;
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char b;
    if (read(ready[0], &b, 1) != 1) {
        fprintf(stderr, "bench_shm_notify: the child failed to attach\n");
        return 1;
    }
    sem_init(&answered, 0, 0);
    struct shm_obj *o;
    struct shm_client *c;
    a.who = "bench";
    if (shm_obj_open(name, &a, &o, NULL, 0) || shm_client_attach(o, arrived, NULL, &c)) {
        kill(pid, SIGKILL);
        return 1;
    }
    me = c;
    uint64_t *rtt = calloc((size_t)n, sizeof(*rtt));
    for (int i = -50; i < n; i++) { /* 50 warm-up rounds */
        uint64_t t0 = now_ns();
        shm_client_notify(c, ~0u);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 2;
        if (sem_timedwait(&answered, &dl)) {
            fprintf(stderr, "bench_shm_notify: no answer after round %d\n", i);
            break;
        }
        if (i >= 0)
            rtt[i] = now_ns() - t0;
    }
    qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
    uint64_t med = rtt[n / 2], p99 = rtt[n * 99 / 100];
    printf("shm notify round trip over %d rounds: median %.1f us, p99 %.1f us, min %.1f us\n", n,
           med / 1e3, p99 / 1e3, rtt[0] / 1e3);
    printf("one way (notify -> peer's changed), median: %.1f us\n", med / 2e3);
    free(rtt);
    shm_obj_close(o);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    shm_obj_remove(name); /* the child died holding it: not left behind */
    return 0;
}
