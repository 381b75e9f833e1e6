/* Grace periods (core/epoch.c): a writer's synchronize waits for sections open when it was
 * called and only those; retired objects are freed once no earlier section is open; the
 * retire list stays bounded; a fork child is not held up by its parent's other threads. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../core/epoch.h"

struct holder {
    atomic_int stage; /* 1: in a section; 2: asked to leave; 3: left */
};

static void *hold_section(void *arg)
{
    struct holder *h = arg;
    vdev_epoch_enter();
    atomic_store(&h->stage, 1);
    while (atomic_load(&h->stage) != 2)
        usleep(100);
    vdev_epoch_leave();
    atomic_store(&h->stage, 3);
    return NULL;
}

static atomic_int sync_done;

static void *do_synchronize(void *arg)
{
    (void)arg;
    vdev_epoch_synchronize();
    atomic_store(&sync_done, 1);
    return NULL;
}

START_TEST(synchronize_waits_for_open_sections)
{
    struct holder h = {0};
    pthread_t reader, writer;
    pthread_create(&reader, NULL, hold_section, &h);
    while (atomic_load(&h.stage) != 1)
        usleep(100);
    atomic_store(&sync_done, 0);
    pthread_create(&writer, NULL, do_synchronize, NULL);
    usleep(50 * 1000);
    ck_assert_int_eq(atomic_load(&sync_done), 0); /* the reader is still inside */
    atomic_store(&h.stage, 2);
    pthread_join(writer, NULL);
    ck_assert_int_eq(atomic_load(&sync_done), 1);
    pthread_join(reader, NULL);
}
END_TEST

START_TEST(own_section_does_not_block_synchronize)
{
    vdev_epoch_enter();
    vdev_epoch_enter(); /* nested */
    ck_assert(vdev_epoch_in_section());
    vdev_epoch_synchronize();
    vdev_epoch_leave();
    ck_assert(vdev_epoch_in_section());
    vdev_epoch_leave();
    ck_assert(!vdev_epoch_in_section());
}
END_TEST

static atomic_int freed;

static void count_free(void *p)
{
    free(p);
    atomic_fetch_add(&freed, 1);
}

START_TEST(retired_freed_after_earlier_sections_end)
{
    struct vdev_retire_list l = {0};
    struct holder h = {0};
    pthread_t reader;
    pthread_create(&reader, NULL, hold_section, &h);
    while (atomic_load(&h.stage) != 1)
        usleep(100);
    atomic_store(&freed, 0);
    for (int i = 0; i < 10; i++)
        vdev_epoch_retire(&l, malloc(16), count_free);
    ck_assert_int_eq(atomic_load(&freed), 0); /* the reader may still see them */
    /* A section that begins now cannot see them: it does not hold them back. */
    vdev_epoch_enter();
    atomic_store(&h.stage, 2);
    pthread_join(reader, NULL);
    vdev_epoch_reclaim(&l, false);
    ck_assert_int_eq(atomic_load(&freed), 10);
    ck_assert_uint_eq(l.n, 0);
    vdev_epoch_leave();
    vdev_epoch_reclaim(&l, true); /* the owner's last call releases the list itself */
}
END_TEST

static void *release_later(void *arg)
{
    struct holder *h = arg;
    usleep(50 * 1000);
    atomic_store(&h->stage, 2);
    return NULL;
}

START_TEST(retire_list_stays_bounded)
{
    struct vdev_retire_list l = {0};
    struct holder h = {0};
    pthread_t reader;
    pthread_create(&reader, NULL, hold_section, &h);
    while (atomic_load(&h.stage) != 1)
        usleep(100);
    atomic_store(&freed, 0);
    for (int i = 0; i < VDEV_RETIRE_MAX; i++)
        vdev_epoch_retire(&l, malloc(16), count_free);
    ck_assert_uint_eq(l.n, VDEV_RETIRE_MAX);
    /* One more must wait for the reader, which leaves 50 ms later. */
    pthread_t releaser;
    pthread_create(&releaser, NULL, release_later, &h);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vdev_epoch_retire(&l, malloc(16), count_free);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 40);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(atomic_load(&freed), VDEV_RETIRE_MAX + 1);
    pthread_join(releaser, NULL);
    pthread_join(reader, NULL);
}
END_TEST

START_TEST(fork_child_is_not_held_by_parent_threads)
{
    struct holder h = {0};
    pthread_t reader;
    pthread_create(&reader, NULL, hold_section, &h);
    while (atomic_load(&h.stage) != 1)
        usleep(100);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        vdev_epoch_synchronize(); /* the reader thread does not exist here */
        _exit(0);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    atomic_store(&h.stage, 2);
    pthread_join(reader, NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("epoch");
    TCase *tc = tcase_create("grace");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, synchronize_waits_for_open_sections);
    tcase_add_test(tc, own_section_does_not_block_synchronize);
    tcase_add_test(tc, retired_freed_after_earlier_sections_end);
    tcase_add_test(tc, retire_list_stays_bounded);
    tcase_add_test(tc, fork_child_is_not_held_by_parent_threads);
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
