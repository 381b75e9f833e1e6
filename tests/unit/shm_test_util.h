/* Helpers for the host shmem object tests: unique names, child processes driven over pipes,
 * waiting for a condition with a deadline, a `changed` callback that counts. */
#ifndef SHM_TEST_UTIL_H
#define SHM_TEST_UTIL_H

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/shm_object.h"

/* A name unique to this test process (Check forks one per test). */
static inline const char *tname(const char *tag)
{
    static char buf[8][64];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, 64, "t%d-%s", (int)getpid(), tag);
    return b;
}

static inline struct shm_open_args open_args(uint64_t pages, const char *who)
{
    return (struct shm_open_args){
        .pages = pages, .create = true, .mode = 0600, .gid = (gid_t)-1, .who = who};
}

static inline uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Polls `cond` until true or `ms` elapse; evaluates to the last value. */
#define WAIT_FOR(cond, ms)                                                                         \
    ({                                                                                             \
        uint64_t wf_end_ = ms_now() + (ms);                                                        \
        bool wf_ok_;                                                                               \
        while (!(wf_ok_ = (cond)) && ms_now() < wf_end_)                                           \
            usleep(1000);                                                                          \
        wf_ok_;                                                                                    \
    })

struct counter {
    atomic_uint calls;
};

static inline void count_changed(void *arg)
{
    struct counter *c = arg;
    atomic_fetch_add(&c->calls, 1);
}

/* A pipe pair between parent and child: each side sends and receives single bytes. */
struct chan {
    int to_child[2], to_parent[2];
};

static inline void chan_init(struct chan *ch)
{
    ck_assert_int_eq(pipe(ch->to_child), 0);
    ck_assert_int_eq(pipe(ch->to_parent), 0);
}

static inline int recv_byte(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    unsigned char b;
    return read(fd, &b, 1) == 1 ? b : -1;
}

static inline void send_byte(int fd, int b)
{
    unsigned char v = (unsigned char)b;
    if (write(fd, &v, 1) != 1)
        abort();
}

/* In the child: exits with status 1 and a message when `cond` is false. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, __LINE__, #cond);    \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static inline int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Whether this process may copy fds of process `pid` (pidfd_getfd: ptrace access; a
 * container's seccomp profile or Yama may refuse it). Doorbells need it; without it
 * notifications fall back to the watchers, and the tests that look for rings say so. */
static inline bool can_getfd(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0)
        return false;
    int fd = (int)syscall(SYS_pidfd_getfd, pfd, 0, 0);
    close(pfd);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

#endif
