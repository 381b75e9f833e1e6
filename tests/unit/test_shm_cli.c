/* `vdevkit shmem list|create|remove`: runs the real executable against real host objects. */
#include "shm_test_util.h"

/* Runs `vdevkit shmem ARGS`, returning the exit status; stdout+stderr in out. */
static int run(const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s shmem %s 2>&1", VDEVKIT_EXE, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t len = fread(out, 1, outlen - 1, p);
    out[len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The listing line of region `name`, or NULL. */
static const char *line_of(const char *out, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, name, n) == 0 && l[n] == ' ')
            return l;
    return NULL;
}

START_TEST(test_create_list_remove)
{
    const char *name = tname("cli");
    char args[256], out[8192];
    snprintf(args, sizeof(args), "create %s 1M 0640", name);
    ck_assert_int_eq(run(args, out, sizeof(out)), 0);
    ck_assert_int_eq(run(args, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "exists"));
    /* A VM-like user attaches: the listing names it. */
    struct shm_obj *o;
    struct shm_open_args a = {.create = false, .who = "vm-one"};
    ck_assert_int_eq(shm_obj_open(name, &a, &o, NULL, 0), SHM_OK);
    ck_assert_uint_eq(shm_obj_pages(o), 256);
    struct counter cnt = {0};
    struct shm_client *c;
    ck_assert_int_eq(shm_client_attach(o, count_changed, &cnt, &c), SHM_OK);
    ck_assert_int_eq(run("list", out, sizeof(out)), 0);
    const char *l = line_of(out, name);
    ck_assert_ptr_nonnull(l);
    char expect[64];
    snprintf(expect, sizeof(expect), " 0:%d(vm-one)", (int)getpid());
    ck_assert_ptr_nonnull(strstr(l, "1M"));
    ck_assert_ptr_nonnull(strstr(l, "0640"));
    ck_assert_ptr_nonnull(strstr(l, "yes"));
    ck_assert_ptr_nonnull(strstr(l, expect));
    shm_obj_close(o);
    snprintf(args, sizeof(args), "remove %s", name);
    ck_assert_int_eq(run(args, out, sizeof(out)), 0);
    ck_assert_int_eq(run(args, out, sizeof(out)), 1);
    ck_assert_ptr_nonnull(strstr(out, "no such region"));
    ck_assert_int_eq(run("list", out, sizeof(out)), 0);
    ck_assert_ptr_null(line_of(out, name));
}
END_TEST

START_TEST(test_bad_arguments)
{
    const char *name = tname("clibad");
    char args[256], out[4096];
    const char *bad[] = {"create",
                         "create x",
                         "create x 0",
                         "create x 12q",
                         "create x 4k 0999",
                         "create x 4k 01000",
                         "create x 4k 0600 no-such-group-here",
                         "create a/b 4k",
                         "create x 17G",
                         "remove",
                         "remove a/b",
                         "list x",
                         "frobnicate",
                         ""};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(run(bad[i], out, sizeof(out)) == 2, "'%s' gave: %s", bad[i], out);
        ck_assert_msg(strlen(out) > 0, "'%s' said nothing", bad[i]);
    }
    /* SIZE rounds up to whole pages; MODE defaults to 0666 less the umask. */
    snprintf(args, sizeof(args), "umask 022 && %s shmem create %s 5000", VDEVKIT_EXE, name);
    ck_assert_int_eq(system(args), 0);
    ck_assert_int_eq(run("list", out, sizeof(out)), 0);
    const char *l = line_of(out, name);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(strstr(l, "8K"));
    ck_assert_ptr_nonnull(strstr(l, "0644"));
    ck_assert_int_eq(shm_obj_remove(name), 0);
}
END_TEST

Suite *shm_cli_suite(void);
Suite *shm_cli_suite(void)
{
    Suite *s = suite_create("shm_cli");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_list_remove);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(shm_cli_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
