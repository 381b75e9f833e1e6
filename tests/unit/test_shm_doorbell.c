/* Doorbells on the host objects: a notifier writes the target's published eventfd itself
 * (its own copy through pidfd_getfd) instead of waking the target's watcher, and falls back
 * to the watcher when it cannot (withdrawn, not an eventfd, a dead process, a bad fd). */
#include <fcntl.h>
#include <sys/eventfd.h>

#include "shm_object_internal.h"
#include "shm_test_util.h"

static uint64_t count_of(int efd)
{
    uint64_t v = 0;
    if (read(efd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static uint32_t seq_of(struct shm_obj *o, struct shm_client *c)
{
    return atomic_load(&o->hdr->clients[shm_client_idx(c)].seq);
}

/* A child process attaches to `name` and notifies client `target` `times` times; it exits
 * with how many of those rang a doorbell. */
static int child_notifies(const char *name, unsigned target, unsigned times)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *co;
        struct shm_client *cc;
        struct counter cnt = {0};
        struct shm_open_args a = open_args(1, "child");
        CHILD_CHECK(shm_obj_open(name, &a, &co, NULL, 0) == SHM_OK);
        CHILD_CHECK(shm_client_attach(co, count_changed, &cnt, &cc) == SHM_OK);
        unsigned long before = shm_stat_bells_rung();
        for (unsigned i = 0; i < times; i++)
            shm_client_notify(cc, 1u << target);
        unsigned long rung = shm_stat_bells_rung() - before;
        shm_client_detach(cc);
        shm_obj_close(co);
        _exit((int)rung);
    }
    return wait_child(pid);
}

/* Whether a child of ours may copy our fds (Yama's ptrace_scope 1 refuses that direction). */
static bool child_can_getfd(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(can_getfd(getppid()) ? 0 : 1);
    return wait_child(pid) == 0;
}

#define SKIP_WITHOUT_GETFD(ok)                                                                     \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            fprintf(stderr, "%s: pidfd_getfd refused here: doorbells fall back (not tested)\n",    \
                    __func__);                                                                     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

struct fixture {
    const char *name;
    struct shm_obj *o;
    struct shm_client *c;
    struct counter cnt;
};

static void open_fixture(struct fixture *f, const char *tag)
{
    memset(f, 0, sizeof(*f));
    f->name = tname(tag);
    struct shm_open_args a = open_args(1, "parent");
    ck_assert_int_eq(shm_obj_open(f->name, &a, &f->o, NULL, 0), SHM_OK);
    ck_assert_int_eq(shm_client_attach(f->o, count_changed, &f->cnt, &f->c), SHM_OK);
}

START_TEST(child_rings_the_parents_doorbell)
{
    SKIP_WITHOUT_GETFD(child_can_getfd());
    struct fixture f;
    open_fixture(&f, "bell");
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_ge(efd, 0);
    shm_client_set_doorbell(f.c, efd);
    uint32_t seq = seq_of(f.o, f.c);
    ck_assert_int_eq(child_notifies(f.name, shm_client_idx(f.c), 3), 3);
    ck_assert_uint_eq(count_of(efd), 3);
    /* the pending bit is set, and no watcher hop was asked for */
    ck_assert_uint_eq(shm_client_read_status(f.c) & 0xffff, 1u << 1);
    ck_assert_uint_eq(seq_of(f.o, f.c), seq);

    /* withdrawn: back to the watcher */
    shm_client_set_doorbell(f.c, -1);
    unsigned calls = atomic_load(&f.cnt.calls);
    ck_assert_int_eq(child_notifies(f.name, shm_client_idx(f.c), 1), 0);
    ck_assert_uint_eq(count_of(efd), 0);
    ck_assert_uint_ne(seq_of(f.o, f.c), seq);
    ck_assert(WAIT_FOR(atomic_load(&f.cnt.calls) > calls, 2000));
    ck_assert_uint_eq(shm_client_read_status(f.c) & 0xffff, 1u << 1);
    shm_obj_close(f.o);
    close(efd);
}
END_TEST

/* What is published must be a non-blocking eventfd of the process owning the slot. */
START_TEST(not_an_eventfd_falls_back)
{
    struct fixture f;
    open_fixture(&f, "pipe");
    int p[2];
    ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    int blocking = eventfd(0, EFD_CLOEXEC);
    int cases[] = {p[1], blocking, 1000 /* not open */};
    for (unsigned i = 0; i < 3; i++) {
        shm_client_set_doorbell(f.c, cases[i]);
        uint32_t seq = seq_of(f.o, f.c);
        ck_assert_int_eq(child_notifies(f.name, shm_client_idx(f.c), 2), 0);
        ck_assert_uint_ne(seq_of(f.o, f.c), seq);
        ck_assert(WAIT_FOR(shm_client_pending(f.c) != 0, 2000));
        shm_client_read_status(f.c);
    }
    char b;
    ck_assert_int_eq(read(p[0], &b, 1), -1); /* nothing was written to the pipe */
    struct pollfd pf = {.fd = blocking, .events = POLLIN};
    ck_assert_int_eq(poll(&pf, 1, 0), 0); /* nor to the blocking eventfd */
    shm_obj_close(f.o);
    close(p[0]);
    close(p[1]);
    close(blocking);
}
END_TEST

START_TEST(dead_process_falls_back)
{
    SKIP_WITHOUT_GETFD(can_getfd(getpid()));
    struct fixture f;
    open_fixture(&f, "dead");
    struct shm_client *n;
    ck_assert_int_eq(shm_client_attach(f.o, NULL, NULL, &n), SHM_OK);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    shm_client_set_doorbell(f.c, efd);
    /* Our own notifications ring it too (same process: the same path). */
    unsigned long rung = shm_stat_bells_rung();
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    ck_assert_uint_eq(shm_stat_bells_rung(), rung + 1);
    ck_assert_uint_eq(count_of(efd), 1);
    /* A doorbell naming a process that is gone (a forged header: the slot's owner pid and
     * the doorbell's): the notify falls back to the watcher. */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    ck_assert_int_eq(wait_child(dead), 0);
    struct shm_header *h = f.o->hdr;
    int32_t mine = h->users[f.o->me].pid;
    ck_assert_int_eq(shm_hdr_lock(h), 0);
    h->users[f.o->me].pid = dead;
    atomic_store(&h->doorbells[shm_client_idx(f.c)].pid, dead);
    shm_hdr_unlock(h);
    uint32_t seq = seq_of(f.o, f.c);
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    shm_client_notify(n, 1u << shm_client_idx(f.c)); /* the failure is remembered */
    ck_assert_uint_eq(shm_stat_bells_rung(), rung + 1);
    ck_assert_uint_eq(seq_of(f.o, f.c), seq + 2);
    ck_assert(WAIT_FOR(atomic_load(&f.cnt.calls) >= 1, 2000));
    /* A doorbell pid other than the slot owner's is ignored outright. */
    ck_assert_int_eq(shm_hdr_lock(h), 0);
    h->users[f.o->me].pid = mine;
    shm_hdr_unlock(h);
    ck_assert_uint_eq(seq_of(f.o, f.c), seq + 2);
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    ck_assert_uint_eq(seq_of(f.o, f.c), seq + 3);
    ck_assert_uint_eq(count_of(efd), 0);
    shm_obj_close(f.o);
    close(efd);
}
END_TEST

/* A new publication (new generation) replaces the cached copy. */
START_TEST(republished_doorbell_is_fetched_again)
{
    SKIP_WITHOUT_GETFD(can_getfd(getpid()));
    struct fixture f;
    open_fixture(&f, "gen");
    struct shm_client *n;
    ck_assert_int_eq(shm_client_attach(f.o, NULL, NULL, &n), SHM_OK);
    int e1 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), e2 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    shm_client_set_doorbell(f.c, e1);
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    shm_client_set_doorbell(f.c, e2);
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    ck_assert_uint_eq(count_of(e1), 1);
    ck_assert_uint_eq(count_of(e2), 2);
    /* the same fd number published again (closed and reopened in between) */
    close(e1);
    int e3 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ck_assert_int_eq(e3, e1);
    shm_client_set_doorbell(f.c, e3);
    shm_client_notify(n, 1u << shm_client_idx(f.c));
    ck_assert_uint_eq(count_of(e3), 1);
    /* a detach withdraws it: a new client in the slot has none */
    unsigned idx = shm_client_idx(f.c);
    shm_client_detach(f.c);
    ck_assert_int_eq(atomic_load(&f.o->hdr->doorbells[idx].pid), 0);
    shm_obj_close(f.o);
    close(e2);
    close(e3);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shm_doorbell");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, child_rings_the_parents_doorbell);
    tcase_add_test(tc, not_an_eventfd_falls_back);
    tcase_add_test(tc, dead_process_falls_back);
    tcase_add_test(tc, republished_doorbell_is_fetched_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
