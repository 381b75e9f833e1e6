/* hostdev's records (lib/hostdev/hostdev_record.c, hostdev_state.c): the format both ways and
 * every line the parser refuses; the state folder made private and refused when others could
 * change it; a record written whole with mode 0600 and refused when it is a link, not a
 * regular file, another user's, open to others' writes, too large or not the format; the
 * owner's liveness by pid and start time. Other users' files need root; as another user
 * those cases are skipped. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostdev_fake.h"

#define OTHER_UID 65534 /* nobody */

/* A file system without RENAME_NOREPLACE, on demand: this definition takes the place of
 * glibc's for the whole test program (libvdev's objects are linked into it). */
static bool no_noreplace;

int renameat2(int olddfd, const char *oldpath, int newdfd, const char *newpath, unsigned flags)
{
    if (no_noreplace && (flags & RENAME_NOREPLACE)) {
        errno = EINVAL;
        return -1;
    }
    return (int)syscall(SYS_renameat2, olddfd, oldpath, newdfd, newpath, flags);
}

static struct hd_fake f;
static struct hd_ctx c;
static struct vdev_err err;
static char dir[PATH_MAX];
static int dfd = -1;

static const struct hd_record full = {
    .bdf = "0000:01:10.0",
    .pf_ifname = "enp1s0",
    .vf = 0,
    .owner = 4242,
    .owner_start = 123456789,
    .restore_mac = true,
    .restore_vlan = true,
    .orig = {.mac = {0x52, 0x54, 0, 0xab, 0xcd, 0xef}, .vlan = 100, .qos = 3},
    .rebind = true,
    .driver = "igbvf"};

static const char *full_text =
    "# vdevkit hostdev record: 'vdevkit hostdev-cleanup 0000:01:10.0' restores it\n"
    "vdevkit-hostdev 1\n"
    "bdf 0000:01:10.0\n"
    "pf enp1s0\n"
    "vf 0\n"
    "owner 4242 123456789\n"
    "mac 52:54:00:ab:cd:ef\n"
    "vlan 100 3\n"
    "rebind igbvf\n";

/* Field by field: struct copies need not copy padding. */
static void same_record(const struct hd_record *a, const struct hd_record *b)
{
    ck_assert_str_eq(a->bdf, b->bdf);
    ck_assert_str_eq(a->pf_ifname, b->pf_ifname);
    ck_assert_uint_eq(a->vf, b->vf);
    ck_assert_int_eq(a->owner, b->owner);
    ck_assert_uint_eq(a->owner_start, b->owner_start);
    ck_assert_int_eq(a->restore_mac, b->restore_mac);
    ck_assert_int_eq(a->restore_vlan, b->restore_vlan);
    ck_assert_mem_eq(a->orig.mac, b->orig.mac, 6);
    ck_assert_uint_eq(a->orig.vlan, b->orig.vlan);
    ck_assert_uint_eq(a->orig.qos, b->orig.qos);
    ck_assert_int_eq(a->rebind, b->rebind);
    ck_assert_str_eq(a->driver, b->driver);
}

static void setup(void)
{
    hd_fake_init(&f);
    ck_assert_int_eq(hd_ctx_init(&c, &f.env, &f.hooks, &err), 0);
    memset(&err, 0, sizeof(err));
    dfd = -1;
}

static void teardown(void)
{
    hd_state_close(dfd);
    hd_ctx_close(&c);
    hd_fake_fini(&f);
}

static void open_state(void)
{
    dfd = hd_state_open(&c, dir, sizeof(dir), &err);
    ck_assert_msg(dfd >= 0, "%s", err.msg);
}

/* Writes `text` as BDF's record with `mode`. */
static void plant(const char *bdf, const char *text, mode_t mode)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s.state", f.state, bdf);
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

START_TEST(format_and_parse)
{
    char buf[HD_RECORD_MAX];
    size_t n = hd_record_format(&full, buf, sizeof(buf));
    ck_assert_uint_eq(n, strlen(full_text));
    ck_assert_str_eq(buf, full_text);
    struct hd_record r;
    char why[256];
    ck_assert_int_eq(hd_record_parse(buf, n, &r, why, sizeof(why)), 0);
    same_record(&r, &full);
    /* the optional lines: none, or rebind to no driver */
    struct hd_record bare = full;
    bare.restore_mac = bare.restore_vlan = false;
    bare.orig = (struct hd_vf_cfg){0};
    bare.driver[0] = '\0';
    n = hd_record_format(&bare, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "owner 4242 123456789\nrebind -\n"));
    ck_assert_ptr_null(strstr(buf, "mac "));
    ck_assert_int_eq(hd_record_parse(buf, n, &r, why, sizeof(why)), 0);
    same_record(&r, &bare);
    bare.rebind = false;
    n = hd_record_format(&bare, buf, sizeof(buf));
    ck_assert_int_eq(hd_record_parse(buf, n, &r, why, sizeof(why)), 0);
    ck_assert(!r.rebind && !r.restore_mac && !r.restore_vlan);
    ck_assert_uint_eq(hd_record_format(&full, buf, 40), 0); /* does not fit */
}
END_TEST

/* Each a record with one thing wrong, and what the parser says. */
START_TEST(parser_refuses)
{
    static const char *head = "vdevkit-hostdev 1\nbdf 0000:01:10.0\npf enp1s0\nvf 0\n";
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"", "not text ending in a newline"},
        {"vdevkit-hostdev 1", "not text ending in a newline"},
        {"vdevkit-hostdev 2\n", "line 1 is not 'vdevkit-hostdev 1'"},
        {"# only a comment\n", "it lacks 'vdevkit-hostdev 1'"},
        {"vdevkit-hostdev 1\nbdf 0000:01:10.0\npf enp1s0\nvf 0\n", "it lacks bdf, pf, vf or owner"},
        {"+owner 1 2\nowner 1 2\n", "line 6: 'owner' twice"},
        {"+owner 1 2\ncolour blue\n", "line 6: unknown key 'colour'"},
        {"+owner 1 2\nmac\n", "line 6: 'mac' is not 'KEY VALUE'"},
        {"+owner 0 2\n", "line 5: owner '0 2' is not 'PID START'"},
        {"+owner 4194305 2\n", "line 5: owner '4194305 2' is not 'PID START'"},
        {"+owner 1\n", "line 5: owner '1' is not 'PID START'"},
        {"+owner 01 2\n", "line 5: owner '01 2' is not 'PID START'"},
        {"+owner 1 -2\n", "line 5: owner '1 -2' is not 'PID START'"},
        {"+owner 1 2 \n", "line 5: owner '1 2 ' is not 'PID START'"},
        {"+owner 1 99999999999999999999\n", "line 5: owner '1 99999999999999999999' is not 'PID "
                                            "START'"},
        {"+owner 1 2\nmac 52:54:00:ab:cd\n", "line 6: mac '52:54:00:ab:cd' is not a MAC address"},
        {"+owner 1 2\nmac 52-54-00-ab-cd-ef\n", "line 6: mac '52-54-00-ab-cd-ef' is not a MAC "
                                                "address"},
        {"+owner 1 2\nmac 52:54:00:ab:cd:eg\n", "line 6: mac '52:54:00:ab:cd:eg' is not a MAC "
                                                "address"},
        {"+owner 1 2\nmac  52:54:00:ab:cd:e\n", "line 6: mac ' 52:54:00:ab:cd:e' is not a MAC "
                                                "address"},
        {"+owner 1 2\nvlan 4096 0\n", "line 6: vlan '4096 0' is not 'VLAN PRIORITY' (0-4095, "
                                      "0-7)"},
        {"+owner 1 2\nvlan 1 8\n", "line 6: vlan '1 8' is not 'VLAN PRIORITY' (0-4095, 0-7)"},
        {"+owner 1 2\nvlan 1\n", "line 6: vlan '1' is not 'VLAN PRIORITY' (0-4095, 0-7)"},
        {"+owner 1 2\nrebind ../../../../tmp/x\n", "line 6: rebind '../../../../tmp/x' is not a "
                                                   "driver name"},
        {"+owner 1 2\nrebind ..\n", "line 6: rebind '..' is not a driver name"},
        {"+owner 1 2\nrebind \n", "line 6: rebind '' is not a driver name"},
        {"vdevkit-hostdev 1\nbdf 01:10.0\n", "line 2: bdf '01:10.0' is not a PCI address"},
        {"vdevkit-hostdev 1\nbdf 0000:01:10.0/\n", "line 2: bdf '0000:01:10.0/' is not a PCI "
                                                   "address"},
        {"vdevkit-hostdev 1\npf a/b\n", "line 2: pf 'a/b' is not an interface name"},
        {"vdevkit-hostdev 1\nvf 65536\n", "line 2: vf '65536' is not a VF index"},
        {"vdevkit-hostdev 1\nvf x\n", "line 2: vf 'x' is not a VF index"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512], why[256] = "";
        if (cases[i].text[0] == '+')
            snprintf(text, sizeof(text), "%s%s", head, cases[i].text + 1);
        else
            snprintf(text, sizeof(text), "%s", cases[i].text);
        struct hd_record r;
        ck_assert_msg(hd_record_parse(text, strlen(text), &r, why, sizeof(why)) == -1, "%zu", i);
        ck_assert_msg(!strcmp(why, cases[i].why), "%zu: '%s'", i, why);
    }
    /* a NUL inside, and a record too large */
    char why[256];
    struct hd_record r;
    ck_assert_int_eq(hd_record_parse("vdevkit-hostdev 1\n\0\n", 20, &r, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "not text ending in a newline");
    char *big = malloc(HD_RECORD_MAX + 1);
    memset(big, '#', HD_RECORD_MAX + 1);
    ck_assert_int_eq(hd_record_parse(big, HD_RECORD_MAX + 1, &r, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "4097 bytes, more than a record has");
    free(big);
}
END_TEST

START_TEST(state_folder_is_private)
{
    open_state();
    ck_assert_str_eq(dir, f.state);
    struct stat st;
    ck_assert_int_eq(stat(f.state, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    /* the default: VDEVKIT_RUNTIME_DIR/hostdev, the run-time folder made 0755 */
    hd_state_close(dfd);
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s/rt", f.root);
    setenv("VDEVKIT_RUNTIME_DIR", base, 1);
    struct hd_ctx dc;
    ck_assert_int_eq(hd_ctx_init(&dc, NULL, NULL, &err), 0);
    dfd = hd_state_open(&dc, dir, sizeof(dir), &err);
    ck_assert_msg(dfd >= 0, "%s", err.msg);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof(want), "%s/hostdev", base);
    ck_assert_str_eq(dir, want);
    ck_assert_int_eq(stat(base, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755);
    ck_assert_int_eq(stat(want, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    unsetenv("VDEVKIT_RUNTIME_DIR");
    /* a state folder others may write is not used */
    hd_state_close(dfd);
    dfd = -1;
    ck_assert_int_eq(chmod(f.state, 0777), 0);
    ck_assert_int_eq(hd_state_open(&c, dir, sizeof(dir), &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "is writable by its group and writable by others (mode "
                                          "0777): not used (hint: set VDEVKIT_RUNTIME_DIR to a "
                                          "folder of this user that others cannot write)"));
    ck_assert_int_eq(chmod(f.state, 0700), 0);
    /* nor a link to another folder */
    char moved[PATH_MAX];
    snprintf(moved, sizeof(moved), "%s/moved", f.root);
    ck_assert_int_eq(rename(f.state, moved), 0);
    ck_assert_int_eq(symlink(moved, f.state), 0);
    if (getuid() == 0) { /* a link another user planted */
        ck_assert_int_eq(lchown(f.state, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(hd_state_open(&c, dir, sizeof(dir), &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "is owned by uid 65534"));
    }
}
END_TEST

START_TEST(writes_whole_records)
{
    open_state();
    ck_assert_int_eq(hd_state_write(dfd, dir, &full, true, &err), 0);
    ck_assert_str_eq(hd_fake_record_text(&f, full.bdf), full_text);
    char p[PATH_MAX + 64];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s.state", f.state, full.bdf);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    /* exclusive: one record per VF */
    ck_assert_int_eq(hd_state_write(dfd, dir, &full, true, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_EXIST);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.0.state: there is one already"));
    /* no temporary file stays behind, and a crash's leftover is replaced */
    snprintf(p, sizeof(p), "%s/.%s.state.tmp", f.state, full.bdf);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(close(open(p, O_CREAT | O_WRONLY, 0644)), 0);
    struct hd_record r = full;
    r.vf = 3;
    ck_assert_int_eq(hd_state_write(dfd, dir, &r, false, &err), 0);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_ptr_nonnull(strstr(hd_fake_record_text(&f, full.bdf), "\nvf 3\n"));
    struct hd_record back;
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &back, &err), 1);
    same_record(&back, &r);
    /* removed, and removing none is fine */
    ck_assert_int_eq(hd_state_remove(dfd, dir, full.bdf, &err), 0);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &back, &err), 0);
    ck_assert_int_eq(hd_state_remove(dfd, dir, full.bdf, &err), 0);
    /* without RENAME_NOREPLACE: link and unlink, as exclusive */
    no_noreplace = true;
    ck_assert_int_eq(hd_state_write(dfd, dir, &full, true, &err), 0);
    ck_assert_str_eq(hd_fake_record_text(&f, full.bdf), full_text);
    ck_assert_int_eq(hd_state_write(dfd, dir, &full, true, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_EXIST);
    ck_assert_int_eq(access(p, F_OK), -1);
    no_noreplace = false;
    ck_assert_int_eq(hd_state_remove(dfd, dir, full.bdf, &err), 0);
    /* a record that cannot be written leaves nothing */
    ck_assert_int_eq(chmod(f.state, 0500), 0);
    if (getuid() != 0) { /* root writes anyway */
        ck_assert_int_eq(hd_state_write(dfd, dir, &full, true, &err), -1);
        ck_assert_int_eq(err.code, VDEV_E_IO);
    }
    ck_assert_int_eq(chmod(f.state, 0700), 0);
}
END_TEST

START_TEST(reads_only_our_records)
{
    open_state();
    struct hd_record r;
    char p[PATH_MAX + 64], target[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s.state", f.state, full.bdf);
    /* a link, even to a good record */
    snprintf(target, sizeof(target), "%s/elsewhere", f.root);
    FILE *fp = fopen(target, "w");
    fputs(full_text, fp);
    fclose(fp);
    ck_assert_int_eq(symlink(target, p), 0);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_str_eq(strstr(err.msg, "0000:01:10.0.state"),
                     "0000:01:10.0.state: a symbolic link: not used");
    unlink(p);
    /* a FIFO (no hang), a folder */
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a regular file: not used (hint: remove it if "
                                          "no VM uses the VF)"));
    unlink(p);
    /* open to others' writes */
    plant(full.bdf, full_text, 0622);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_PERM);
    ck_assert_ptr_nonnull(strstr(err.msg, "is writable by its group and writable by others (mode "
                                          "0622): not used (hint: remove it if no VM uses the "
                                          "VF)"));
    /* readable by others is no harm: it holds no secret */
    plant(full.bdf, full_text, 0644);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), 1);
    /* another user's */
    if (getuid() == 0) {
        plant(full.bdf, full_text, 0600);
        ck_assert_int_eq(chown(p, OTHER_UID, OTHER_UID), 0);
        ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "is owned by uid 65534"));
    }
    /* too large, not the format, another VF's */
    char *big = malloc(HD_RECORD_MAX + 2);
    memset(big, '#', HD_RECORD_MAX + 1);
    big[HD_RECORD_MAX + 1] = '\0';
    plant(full.bdf, big, 0600);
    free(big);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "has 4097 bytes, more than a record has: not used"));
    plant(full.bdf, "vdevkit-hostdev 1\nbdf 0000:01:10.0\n", 0600);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_int_eq(err.code, VDEV_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.0.state is not valid: it lacks bdf, pf, vf "
                                          "or owner (hint: see it, set the VF back by hand and "
                                          "remove it)"));
    char text[512];
    snprintf(text, sizeof(text), "%s", full_text);
    memcpy(strstr(text, "bdf 0000:01:10.0") + 4, "0000:01:10.2", 12);
    plant(full.bdf, text, 0600);
    ck_assert_int_eq(hd_state_read(dfd, dir, full.bdf, &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "0000:01:10.0.state names another VF, 0000:01:10.2"));
}
END_TEST

START_TEST(lists_records_in_order)
{
    open_state();
    struct hd_record r = full;
    static const char *const bdfs[] = {"0000:02:00.1", "0000:01:10.2", "0000:01:10.0"};
    for (size_t i = 0; i < 3; i++) {
        memcpy(r.bdf, bdfs[i], 13);
        ck_assert_int_eq(hd_state_write(dfd, dir, &r, true, &err), 0);
    }
    plant("not-a-bdf", "x", 0600);
    plant("01:10.4", "x", 0600); /* a name we never give */
    plant("0000:01:10.6.state", "x", 0600);
    char(*list)[VDEV_HOSTDEV_BDF_MAX];
    size_t n;
    ck_assert_int_eq(hd_state_list(dfd, dir, &list, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(list[0], "0000:01:10.0");
    ck_assert_str_eq(list[1], "0000:01:10.2");
    ck_assert_str_eq(list[2], "0000:02:00.1");
    free(list);
}
END_TEST

START_TEST(owners_by_pid_and_start_time)
{
    unsigned long long start;
    ck_assert_int_eq(hd_proc_start(getpid(), &start), 0);
    ck_assert(hd_owner_alive(getpid(), start));
    ck_assert(!hd_owner_alive(getpid(), start + 1)); /* the pid of another process since */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    /* a zombie is no owner; a reaped child is no process */
    for (int i = 0; i < 200 && hd_proc_start(child, &start) == 0; i++)
        usleep(10000);
    ck_assert_int_eq(hd_proc_start(child, &start), -1);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(hd_proc_start(child, &start), -1);
    ck_assert(!hd_owner_alive(child, start));
    ck_assert_int_eq(hd_proc_start(0, &start), -1);
    ck_assert_int_eq(hd_proc_start(-1, &start), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostdev_state");
    TCase *tc = tcase_create("state");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, format_and_parse);
    tcase_add_test(tc, parser_refuses);
    tcase_add_test(tc, state_folder_is_private);
    tcase_add_test(tc, writes_whole_records);
    tcase_add_test(tc, reads_only_our_records);
    tcase_add_test(tc, lists_records_in_order);
    tcase_add_test(tc, owners_by_pid_and_start_time);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
