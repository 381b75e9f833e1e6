/* Helpers for the host shmem object tests: unique names, child processes driven over pipes,
 * waiting for a condition with a deadline, a `changed` callback that counts (shm_test_util.c,
 * in test_support). */
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
const char *tname(const char *tag);

/* Create-or-attach arguments: mode 0600, the process's group. */
struct shm_open_args open_args(uint64_t pages, const char *who);
/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ms_now(void);

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

void count_changed(void *arg); /* a `changed` callback: arg is a struct counter */

/* A pipe pair between parent and child: each side sends and receives single bytes. */
struct chan {
    int to_child[2], to_parent[2];
};

void chan_init(struct chan *ch);

/* A byte from fd within ms milliseconds, or -1. */
int recv_byte(int fd, int ms);
void send_byte(int fd, int b); /* aborts if the write fails */

/* In the child: exits with status 1 and a message when `cond` is false. */
#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child %d: %s:%d: %s\n", (int)getpid(), __FILE__, __LINE__, #cond);    \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* The child's exit status, 128 + signal if killed, -1 if waitpid failed. */
int wait_child(pid_t pid);

/* Whether this process may copy fds of process `pid` (pidfd_getfd: ptrace access; a
 * container's seccomp profile or Yama may refuse it). Doorbells need it; without it
 * notifications fall back to the watchers, and the tests that look for rings say so. */
bool can_getfd(pid_t pid);

#endif
