/* The run-time folder (core/runtime_dir.c) is used only when no other user can change it:
 * existing components owned by another user, writable by group or others (unless sticky and
 * not the last) or symbolic links planted by another user are refused with one message naming
 * the path and its owner; nothing is created behind them. Needs root to make files of uid
 * 65534; as another user those cases are skipped. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_embedder.h"

#define OTHER_UID 65534 /* nobody */

static char dir[64];
static struct fake_embedder fe;
static struct vdev_err err;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-rtd-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Builds machine `t1` with its run-time folder at `base`, then asks for its control path.
 * Returns what vdev_machine_runtime_path returned. */
static int runtime_path(const char *base, char *path, size_t len)
{
    char conf[256];
    snprintf(conf, sizeof(conf), "system t1 set runtime-dir %s ram 16M", base);
    fake_machine_new(&fe);
    if (fake_machine_build_string(&fe, conf, &err))
        ck_abort_msg("%s", err.msg);
    int rc = vdev_machine_runtime_path(fe.m, "control", path, len, &err);
    fake_machine_free(&fe);
    return rc;
}

static void expect_refused(const char *base, const char *what)
{
    char path[512];
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), -1);
    ck_assert_msg(strstr(err.msg, "run-time folder ") == err.msg, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, what), "want '%s' in: %s", what, err.msg);
    ck_assert_msg(strstr(err.msg, "(hint: "), "%s", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "%s", err.msg);
}

START_TEST(own_folder_is_made_and_reused)
{
    char base[128], path[512];
    snprintf(base, sizeof(base), "%s/run/a", dir);
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), 0);
    struct stat st;
    char sys[200];
    snprintf(sys, sizeof(sys), "%s/t1", base);
    ck_assert_int_eq(lstat(sys, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_uid, geteuid());
    ck_assert_uint_eq(st.st_mode & 022, 0);
    /* Again (a second VM process of the same user): fine. */
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), 0);
    /* /tmp itself is sticky and writable by all: fine above the folder. */
    ck_assert_int_eq(chmod(dir, 01777), 0);
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), 0);
}
END_TEST

START_TEST(system_folder_of_another_user_refused)
{
    if (geteuid() != 0)
        return;
    char sys[128], path[512];
    snprintf(sys, sizeof(sys), "%s/t1", dir);
    ck_assert_int_eq(mkdir(sys, 0755), 0);
    ck_assert_int_eq(chown(sys, OTHER_UID, OTHER_UID), 0);
    char want[300];
    snprintf(want, sizeof(want), "%s is owned by uid %d (", sys, OTHER_UID);
    expect_refused(dir, want);
    /* Nothing of ours was put in it. */
    ck_assert_int_eq(runtime_path(dir, path, sizeof(path)), -1);
    char cp[300];
    snprintf(cp, sizeof(cp), "%s/control", sys);
    ck_assert_int_eq(access(cp, F_OK), -1);
}
END_TEST

START_TEST(base_of_another_user_refused)
{
    if (geteuid() != 0)
        return;
    char base[128];
    snprintf(base, sizeof(base), "%s/b", dir);
    ck_assert_int_eq(mkdir(base, 0755), 0);
    ck_assert_int_eq(chown(base, OTHER_UID, OTHER_UID), 0);
    char want[300];
    snprintf(want, sizeof(want), "%s is owned by uid %d", base, OTHER_UID);
    expect_refused(base, want);
    char sys[200];
    snprintf(sys, sizeof(sys), "%s/t1", base);
    ck_assert_int_eq(access(sys, F_OK), -1); /* not made inside it */
}
END_TEST

START_TEST(writable_folders_refused)
{
    char base[128], sys[160], path[512];
    snprintf(base, sizeof(base), "%s/w", dir);
    ck_assert_int_eq(mkdir(base, 0755), 0);
    ck_assert_int_eq(chmod(base, 0775), 0);
    expect_refused(base, "is writable by its group (mode 0775)");
    ck_assert_int_eq(chmod(base, 0757), 0);
    expect_refused(base, "is writable by others (mode 0757)");
    /* Sticky above the VM's folder is fine (as /tmp)... */
    ck_assert_int_eq(chmod(base, 01777), 0);
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), 0);
    /* ...but not the VM's folder itself: others could put names in it. */
    snprintf(sys, sizeof(sys), "%s/t1", base);
    ck_assert_int_eq(chmod(sys, 01777), 0);
    expect_refused(base, "t1 is writable by its group and writable by others (mode 1777)");
}
END_TEST

START_TEST(planted_symlink_not_followed)
{
    if (geteuid() != 0)
        return;
    char base[128], target[128], sys[160], path[512];
    snprintf(base, sizeof(base), "%s/s", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    ck_assert_int_eq(mkdir(base, 01777), 0); /* a shared sticky folder, as /tmp */
    ck_assert_int_eq(chmod(base, 01777), 0);
    ck_assert_int_eq(mkdir(target, 0755), 0);
    snprintf(sys, sizeof(sys), "%s/t1", base);
    ck_assert_int_eq(symlink(target, sys), 0);
    ck_assert_int_eq(lchown(sys, OTHER_UID, OTHER_UID), 0);
    char want[300];
    snprintf(want, sizeof(want), "%s is owned by uid %d", sys, OTHER_UID);
    expect_refused(base, want);
    char cp[300];
    snprintf(cp, sizeof(cp), "%s/control", target);
    ck_assert_int_eq(access(cp, F_OK), -1);
    /* The same link made by this user (or root) is followed: /var/run -> /run. */
    ck_assert_int_eq(lchown(sys, geteuid(), getegid()), 0);
    ck_assert_int_eq(runtime_path(base, path, sizeof(path)), 0);
    char want2[300];
    snprintf(want2, sizeof(want2), "%s/control", sys);
    ck_assert_str_eq(path, want2);
}
END_TEST

START_TEST(control_socket_not_made_in_foreign_folder)
{
    if (geteuid() != 0)
        return;
    char sys[128], conf[256];
    snprintf(sys, sizeof(sys), "%s/t1", dir);
    ck_assert_int_eq(mkdir(sys, 0777), 0);
    ck_assert_int_eq(chmod(sys, 0777), 0);
    ck_assert_int_eq(chown(sys, OTHER_UID, OTHER_UID), 0);
    snprintf(conf, sizeof(conf), "system t1 set runtime-dir %s ram 16M", dir);
    fake_machine_new(&fe);
    if (fake_machine_build_string(&fe, conf, &err))
        ck_abort_msg("%s", err.msg);
    ck_assert_int_eq(vdev_machine_control_open(fe.m, &err), -2);
    ck_assert_msg(strstr(err.msg, "owned by uid 65534"), "%s", err.msg);
    fake_machine_free(&fe);
    char cp[300];
    snprintf(cp, sizeof(cp), "%s/control", sys);
    ck_assert_int_eq(access(cp, F_OK), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("runtime_dir");
    TCase *tc = tcase_create("owner");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, own_folder_is_made_and_reused);
    tcase_add_test(tc, system_folder_of_another_user_refused);
    tcase_add_test(tc, base_of_another_user_refused);
    tcase_add_test(tc, writable_folders_refused);
    tcase_add_test(tc, planted_symlink_not_followed);
    tcase_add_test(tc, control_socket_not_made_in_foreign_folder);
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
