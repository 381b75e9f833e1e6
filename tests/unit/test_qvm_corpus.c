/* qvm configurations in the forms QNX documents (the .conf files of tests/data/qvm): each is
 * accepted by `vdevkit run @FILE dryrun`, or refused at the line its first comment names with a
 * message that contains the text given there:
 *   # qvm-corpus: accepted
 *   # qvm-corpus: refused LINE: TEXT
 * `--platform NAME` before `accepted` or `refused` checks it on that platform
 * (`vdevkit run --platform arm64 @FILE dryrun`, on any host). Runs the real executable, as a
 * user would. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define CORPUS TEST_DATA_DIR "/qvm"

static unsigned other_platform; /* files checked with --platform */

/* Runs `vdevkit run [--platform P] @FILE dryrun` in the corpus folder; stderr in *err. */
static int dryrun(const char *platform, const char *file, char **err)
{
    char cmd[1024], plat[64] = "";
    if (platform[0])
        snprintf(plat, sizeof(plat), "--platform %s ", platform);
    snprintf(cmd, sizeof(cmd), "cd %s && %s run %s@%s dryrun 2>&1 >/dev/null", CORPUS, VDEVKIT_EXE,
             plat, file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    *err = calloc(1, cap);
    while ((n = fread(*err + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Checks one file; true when it is one that must be accepted. */
static bool check_file(const char *file)
{
    char path[512], head[512] = "";
    snprintf(path, sizeof(path), "%s/%s", CORPUS, file);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(head, sizeof(head), f));
    fclose(f);
    head[strcspn(head, "\n")] = '\0';
    /* "# qvm-corpus: --platform NAME ..." is "# qvm-corpus: ..." on that platform */
    char platform[32] = "";
    int skip = 0;
    if (sscanf(head, "# qvm-corpus: --platform %31s %n", platform, &skip) == 1 && skip) {
        char rest[512];
        snprintf(rest, sizeof(rest), "# qvm-corpus: %s", head + skip);
        snprintf(head, sizeof(head), "%s", rest);
    }
    other_platform += platform[0] != '\0';
    char *err;
    int rc = dryrun(platform, file, &err);
    unsigned line;
    int used = 0;
    bool accepted = strcmp(head, "# qvm-corpus: accepted") == 0;
    if (accepted) {
        ck_assert_msg(rc == 0, "%s: refused (exit %d): %s", file, rc, err);
    } else if (sscanf(head, "# qvm-corpus: refused %u: %n", &line, &used) == 1 && used) {
        const char *text = head + used;
        char at[600];
        snprintf(at, sizeof(at), "%s:%u:", file, line);
        ck_assert_msg(rc == 2, "%s: exit %d, expected 2 (refused): %s", file, rc, err);
        ck_assert_msg(strncmp(err, at, strlen(at)) == 0, "%s: expected the error at %s, got: %s",
                      file, at, err);
        char *nl = strchr(err, '\n');
        ck_assert_msg(nl && strstr(nl + 1, "the VM was not started"), "%s: %s", file, err);
        *nl = '\0';
        ck_assert_msg(strstr(err, text), "%s: expected '%s' in: %s", file, text, err);
        ck_assert_msg(strstr(err, "hint") || strstr(err, "did you mean") ||
                          strstr(err, "no such device module"),
                      "%s: a refusal without a hint: %s", file, err);
    } else {
        ck_abort_msg("%s: first line is neither '# qvm-corpus: [--platform NAME] accepted' "
                     "nor '# qvm-corpus: [--platform NAME] refused LINE: TEXT'",
                     file);
    }
    free(err);
    return accepted;
}

START_TEST(every_corpus_file)
{
    DIR *d = opendir(CORPUS);
    ck_assert_ptr_nonnull(d);
    unsigned checked = 0, accepted = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".conf") != 0)
            continue;
        accepted += check_file(e->d_name);
        checked++;
    }
    closedir(d);
    /* the corpus is what this test is about: it cannot shrink to nothing unnoticed */
    ck_assert_uint_ge(checked, 8);
    ck_assert_uint_ge(accepted, 3);
    ck_assert_uint_ge(other_platform, 2); /* the arm64 ones */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qvm_corpus");
    TCase *tc = tcase_create("corpus");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_corpus_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
