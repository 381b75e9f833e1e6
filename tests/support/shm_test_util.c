/* The host shmem tests' helpers (shm_test_util.h), compiled once into test_support. */
#include "shm_test_util.h"

#include <sys/syscall.h>

const char *tname(const char *tag)
{
    static char buf[8][64];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, 64, "t%d-%s", (int)getpid(), tag);
    return b;
}

struct shm_open_args open_args(uint64_t pages, const char *who)
{
    return (struct shm_open_args){
        .pages = pages, .create = true, .mode = 0600, .gid = (gid_t)-1, .who = who};
}

uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void count_changed(void *arg)
{
    struct counter *c = arg;
    atomic_fetch_add(&c->calls, 1);
}

void chan_init(struct chan *ch)
{
    ck_assert_int_eq(pipe(ch->to_child), 0);
    ck_assert_int_eq(pipe(ch->to_parent), 0);
}

int recv_byte(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) != 1)
        return -1;
    unsigned char b;
    return read(fd, &b, 1) == 1 ? b : -1;
}

void send_byte(int fd, int b)
{
    unsigned char v = (unsigned char)b;
    if (write(fd, &v, 1) != 1)
        abort();
}

int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

bool can_getfd(pid_t pid)
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
