/* shmem: allow/deny lists, subst and name validation (vdevs/shmem/shmem_policy.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm_object.h"
#include "shmem_policy.h"

static struct shmem_policy pol;

static void teardown(void)
{
    shmem_policy_free(&pol);
}

static void rule(bool allow, const char *pattern)
{
    const char *why = NULL;
    ck_assert_msg(shmem_policy_add_rule(&pol, allow, pattern, &why) == 0, "%s: %s", pattern, why);
}

static const char *host(const char *guest)
{
    static char out[SHMEM_HOST_NAME_MAX + 1];
    if (shmem_policy_host_name(&pol, guest, out, sizeof(out)) != SHM_OK)
        return NULL;
    return out;
}

static void subst(const char *arg)
{
    const char *why = NULL, *hint = NULL;
    ck_assert_msg(shmem_policy_set_subst(&pol, arg, &why, &hint) == 0, "%s: %s", arg, why);
}

START_TEST(no_rules_allow_everything)
{
    ck_assert(shmem_policy_permits(&pol, "anything"));
    ck_assert(shmem_policy_permits(&pol, "x"));
}
END_TEST

/* The facts' example: deny pluto, then allow pluto*. */
START_TEST(first_match_wins)
{
    rule(false, "pluto");
    rule(true, "pluto*");
    ck_assert(!shmem_policy_permits(&pol, "pluto"));
    ck_assert(shmem_policy_permits(&pol, "plutoplanet"));
    ck_assert(!shmem_policy_permits(&pol, "mars")); /* implicit deny * after an allow */
}
END_TEST

START_TEST(allow_list_ends_with_deny_all)
{
    rule(true, "test*");
    rule(true, "pluto");
    ck_assert(shmem_policy_permits(&pol, "test"));
    ck_assert(shmem_policy_permits(&pol, "test0"));
    ck_assert(shmem_policy_permits(&pol, "pluto"));
    ck_assert(!shmem_policy_permits(&pol, "plutoplanet"));
    ck_assert(!shmem_policy_permits(&pol, "atest"));
}
END_TEST

START_TEST(deny_list_ends_with_allow_all)
{
    rule(false, "live*");
    rule(false, "pluto");
    ck_assert(!shmem_policy_permits(&pol, "live"));
    ck_assert(!shmem_policy_permits(&pol, "livestream"));
    ck_assert(!shmem_policy_permits(&pol, "pluto"));
    ck_assert(shmem_policy_permits(&pol, "plutoplanet"));
    ck_assert(shmem_policy_permits(&pol, "mars"));
}
END_TEST

START_TEST(wildcards)
{
    rule(true, "ring[0-3]");
    rule(true, "q?");
    rule(true, "[!a-z]*");
    ck_assert(shmem_policy_permits(&pol, "ring2"));
    ck_assert(!shmem_policy_permits(&pol, "ring4"));
    ck_assert(shmem_policy_permits(&pol, "q1"));
    ck_assert(!shmem_policy_permits(&pol, "q12"));
    ck_assert(shmem_policy_permits(&pol, "Zeta"));
    ck_assert(!shmem_policy_permits(&pol, "zeta"));
}
END_TEST

START_TEST(bad_patterns)
{
    const char *bad[] = {"", "[abc", "a/b", "x\\", "a\tb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        ck_assert_msg(shmem_policy_add_rule(&pol, true, bad[i], &why) == -1, "'%s'", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
    ck_assert_uint_eq(pol.nrules, 0);
    rule(true, "[]x]"); /* a leading ']' is a member */
    ck_assert(shmem_policy_permits(&pol, "]"));
}
END_TEST

/* Found by fuzz_shmem_policy: a control character escaped by '\\' or inside brackets
 * passed the check, which skipped those bytes while it looked for the bracket's end. */
START_TEST(control_characters_hidden_in_escapes_and_brackets)
{
    const char *bad[] = {"liv\\\026", "a\\\x7f", "[\001]x", "[!\033]", "[]\t]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        ck_assert_msg(shmem_policy_add_rule(&pol, false, bad[i], &why) == -1, "pattern %zu", i);
        ck_assert_str_eq(why, "the pattern has a control character");
    }
    ck_assert_uint_eq(pol.nrules, 0);
}
END_TEST

/* The facts' example: subst ,guest0 + mem = guest0mem. */
START_TEST(subst_prepends)
{
    ck_assert_str_eq(host("mem"), "mem");
    subst(",guest0");
    ck_assert_str_eq(host("mem"), "guest0mem");
}
END_TEST

START_TEST(subst_replaces_the_match)
{
    subst("vm,guest0-");
    ck_assert_str_eq(host("vmring"), "guest0-ring");
    ck_assert_str_eq(host("ringvm"), "ringguest0-");
    ck_assert_str_eq(host("vmvm"), "guest0-vm"); /* the first occurrence */
    ck_assert_str_eq(host("other"), "other");    /* no match: unchanged */
    subst("tmp,");                               /* an empty PREFIX removes the match */
    ck_assert_str_eq(host("tmpx"), "x");
    ck_assert_ptr_null(host("tmp")); /* nothing left: not a plain name */
}
END_TEST

/* A substitution may not build a name that escapes: "." + "." = "..". */
START_TEST(subst_result_is_checked)
{
    subst(",.");
    ck_assert_ptr_null(host(".x"));
    ck_assert_str_eq(host("x"), ".x");
    subst("a,.");
    ck_assert_ptr_null(host("a."));
}
END_TEST

START_TEST(subst_errors)
{
    const char *bad[] = {"guest0", "a,b/c", "a,..", "a,b,c", ",", "a/b,c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL, *hint = NULL;
        ck_assert_msg(shmem_policy_set_subst(&pol, bad[i], &why, &hint) == -1, "'%s'", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
    ck_assert(!pol.has_subst);
}
END_TEST

static int check_field(const char *bytes, size_t n)
{
    uint8_t field[SHMEM_NAME_FIELD];
    char out[SHMEM_NAME_FIELD];
    memset(field, 0, sizeof(field));
    memcpy(field, bytes, n);
    return shmem_name_from_field(field, out);
}

START_TEST(name_validation)
{
    ck_assert_int_eq(check_field("ring0", 5), SHM_OK);
    ck_assert_int_eq(check_field("a.b-c_d", 7), SHM_OK);
    ck_assert_int_eq(check_field("1234567890123456789012345678901", 31), SHM_OK);
    ck_assert_int_eq(check_field("", 0), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("12345678901234567890123456789012", 32), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("a/b", 3), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("/", 1), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("..", 2), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("a..b", 4), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field(".", 1), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("a\nb", 3), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("\x01x", 2), SHM_ILLEGAL_NAME);
    ck_assert_int_eq(check_field("x\x7f", 2), SHM_ILLEGAL_NAME);
    /* bytes after the NUL do not matter */
    ck_assert_int_eq(check_field("ok\0/..\n", 7), SHM_OK);
}
END_TEST

static Suite *policy_suite(void)
{
    Suite *s = suite_create("shmem_policy");
    TCase *tc = tcase_create("policy");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, no_rules_allow_everything);
    tcase_add_test(tc, first_match_wins);
    tcase_add_test(tc, allow_list_ends_with_deny_all);
    tcase_add_test(tc, deny_list_ends_with_allow_all);
    tcase_add_test(tc, wildcards);
    tcase_add_test(tc, bad_patterns);
    tcase_add_test(tc, control_characters_hidden_in_escapes_and_brackets);
    tcase_add_test(tc, subst_prepends);
    tcase_add_test(tc, subst_replaces_the_match);
    tcase_add_test(tc, subst_result_is_checked);
    tcase_add_test(tc, subst_errors);
    tcase_add_test(tc, name_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(policy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
