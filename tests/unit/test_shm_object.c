/* Host shmem objects across real processes: create/open, attach, notify, detach, the client
 * limit, names, persistence and removal. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "shm_test_util.h"

START_TEST(test_two_processes_notify)
{
    const char *name = tname("pair");
    struct chan ch;
    chan_init(&ch);
    char why[128];
    struct shm_obj *o;
    struct shm_open_args a = open_args(4, "parent");
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_OK);
    ck_assert_uint_eq(shm_obj_pages(o), 4);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    ck_assert_uint_eq(shm_client_idx(c), 0);
    memcpy(shm_obj_data(o), "hello", 6);

    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *co;
        struct shm_open_args ca = open_args(8, "child"); /* the first creator decided: 4 */
        CHILD_CHECK(shm_obj_open(name, &ca, &co, why, sizeof(why)) == SHM_OK);
        CHILD_CHECK(shm_obj_pages(co) == 4);
        CHILD_CHECK(strcmp(shm_obj_data(co), "hello") == 0);
        struct counter ccnt = {0};
        struct shm_client *cc;
        CHILD_CHECK(shm_client_attach(co, count_changed, &ccnt, &cc) == SHM_OK);
        CHILD_CHECK(shm_client_idx(cc) == 1);
        send_byte(ch.to_parent[1], 'r');
        CHILD_CHECK(recv_byte(ch.to_child[0], 5000) == 'n');
        shm_client_notify(cc, ~0u); /* all but me = the parent */
        /* The parent answers by naming us. */
        CHILD_CHECK(WAIT_FOR(shm_client_pending(cc) == 1u, 5000));
        CHILD_CHECK(WAIT_FOR(atomic_load(&ccnt.calls) > 0, 5000));
        CHILD_CHECK(shm_client_read_status(cc) == (0x3u << 16 | 1u));
        CHILD_CHECK(shm_client_read_status(cc) == 0x3u << 16); /* the read cleared it */
        shm_client_detach(cc);
        shm_obj_close(co);
        _exit(0);
    }
    ck_assert_int_eq(recv_byte(ch.to_parent[0], 5000), 'r');
    /* The child's attach reached us. */
    ck_assert(WAIT_FOR(atomic_load(&cnt.calls) > 0, 5000));
    ck_assert_uint_eq(shm_obj_attached(o), 0x3);
    ck_assert_uint_eq(shm_client_read_status(c), 0x3u << 16);
    unsigned before = atomic_load(&cnt.calls);
    send_byte(ch.to_child[1], 'n');
    ck_assert(WAIT_FOR(shm_client_pending(c) == 2u, 5000));
    ck_assert(WAIT_FOR(atomic_load(&cnt.calls) > before, 5000));
    ck_assert_uint_eq(shm_client_read_status(c), 0x3u << 16 | 2u);
    ck_assert_uint_eq(shm_client_pending(c), 0);
    shm_client_notify(c, 1u << 1);
    ck_assert_int_eq(wait_child(pid), 0);
    /* Its detach (and close) reached us. */
    ck_assert(WAIT_FOR(shm_obj_attached(o) == 0x1, 5000));
    ck_assert_uint_eq(shm_client_read_status(c) >> 16, 0x1);
    shm_client_detach(c);
    shm_obj_close(o);
    /* The last user left a non-persistent region: it is gone. */
    struct shm_open_args find = {.create = false};
    ck_assert_int_eq(shm_obj_open(name, &find, &o, why, sizeof(why)), SHM_DOES_NOT_EXIST);
}
END_TEST

START_TEST(test_notify_masks)
{
    const char *name = tname("mask");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct counter cnt[3] = {0};
    struct shm_client *c[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt[i], &c[i]), SHM_OK);
    shm_client_detach(c[1]); /* a free slot in the middle: its bit is ignored */
    shm_client_notify(c[0], ~0u);
    ck_assert_uint_eq(shm_client_pending(c[0]), 0); /* not me */
    ck_assert_uint_eq(shm_client_pending(c[2]), 1u);
    shm_client_notify(c[2], 0xffffu); /* naming every bit includes me */
    ck_assert_uint_eq(shm_client_pending(c[0]), 4u);
    ck_assert_uint_eq(shm_client_pending(c[2]), 5u);
    ck_assert_uint_eq(shm_client_read_status(c[2]), 0x5u << 16 | 5u);
    /* The same process is woken through its own watcher too. */
    ck_assert(WAIT_FOR(atomic_load(&cnt[0].calls) > 0, 2000));
    shm_client_detach(c[0]);
    shm_client_detach(c[2]);
    shm_obj_close(o);
}
END_TEST

START_TEST(test_client_max)
{
    const char *name = tname("max");
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    struct shm_client *c[SHM_OBJ_MAX_CLIENTS], *extra;
    struct counter cnt = {0};
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c[i]), SHM_OK);
        ck_assert_uint_eq(shm_client_idx(c[i]), i);
    }
    ck_assert_uint_eq(shm_obj_attached(o), 0xffff);
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &extra), SHM_CLIENT_MAX);
    /* Another process is refused too. */
    pid_t pid = fork();
    if (pid == 0) {
        struct shm_obj *co;
        struct shm_client *cc;
        CHILD_CHECK(shm_obj_open(name, &a, &co, NULL, 0) == SHM_OK);
        CHILD_CHECK(shm_client_attach(co, count_changed, &cnt, &cc) == SHM_CLIENT_MAX);
        shm_obj_close(co);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    shm_client_detach(c[5]);
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &extra), SHM_OK);
    ck_assert_uint_eq(shm_client_idx(extra), 5);
    /* Closing detaches what is left. */
    shm_obj_close(o);
}
END_TEST

START_TEST(test_same_name_same_object)
{
    const char *name = tname("ref");
    struct shm_obj *o1, *o2;
    struct shm_open_args a = open_args(2, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o1, NULL, 0), SHM_OK);
    a.pages = 7;
    ck_assert_int_eq(shm_obj_open(name, &a, &o2, NULL, 0), SHM_OK);
    ck_assert_ptr_eq(o1, o2);
    ck_assert_str_eq(shm_obj_name(o1), name);
    shm_obj_close(o2);
    ck_assert_uint_eq(shm_obj_pages(o1), 2); /* still open */
    ((char *)shm_obj_data(o1))[2 * SHM_OBJ_PAGE - 1] = 1;
    shm_obj_close(o1);
}
END_TEST

START_TEST(test_illegal_names)
{
    struct shm_obj *o;
    struct shm_open_args a = open_args(1, NULL);
    char long_name[300];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    const char *bad[] = {"", ".", "..", "a/b", "/abs", "../x", "tab\there", "del\x7f", long_name};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(shm_obj_open(bad[i], &a, &o, NULL, 0), SHM_ILLEGAL_NAME);
        ck_assert_int_eq(shm_obj_create_persistent(bad[i], 1, 0600, (gid_t)-1, NULL, 0),
                         SHM_ILLEGAL_NAME);
        errno = 0;
        ck_assert_int_eq(shm_obj_remove(bad[i]), -1);
        ck_assert_int_eq(errno, EINVAL);
    }
    ck_assert_int_eq(shm_obj_open(NULL, &a, &o, NULL, 0), SHM_ILLEGAL_NAME);
}
END_TEST

START_TEST(test_sizes_and_find)
{
    const char *name = tname("size");
    struct shm_obj *o;
    char why[128] = "";
    struct shm_open_args a = open_args(0, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_UNKNOWN);
    a.pages = SHM_OBJ_MAX_PAGES + 1ull;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_NO_MEMORY);
    ck_assert(why[0]);
    struct shm_open_args find = {.create = false};
    ck_assert_int_eq(shm_obj_open(name, &find, &o, why, sizeof(why)), SHM_DOES_NOT_EXIST);
}
END_TEST

START_TEST(test_persistent_region)
{
    const char *name = tname("pers");
    char why[128];
    ck_assert_int_eq(shm_obj_create_persistent(name, 3, 0640, (gid_t)-1, why, sizeof(why)), SHM_OK);
    ck_assert_int_eq(shm_obj_create_persistent(name, 3, 0640, (gid_t)-1, why, sizeof(why)),
                     SHM_UNKNOWN);
    ck_assert_str_eq(why, "exists");
    char path[256];
    snprintf(path, sizeof(path), "/dev/shm/" SHM_OBJ_PREFIX "%s", name);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0640); /* exactly, whatever the umask */
    struct shm_obj *o;
    struct shm_open_args find = {.create = false};
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(shm_obj_open(name, &find, &o, why, sizeof(why)), SHM_OK);
        ck_assert_uint_eq(shm_obj_pages(o), 3);
        shm_obj_close(o); /* the last user leaves: the region stays */
    }
    ck_assert_int_eq(shm_obj_remove(name), 0);
    ck_assert_int_eq(shm_obj_open(name, &find, &o, why, sizeof(why)), SHM_DOES_NOT_EXIST);
    errno = 0;
    ck_assert_int_eq(shm_obj_remove(name), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_remove_while_open)
{
    const char *name = tname("rm");
    struct shm_obj *o1, *o2;
    struct shm_open_args a = open_args(2, NULL);
    ck_assert_int_eq(shm_obj_open(name, &a, &o1, NULL, 0), SHM_OK);
    struct counter cnt = {0};
    struct shm_client *c1;
    ck_assert_int_eq(shm_client_attach(o1, count_changed, &cnt, &c1), SHM_OK);
    ck_assert_int_eq(shm_obj_remove(name), 0);
    /* The next open creates a new region; the old one keeps working for its users. */
    a.pages = 5;
    ck_assert_int_eq(shm_obj_open(name, &a, &o2, NULL, 0), SHM_OK);
    ck_assert_ptr_ne(o1, o2);
    ck_assert_uint_eq(shm_obj_pages(o2), 5);
    ck_assert_uint_eq(shm_obj_attached(o2), 0);
    memset(shm_obj_data(o1), 0xaa, 2 * SHM_OBJ_PAGE);
    shm_client_notify(c1, 1u);
    ck_assert_uint_eq(shm_client_read_status(c1), 1u << 16 | 1u);
    /* Closing the old one must not remove the new one's name. */
    shm_obj_close(o1);
    struct shm_obj *o3;
    struct shm_open_args find = {.create = false};
    ck_assert_int_eq(shm_obj_open(name, &find, &o3, NULL, 0), SHM_OK);
    ck_assert_ptr_eq(o3, o2);
    shm_obj_close(o3);
    shm_obj_close(o2);
}
END_TEST

Suite *shm_object_suite(void);
Suite *shm_object_suite(void)
{
    Suite *s = suite_create("shm_object");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_two_processes_notify);
    tcase_add_test(tc, test_notify_masks);
    tcase_add_test(tc, test_client_max);
    tcase_add_test(tc, test_same_name_same_object);
    tcase_add_test(tc, test_illegal_names);
    tcase_add_test(tc, test_sizes_and_find);
    tcase_add_test(tc, test_persistent_region);
    tcase_add_test(tc, test_remove_while_open);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shm_object_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
