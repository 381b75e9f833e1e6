/* qvm configurations in the forms QNX documents (the .conf files of tests/data/qvm): each is
 * accepted by `vdevkit run @FILE dryrun`, or refused at the line its first comment names with a
 * message that contains the text given there:
 *   # qvm-corpus: accepted
 *   # qvm-corpus: refused LINE: TEXT
 * Runs the real executable, as a user would. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define CORPUS TEST_DATA_DIR "/qvm"

/* Runs `vdevkit run @FILE dryrun` in the corpus folder; stderr in *err. */
static int dryrun(const char *file, char **err)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && %s run @%s dryrun 2>&1 >/dev/null", CORPUS, VDEVKIT_EXE,
             file);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, len = 0, n;
    *err = calloc(1, cap);
    while ((n = fread(*err + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int check_file(const char *file)
{
    char path[512], head[512] = "";
    snprintf(path, sizeof(path), "%s/%s", CORPUS, file);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(head, sizeof(head), f));
    fclose(f);
    head[strcspn(head, "\n")] = '\0';
    char *err;
    int rc = dryrun(file, &err);
    unsigned line;
    int used = 0;
    if (strcmp(head, "# qvm-corpus: accepted") == 0) {
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
        ck_abort_msg("%s: first line is neither '# qvm-corpus: accepted' nor "
                     "'# qvm-corpus: refused LINE: TEXT'",
                     file);
    }
    free(err);
    return 1;
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
        checked += (unsigned)check_file(e->d_name);
        char path[512], head[64] = "";
        snprintf(path, sizeof(path), "%s/%s", CORPUS, e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(head, sizeof(head), f) && strncmp(head, "# qvm-corpus: accepted", 22) == 0)
            accepted++;
        if (f)
            fclose(f);
    }
    closedir(d);
    /* the corpus is what this test is about: it cannot shrink to nothing unnoticed */
    ck_assert_uint_ge(checked, 8);
    ck_assert_uint_ge(accepted, 3);
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
