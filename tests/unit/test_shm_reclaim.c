/* Host shmem objects when processes die or race: SIGKILL reclaim, a death while holding the
 * header lock, stale regions, racing creators, callbacks and detach. */
#include <pthread.h>

#include "shm_object_internal.h"
#include "shm_test_util.h"

/* A child that opens the region, attaches `n` clients, says 'r' and waits to be killed. */
static pid_t spawn_holder(const char *name, unsigned n, struct chan *ch)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *o;
        struct shm_open_args a = open_args(2, "holder");
        CHILD_CHECK(shm_obj_open(name, &a, &o, NULL, 0) == SHM_OK);
        static struct counter cnt;
        for (unsigned i = 0; i < n; i++) {
            struct shm_client *c;
            CHILD_CHECK(shm_client_attach(o, count_changed, &cnt, &c) == SHM_OK);
        }
        send_byte(ch->to_parent[1], 'r');
        for (;;)
            pause();
    }
    ck_assert_int_eq(recv_byte(ch->to_parent[0], 5000), 'r');
    return pid;
}

START_TEST(test_sigkill_reclaims)
{
    const char *name = tname("kill");
    struct chan ch;
    chan_init(&ch);
    struct shm_obj *o;
    struct shm_open_args a = open_args(2, "survivor");
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    pid_t pid = spawn_holder(name, SHM_OBJ_MAX_CLIENTS - 1, &ch);
    ck_assert_uint_eq(shm_obj_attached(o), 0xffff);
    ck_assert(WAIT_FOR(atomic_load(&cnt.calls) > 0, 2000));
    unsigned before = atomic_load(&cnt.calls);
    uint64_t t0 = ms_now();
    kill(pid, SIGKILL);
    ck_assert_int_eq(wait_child(pid), 128 + SIGKILL);
    /* Our watcher's sweep finds it dead, frees its slots and tells our client. */
    ck_assert(WAIT_FOR(shm_obj_attached(o) == 0x1, 10 * SHM_OBJ_SWEEP_MS));
    ck_assert(WAIT_FOR(atomic_load(&cnt.calls) > before, 1000));
    ck_assert_uint_le(ms_now() - t0, 5 * SHM_OBJ_SWEEP_MS); /* "a few sweeps" */
    ck_assert_uint_eq(shm_client_read_status(c) >> 16, 0x1);
    /* Every slot is reusable. */
    struct shm_client *more[SHM_OBJ_MAX_CLIENTS - 1];
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS - 1; i++)
        ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &more[i]), SHM_OK);
    shm_obj_close(o);
}
END_TEST

START_TEST(test_last_close_after_a_death_removes)
{
    /* The survivor closes before any sweep saw the other die: the region still goes. */
    const char *name = tname("last");
    struct chan ch;
    chan_init(&ch);
    struct shm_obj *o;
    struct shm_open_args a = open_args(2, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    pid_t pid = spawn_holder(name, 1, &ch);
    kill(pid, SIGKILL);
    wait_child(pid);
    shm_obj_close(o);
    char path[256];
    snprintf(path, sizeof(path), "/dev/shm/" SHM_OBJ_PREFIX "%s", name);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_full_region_reclaims_on_attach)
{
    /* A process that died since the last sweep does not make an attach fail. */
    const char *name = tname("full");
    struct chan ch;
    chan_init(&ch);
    pid_t pid = spawn_holder(name, SHM_OBJ_MAX_CLIENTS, &ch);
    struct shm_obj *o;
    struct shm_open_args a = open_args(2, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_CLIENT_MAX);
    kill(pid, SIGKILL);
    wait_child(pid);
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    shm_obj_close(o);
}
END_TEST

START_TEST(test_death_holding_header_lock)
{
    const char *name = tname("lock");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    pid_t pid = fork();
    if (pid == 0) {
        /* Dies in the middle of an attach: slot 7 marked attached, its owner not written. */
        struct shm_header *h = o->hdr;
        CHILD_CHECK(pthread_mutex_lock(&h->lock) == 0);
        atomic_store(&h->clients[7].user, 63);
        atomic_fetch_or(&h->attached, 1u << 7);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    /* The next operation gets the lock back and undoes the half-done attach. */
    struct shm_client *c2;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c2), SHM_OK);
    ck_assert_uint_eq(shm_client_idx(c2), 1);
    ck_assert_uint_eq(shm_obj_attached(o), 0x3);
    shm_client_notify(c2, ~0u);
    ck_assert_uint_eq(shm_client_read_status(c), 0x3u << 16 | 2u);
    shm_obj_close(o);
}
END_TEST

START_TEST(test_stale_region)
{
    const char *name = tname("stale");
    /* A process creates the region and dies without closing it. */
    for (int round = 0; round < 2; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct shm_obj *o;
            struct shm_open_args a = open_args(4, NULL);
            CHILD_CHECK(shm_obj_open(name, &a, &o, NULL, 0) == SHM_OK);
            struct shm_client *c;
            static struct counter cnt;
            CHILD_CHECK(shm_client_attach(o, count_changed, &cnt, &c) == SHM_OK);
            _exit(0);
        }
        ck_assert_int_eq(wait_child(pid), 0);
        struct shm_obj *o;
        char why[128];
        if (round == 0) {
            /* Create: the stale one is replaced with the size asked for now. */
            struct shm_open_args a = open_args(9, NULL);
            ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_OK);
            ck_assert_uint_eq(shm_obj_pages(o), 9);
            ck_assert_uint_eq(shm_obj_attached(o), 0);
            shm_obj_close(o);
        } else {
            /* Find: does not exist, and the leftover is removed. */
            struct shm_open_args find = {.create = false};
            ck_assert_int_eq(shm_obj_open(name, &find, &o, why, sizeof(why)), SHM_DOES_NOT_EXIST);
            ck_assert_int_eq(shm_obj_remove(name), -1);
        }
    }
}
END_TEST

START_TEST(test_racing_creators)
{
    const char *name = tname("race");
    enum { N = 8 };
    int go[2], res[2], done[2];
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(res), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(go[1]);
            close(done[1]);
            char b;
            CHILD_CHECK(read(go[0], &b, 1) == 0); /* all start when the parent closes it */
            struct shm_obj *o;
            struct shm_open_args a = open_args((uint64_t)i + 1, NULL);
            CHILD_CHECK(shm_obj_open(name, &a, &o, NULL, 0) == SHM_OK);
            uint64_t pages = shm_obj_pages(o);
            CHILD_CHECK(write(res[1], &pages, sizeof(pages)) == sizeof(pages));
            /* Stay open until everyone has reported, so the region is never stale. */
            CHILD_CHECK(read(done[0], &b, 1) == 0);
            shm_obj_close(o);
            _exit(0);
        }
    }
    close(go[0]);
    close(go[1]);
    uint64_t first = 0;
    for (int i = 0; i < N; i++) {
        uint64_t pages;
        ck_assert_int_eq(read(res[0], &pages, sizeof(pages)), sizeof(pages));
        if (i == 0)
            first = pages;
        ck_assert_uint_eq(pages, first);
    }
    close(done[1]);
    ck_assert_uint_ge(first, 1);
    ck_assert_uint_le(first, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(wait_child(pids[i]), 0);
    struct shm_obj *o;
    struct shm_open_args find = {.create = false};
    ck_assert_int_eq(shm_obj_open(name, &find, &o, NULL, 0), SHM_DOES_NOT_EXIST);
}
END_TEST

/* Detach waits for a callback in flight; callbacks run with no lock of ours held. */
struct slow {
    atomic_int in, out;
    struct shm_client *_Atomic peer; /* notifies from inside the callback */
};

static void slow_changed(void *arg)
{
    struct slow *s = arg;
    atomic_store(&s->in, 1);
    usleep(150 * 1000);
    struct shm_client *p = atomic_load(&s->peer);
    if (p)
        shm_client_notify(p, ~0u); /* would deadlock if a lock were held */
    atomic_store(&s->out, 1);
}

START_TEST(test_detach_waits_for_callback)
{
    const char *name = tname("cb");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct slow s = {0};
    struct counter cnt = {0};
    struct shm_client *c, *other;
    ck_assert_int_eq(shm_client_attach(o, slow_changed, &s, &c), SHM_OK);
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &other), SHM_OK);
    atomic_store(&s.peer, c);
    ck_assert(WAIT_FOR(atomic_load(&s.in), 2000)); /* the other's attach */
    shm_client_detach(c);
    ck_assert_int_eq(atomic_load(&s.out), 1);
    ck_assert(WAIT_FOR(shm_client_pending(other) == 1u, 2000));
    shm_obj_close(o);
}
END_TEST

/* A client that detaches itself from its own callback. */
struct selfdetach {
    struct shm_client *c;
    atomic_int done;
};

static void detach_self(void *arg)
{
    struct selfdetach *s = arg;
    if (s->c && !atomic_load(&s->done)) {
        shm_client_detach(s->c);
        atomic_store(&s->done, 1);
    }
}

START_TEST(test_detach_from_callback)
{
    const char *name = tname("self");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct selfdetach s = {0};
    struct counter cnt = {0};
    struct shm_client *other;
    ck_assert_int_eq(shm_client_attach(o, detach_self, &s, &s.c), SHM_OK);
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &other), SHM_OK);
    ck_assert(WAIT_FOR(atomic_load(&s.done), 2000));
    ck_assert(WAIT_FOR(shm_obj_attached(o) == 0x2, 2000));
    shm_obj_close(o);
}
END_TEST

Suite *shm_reclaim_suite(void);
Suite *shm_reclaim_suite(void)
{
    Suite *s = suite_create("shm_reclaim");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sigkill_reclaims);
    tcase_add_test(tc, test_full_region_reclaims_on_attach);
    tcase_add_test(tc, test_last_close_after_a_death_removes);
    tcase_add_test(tc, test_death_holding_header_lock);
    tcase_add_test(tc, test_stale_region);
    tcase_add_test(tc, test_racing_creators);
    tcase_add_test(tc, test_detach_waits_for_callback);
    tcase_add_test(tc, test_detach_from_callback);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shm_reclaim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
