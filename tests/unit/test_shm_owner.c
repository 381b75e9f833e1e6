/* Host shmem objects made by someone else are never used: an object under the region prefix
 * owned by another user (a squatter who made /dev/shm/vdevkit-shm.NAME before any VM) is
 * refused with a message naming the path and its owner, before anything is mapped; a VM
 * with `create NAME,...` does not start on it; our own objects open to others beyond what
 * this process would make are refused; temporary names taken by a squatter cost only a
 * retry. Needs root to make objects of uid 65534 (skipped otherwise). */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_embedder.h"
#include "shm_test_util.h"

#define OTHER_UID 65534

static void path_of(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "/dev/shm/" SHM_OBJ_PREFIX "%s", name);
}

struct found {
    const char *want;
    int seen;
    struct shm_obj_info info;
};

static void collect(const struct shm_obj_info *info, void *arg)
{
    struct found *f = arg;
    if (strcmp(info->name, f->want) == 0) {
        f->seen++;
        f->info = *info;
    }
}

/* A valid region, then given to another user as a squatter's would be. */
static void squat(const char *name, unsigned mode)
{
    ck_assert_int_eq(shm_obj_create_persistent(name, 4, mode, (gid_t)-1, NULL, 0), SHM_OK);
    char p[256];
    path_of(name, p, sizeof(p));
    int fd = open(p, O_RDWR | O_NOFOLLOW);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchown(fd, OTHER_UID, OTHER_UID), 0);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

START_TEST(squatted_object_refused)
{
    if (geteuid() != 0)
        return;
    const char *name = tname("sq");
    squat(name, 0666);
    char why[256] = "", p[256], want[300];
    path_of(name, p, sizeof(p));
    struct shm_obj *o = NULL;
    struct shm_open_args a = open_args(4, "vm");
    a.mode = 0666;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_NO_PERMISSION);
    ck_assert_ptr_null(o);
    snprintf(want, sizeof(want), "%s is owned by uid %d (", p, OTHER_UID);
    ck_assert_msg(strstr(why, want) == why, "%s", why);
    ck_assert_msg(strstr(why, "not by this user (uid 0 (root)) or root: not used (hint: "), "%s",
                  why);
    /* Find only (a guest attaching by name): refused the same way. */
    a.create = false;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_NO_PERMISSION);
    /* Nobody attached: the squatter's header shows no user. */
    struct found f = {.want = name};
    shm_obj_list(collect, &f);
    ck_assert_int_eq(f.seen, 1);
    ck_assert(f.info.foreign);
    ck_assert_uint_eq(f.info.uid, OTHER_UID);
    /* `vdevkit shmem create` does not take it over either; root may remove it. */
    ck_assert_int_eq(shm_obj_create_persistent(name, 1, 0600, (gid_t)-1, why, sizeof(why)),
                     SHM_UNKNOWN);
    ck_assert_msg(strstr(why, "exists: ") == why && strstr(why, "uid 65534"), "%s", why);
    ck_assert_int_eq(shm_obj_remove(name), 0);
    /* Gone: now ours. */
    a.create = true;
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_OK);
    shm_obj_close(o);
}
END_TEST

START_TEST(squatted_garbage_refused_unmapped)
{
    if (geteuid() != 0)
        return;
    const char *name = tname("gb");
    char p[256], why[256] = "";
    path_of(name, p, sizeof(p));
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0666);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 3 * 4096), 0);
    ck_assert_int_eq(fchown(fd, OTHER_UID, OTHER_UID), 0);
    close(fd);
    struct shm_obj *o = NULL;
    struct shm_open_args a = open_args(1, "vm");
    ck_assert_int_eq(shm_obj_open(name, &a, &o, why, sizeof(why)), SHM_NO_PERMISSION);
    ck_assert_msg(strstr(why, "uid 65534"), "%s", why); /* not "corrupt": never looked at */
    ck_assert_int_eq(unlink(p), 0);
}
END_TEST

/* A VM whose `create` names a squatted region does not start. */
START_TEST(vm_with_create_does_not_start)
{
    if (geteuid() != 0)
        return;
    const char *name = tname("vm");
    squat(name, 0600);
    struct fake_embedder fe;
    struct vdev_err err;
    char conf[256];
    snprintf(conf, sizeof(conf), "ram 16M vdev shmem loc 0xd0000000 intr ioapic:5 create %s,16k",
             name);
    fake_machine_new(&fe);
    ck_assert_int_eq(fake_machine_build_string(&fe, conf, &err), -1);
    ck_assert_msg(strstr(err.msg, "option 'create'") && strstr(err.msg, "owned by uid 65534"), "%s",
                  err.msg);
    fake_machine_free(&fe);
    ck_assert_int_eq(shm_obj_remove(name), 0);
}
END_TEST

/* As another user: an object of that user open to everyone is used only by an opener that
 * makes its regions that open too; root's (an administrator's) keep their mode. */
START_TEST(own_object_wider_than_our_mode_refused)
{
    if (geteuid() != 0)
        return;
    const char *name = tname("wide"), *rootname = tname("root");
    struct shm_obj *ro;
    struct shm_open_args ra = open_args(1, NULL);
    ra.mode = 0666;
    ck_assert_int_eq(shm_obj_open(rootname, &ra, &ro, NULL, 0), SHM_OK);
    pid_t pid = fork();
    if (pid == 0) {
        CHILD_CHECK(setgid(OTHER_UID) == 0 && setuid(OTHER_UID) == 0);
        struct shm_obj *o, *o2;
        struct shm_open_args a = open_args(1, NULL);
        a.mode = 0666;
        CHILD_CHECK(shm_obj_open(name, &a, &o, NULL, 0) == SHM_OK);
        /* A second process of this user with umask 077 would not share it with everyone. */
        pid_t p2 = fork();
        if (p2 == 0) {
            char why[256] = "";
            struct shm_open_args b = open_args(1, NULL); /* mode 0600 */
            CHILD_CHECK(shm_obj_open(name, &b, &o2, why, sizeof(why)) == SHM_NO_PERMISSION);
            CHILD_CHECK(strstr(why, "is writable by others and readable by others (mode 0666)"));
            b.mode = 0644;
            CHILD_CHECK(shm_obj_open(name, &b, &o2, why, sizeof(why)) == SHM_NO_PERMISSION);
            CHILD_CHECK(strstr(why, "is writable by others (mode 0666)"));
            b.mode = 0666;
            CHILD_CHECK(shm_obj_open(name, &b, &o2, why, sizeof(why)) == SHM_OK);
            shm_obj_close(o2);
            /* root's region: its mode is root's choice. */
            b.mode = 0600;
            CHILD_CHECK(shm_obj_open(rootname, &b, &o2, why, sizeof(why)) == SHM_OK);
            shm_obj_close(o2);
            _exit(0);
        }
        CHILD_CHECK(wait_child(p2) == 0);
        shm_obj_close(o);
        _exit(0);
    }
    ck_assert_int_eq(wait_child(pid), 0);
    shm_obj_close(ro);
}
END_TEST

/* Temporary names are made with O_EXCL: squatted ones are skipped, never used. */
START_TEST(squatted_tmp_names_skipped)
{
    if (geteuid() != 0)
        return;
    char p[128];
    for (unsigned n = 0; n < 8; n++) {
        snprintf(p, sizeof(p), "/dev/shm/vdevkit-shmtmp.%d.%u", (int)getpid(), n);
        int fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0666);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fchown(fd, OTHER_UID, OTHER_UID), 0);
        close(fd);
    }
    const char *name = tname("tmp");
    struct shm_obj *o;
    struct shm_open_args a = open_args(2, NULL);
    char why[256] = "";
    ck_assert_msg(shm_obj_open(name, &a, &o, why, sizeof(why)) == SHM_OK, "%s", why);
    char rp[256];
    path_of(name, rp, sizeof(rp));
    struct stat st;
    ck_assert_int_eq(stat(rp, &st), 0);
    ck_assert_uint_eq(st.st_uid, 0);
    shm_obj_close(o);
    for (unsigned n = 0; n < 8; n++) {
        snprintf(p, sizeof(p), "/dev/shm/vdevkit-shmtmp.%d.%u", (int)getpid(), n);
        ck_assert_int_eq(stat(p, &st), 0);
        ck_assert_uint_eq(st.st_uid, OTHER_UID); /* untouched */
        unlink(p);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("shm_owner");
    TCase *tc = tcase_create("owner");
    tcase_add_test(tc, squatted_object_refused);
    tcase_add_test(tc, squatted_garbage_refused_unmapped);
    tcase_add_test(tc, vm_with_create_does_not_start);
    tcase_add_test(tc, own_object_wider_than_our_mode_refused);
    tcase_add_test(tc, squatted_tmp_names_skipped);
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
