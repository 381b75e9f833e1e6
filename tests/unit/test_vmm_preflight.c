/* `dryrun` means "this will start": what the VMM can check without KVM is checked, with the
 * line at fault, and nothing is created (vmm/preflight.c). Runs the real executable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define CORPUS TEST_DATA_DIR "/qvm"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/vdevkit-preflight-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes guest.conf (with `load halt.elf` from the corpus unless the text has a load) and
 * runs `vdevkit run @guest.conf dryrun`; stderr in *err, the exit status returned. */
static int dryrun(const char *text, char **err)
{
    char path[128], cmd[1024];
    snprintf(path, sizeof(path), "%s/guest.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    if (!strstr(text, "load "))
        fprintf(f, "\nload %s/halt.elf\n", CORPUS);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && %s run @guest.conf dryrun 2>&1 >/dev/null", dir,
             VDEVKIT_EXE);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    *err = calloc(1, 1 << 16);
    size_t len = 0, n;
    while ((n = fread(*err + len, 1, (1 << 16) - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void refused(const char *text, const char *want)
{
    char *err;
    int rc = dryrun(text, &err);
    ck_assert_msg(rc == 2, "exit %d for:\n%s\n%s", rc, text, err);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "expected '%s...', got: %s", want, err);
    free(err);
}

START_TEST(image_must_be_loadable)
{
    refused("ram 64M\nload missing.bin\n", "guest.conf:2:1: load: ");
    refused("ram 64M\nload guest.conf\n",
            "guest.conf:2:1: load: guest.conf: neither a Linux bzImage nor a 64-bit ELF image");
    refused("ram 64M\nload " CORPUS "/halt.elf\nload " CORPUS "/halt.elf\n",
            "guest.conf:3:1: load: a second image");
    refused("ram 64M\nload 0x100000," CORPUS "/halt.elf\n",
            "guest.conf:2:1: load ADDR,FILE: images are placed by their own headers");
    refused("ram 64M\ninitrd load nowhere.img\n", "guest.conf:2:1: initrd load: ");
}
END_TEST

START_TEST(ram_in_whole_pages)
{
    refused("ram 64M\nram 0x10000000,0x1800\n", "guest.conf:2:1: ram: start and length must be");
    refused("ram 0x4000800\n", "guest.conf:1:1: ram: start and length must be whole host pages");
    refused("ram 64M\nrom 0xff000400,0x1000\n", "guest.conf:2:1: rom: start and length");
    char conf[4096] = "";
    for (int i = 0; i < 33; i++)
        snprintf(conf + strlen(conf), sizeof(conf) - strlen(conf), "ram 0x%x,64K\n",
                 0x10000000 + i * 0x100000);
    refused(conf, "guest.conf:33:1: ram: more than 32 RAM and ROM regions");
}
END_TEST

START_TEST(vcpu_count)
{
    char conf[2048] = "ram 64M\n";
    for (int i = 0; i < 65; i++)
        strcat(conf, "cpu\n");
    refused(conf, "guest.conf:66:1: cpu: this VMM runs at most 64 vCPUs");
}
END_TEST

/* Accepted configurations stay accepted; without any load, dryrun says run would refuse. */
START_TEST(accepted_and_kernel_less)
{
    char *err;
    ck_assert_int_eq(dryrun("ram 64M\ncpu\ncpu\n", &err), 0);
    free(err);
    char path[128];
    snprintf(path, sizeof(path), "%s/guest.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("ram 64M\n", f);
    fclose(f);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cd %s && %s run @guest.conf dryrun 2>&1 >/dev/null", dir,
             VDEVKIT_EXE);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_str_eq(line, "vdevkit run: note: no 'load': 'run' would refuse this configuration\n");
    /* a real run of the same is refused before anything is built */
    snprintf(cmd, sizeof(cmd), "cd %s && %s run @guest.conf 2>&1", dir, VDEVKIT_EXE);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    int st = pclose(p);
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    ck_assert_msg(strstr(line, "nothing to run"), "%s", line);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vmm_preflight");
    TCase *tc = tcase_create("preflight");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, image_must_be_loadable);
    tcase_add_test(tc, ram_in_whole_pages);
    tcase_add_test(tc, vcpu_count);
    tcase_add_test(tc, accepted_and_kernel_less);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
