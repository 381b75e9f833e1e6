/* `vdevkit hostdev-cleanup` (tools/hostdev_cli.c), the real executable on a run-time folder
 * of its own. Records name VFs this host cannot have (PCI domain ffff), so nothing here
 * reaches a real NIC: a record whose owner runs is left alone, one of a VF that no longer
 * exists is removed, one that is not valid stays and is an error (its text shown with
 * control bytes made harmless); the same as JSON; an unusable state folder. The restore
 * itself is tested on the fake host (test_hostdev.c); usage errors in test_cli.c. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostdev_internal.h"

static char dir[64], state[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-hdcli-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chmod(dir, 0755), 0);
    snprintf(state, sizeof(state), "%s/rt/hostdev", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* `vdevkit hostdev-cleanup ARGS` with the run-time folder dir/rt: its status, standard
 * output and error apart. */
static int cleanup(const char *args, char **out, char **err)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd %s && VDEVKIT_RUNTIME_DIR=%s/rt %s hostdev-cleanup %s >stdout.txt 2>stderr.txt",
             dir, dir, VDEVKIT_EXE, args);
    int st = system(cmd);
    *out = slurp("stdout.txt");
    *err = slurp("stderr.txt");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void plant_text(const char *bdf, const char *text)
{
    char cmd[512], path[256];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && chmod 700 %s", state, state);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/%s.state", state, bdf);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0600), 0);
}

static void plant(const char *bdf, pid_t owner, unsigned long long start)
{
    struct hd_record r = {.vf = 2,
                          .owner = owner,
                          .owner_start = start,
                          .restore_mac = true,
                          .rebind = true,
                          .driver = "igbvf",
                          .pf_ifname = "enp1s0"};
    snprintf(r.bdf, sizeof(r.bdf), "%s", bdf);
    char text[HD_RECORD_MAX];
    ck_assert_uint_gt(hd_record_format(&r, text, sizeof(text)), 0);
    plant_text(bdf, text);
}

static bool recorded(const char *bdf)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.state", state, bdf);
    return access(path, F_OK) == 0;
}

static pid_t sleeper(unsigned long long *start)
{
    pid_t p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    ck_assert_int_eq(hd_proc_start(p, start), 0);
    return p;
}

static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

START_TEST(nothing_recorded)
{
    char *out, *err;
    ck_assert_int_eq(cleanup("", &out, &err), 0);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "");
    struct stat st;
    ck_assert_int_eq(stat(state, &st), 0); /* made, private */
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    free(out);
    free(err);
    ck_assert_int_eq(cleanup("--json", &out, &err), 0);
    ck_assert_str_eq(out, "[]\n");
    free(out);
    free(err);
    ck_assert_int_eq(cleanup("ffff:00:01.0", &out, &err), 0);
    ck_assert_str_eq(out, "ffff:00:01.0: no-record: nothing is recorded for it: nothing to "
                          "restore\n");
    free(out);
    free(err);
}
END_TEST

START_TEST(sweep)
{
    unsigned long long start;
    pid_t owner = sleeper(&start);
    plant("ffff:01:10.2", owner, start);
    plant("ffff:ff:1f.7", dead_pid(), 1);
    plant_text("ffff:fe:00.0", "vdevkit-hostdev 1\n\x1b]0;pwned\x07 1\n");
    char *out, *err, want[512];
    ck_assert_int_eq(cleanup("", &out, &err), 1);
    snprintf(want, sizeof(want),
             "ffff:01:10.2: in-use: in use by pid %d, which is running: left alone (it restores "
             "the VF when it ends)\n"
             "ffff:ff:1f.7: gone: ffff:ff:1f.7 no longer exists: nothing to set back\n",
             (int)owner);
    ck_assert_str_eq(out, want);
    snprintf(want, sizeof(want),
             "vdevkit hostdev-cleanup: ffff:fe:00.0: record %s/ffff:fe:00.0.state is not valid: "
             "line 2: unknown key '?]0;pwned?' (hint: see it, set the VF back by hand and remove "
             "it)\n",
             state);
    ck_assert_str_eq(err, want);
    ck_assert(recorded("ffff:01:10.2") && recorded("ffff:fe:00.0") && !recorded("ffff:ff:1f.7"));
    free(out);
    free(err);
    /* a VF named whose owner runs: an error; the same as JSON, with the message too */
    ck_assert_int_eq(cleanup("ffff:01:10.2", &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "vdevkit hostdev-cleanup: ffff:01:10.2: in use by pid "));
    free(out);
    free(err);
    ck_assert_int_eq(cleanup("--json ffff:01:10.2 -- ffff:00:00.1", &out, &err), 1);
    snprintf(want, sizeof(want),
             "[{\"bdf\": \"ffff:01:10.2\", \"outcome\": \"in-use\", \"pf\": \"enp1s0\", \"vf\": 2, "
             "\"owner\": %d, \"detail\": \"in use by pid %d, which is running: left alone (it "
             "restores the VF when it ends)\"},\n"
             " {\"bdf\": \"ffff:00:00.1\", \"outcome\": \"no-record\", \"pf\": null, \"vf\": null, "
             "\"owner\": null, \"detail\": \"nothing is recorded for it: nothing to restore\"}]\n",
             (int)owner, (int)owner);
    ck_assert_str_eq(out, want);
    ck_assert_ptr_nonnull(strstr(err, "vdevkit hostdev-cleanup: ffff:01:10.2: in use by pid "));
    free(out);
    free(err);
    /* the control bytes of a record, escaped in JSON */
    ck_assert_int_eq(cleanup("--json ffff:fe:00.0", &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(out, "unknown key '\\u001b]0;pwned\\u0007'"));
    free(out);
    free(err);
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    /* its owner gone, the VF is gone too (domain ffff): the record goes */
    ck_assert_int_eq(cleanup("ffff:01:10.2", &out, &err), 0);
    ck_assert_str_eq(out, "ffff:01:10.2: gone: ffff:01:10.2 no longer exists: nothing to set "
                          "back\n");
    ck_assert(!recorded("ffff:01:10.2"));
    free(out);
    free(err);
}
END_TEST

/* A state folder others may write: nothing is looked at, nothing on standard output. */
START_TEST(unusable_state_folder)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s && chmod 777 %s", state, state);
    ck_assert_int_eq(system(cmd), 0);
    char *out, *err;
    ck_assert_int_eq(cleanup("--json", &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "vdevkit hostdev-cleanup: hostdev state folder "));
    ck_assert_ptr_nonnull(strstr(err, "(mode 0777): not used (hint: set VDEVKIT_RUNTIME_DIR to "
                                      "a folder of this user that others cannot write)\n"));
    free(out);
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdev_cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, nothing_recorded);
    tcase_add_test(tc, sweep);
    tcase_add_test(tc, unusable_state_folder);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
