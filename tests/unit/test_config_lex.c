/* Tokenizer: tokens across lines, comments, quotes, positions, command-line arguments and
 * @includes (relative, nested, cycles, missing files, depth). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <vdev/config.h>

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif
#define CONF_DIR TEST_DATA_DIR "/config"

static struct vdev_config cfg;
static struct vdev_token_list_ toks;
static struct vdev_err err;

/* A scratch folder with files written by the test; removed by teardown. */
static char tmpdir[64];

static void setup(void)
{
    tmpdir[0] = '\0';
    vdev_config_init(&cfg);
    memset(&toks, 0, sizeof(toks));
    memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
    vdev_token_list_free_(&toks);
    vdev_config_free(&cfg);
    if (!tmpdir[0])
        return;
    DIR *d = opendir(tmpdir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
        if (e->d_name[0] != '.')
            unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
}

static int lex(const char *text)
{
    return vdev_lex_string_(&cfg, "t.conf", text, &toks, &err);
}

/* Checks token i: text, file, line, column. */
static void tok_is(size_t i, const char *text, const char *file, unsigned line, unsigned col)
{
    ck_assert_msg(i < toks.n, "token %zu missing (have %zu)", i, toks.n);
    const struct vdev_token *t = &toks.v[i];
    ck_assert_str_eq(t->text, text);
    ck_assert_str_eq(t->pos.file, file);
    ck_assert_uint_eq(t->pos.line, line);
    ck_assert_uint_eq(t->pos.col, col);
}

START_TEST(tokens_across_lines)
{
    ck_assert_int_eq(lex("ram  32m\n\tcpu\n\n   vdev ser8250\n"), 0);
    ck_assert_uint_eq(toks.n, 5);
    tok_is(0, "ram", "t.conf", 1, 1);
    tok_is(1, "32m", "t.conf", 1, 6);
    tok_is(2, "cpu", "t.conf", 2, 2);
    tok_is(3, "vdev", "t.conf", 4, 4);
    tok_is(4, "ser8250", "t.conf", 4, 9);
    for (size_t i = 0; i < toks.n; i++) {
        ck_assert_uint_eq(toks.v[i].seq, i);
        ck_assert(!toks.v[i].quoted);
        ck_assert_ptr_null(toks.v[i].dir); /* strings: relative to the current directory */
    }
}
END_TEST

START_TEST(other_white_space)
{
    ck_assert_int_eq(lex("ram 1m\r\ncpu\r\n\v\fset\ta b"), 0);
    ck_assert_uint_eq(toks.n, 6);
    tok_is(1, "1m", "t.conf", 1, 5);
    tok_is(2, "cpu", "t.conf", 2, 1);
    tok_is(3, "set", "t.conf", 3, 3);
    tok_is(5, "b", "t.conf", 3, 9);
}
END_TEST

START_TEST(empty_input)
{
    ck_assert_int_eq(lex(""), 0);
    ck_assert_uint_eq(toks.n, 0);
    ck_assert_int_eq(lex("  \n# only a comment\n\t\n"), 0);
    ck_assert_uint_eq(toks.n, 0);
    ck_assert_int_eq(vdev_lex_string_(&cfg, "t.conf", NULL, &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 0);
}
END_TEST

START_TEST(comments)
{
    ck_assert_int_eq(lex("# full line\nram 1m # trailing words\n#\ncpu#glued\n  # indented\nx"), 0);
    ck_assert_uint_eq(toks.n, 4);
    tok_is(0, "ram", "t.conf", 2, 1);
    tok_is(1, "1m", "t.conf", 2, 5);
    tok_is(2, "cpu", "t.conf", 4, 1);
    tok_is(3, "x", "t.conf", 6, 1);
}
END_TEST

START_TEST(comment_at_end_without_newline)
{
    ck_assert_int_eq(lex("dryrun # the end"), 0);
    ck_assert_uint_eq(toks.n, 1);
    tok_is(0, "dryrun", "t.conf", 1, 1);
}
END_TEST

START_TEST(quoted_string_is_one_token)
{
    ck_assert_int_eq(lex("cmdline \"console=ttyS0 quiet\" dryrun"), 0);
    ck_assert_uint_eq(toks.n, 3);
    tok_is(1, "console=ttyS0 quiet", "t.conf", 1, 9);
    ck_assert(toks.v[1].quoted);
    ck_assert(!toks.v[0].quoted);
    tok_is(2, "dryrun", "t.conf", 1, 31);
}
END_TEST

START_TEST(quotes_protect_hash_and_space)
{
    ck_assert_int_eq(lex("a \"b # not a comment\" c"), 0);
    ck_assert_uint_eq(toks.n, 3);
    tok_is(1, "b # not a comment", "t.conf", 1, 3);
    tok_is(2, "c", "t.conf", 1, 23);
}
END_TEST

START_TEST(quote_escapes)
{
    /* \" and \\ are escapes; any other backslash stays as written */
    ck_assert_int_eq(lex("\"say \\\"hi\\\" \\\\ C:\\path \\n\""), 0);
    ck_assert_uint_eq(toks.n, 1);
    ck_assert_str_eq(toks.v[0].text, "say \"hi\" \\ C:\\path \\n");
    /* outside quotes a backslash is an ordinary character */
    ck_assert_int_eq(lex("a\\b"), 0);
    ck_assert_str_eq(toks.v[1].text, "a\\b");
}
END_TEST

START_TEST(empty_and_embedded_quotes)
{
    ck_assert_int_eq(lex("\"\" name=\"a b\"c x\"\"y"), 0);
    ck_assert_uint_eq(toks.n, 3);
    ck_assert_str_eq(toks.v[0].text, "");
    ck_assert(toks.v[0].quoted);
    ck_assert_str_eq(toks.v[1].text, "name=a bc"); /* quoted parts join the token */
    ck_assert(toks.v[1].quoted);
    ck_assert_str_eq(toks.v[2].text, "xy");
    tok_is(2, "xy", "t.conf", 1, 16);
}
END_TEST

START_TEST(unterminated_quote)
{
    ck_assert_int_eq(lex("ram 1m\ncmdline \"abc def"), -1);
    ck_assert_str_eq(err.msg, "t.conf:2:9: unterminated quote");
}
END_TEST

START_TEST(quote_must_close_on_its_line)
{
    ck_assert_int_eq(lex("x  \"abc\ndef\""), -1);
    ck_assert_str_eq(err.msg, "t.conf:1:4: unterminated quote");
}
END_TEST

START_TEST(unterminated_after_escape)
{
    ck_assert_int_eq(lex("a b\"c\\\""), -1);
    ck_assert_str_eq(err.msg, "t.conf:1:4: unterminated quote");
}
END_TEST

START_TEST(seq_continues_across_calls)
{
    ck_assert_int_eq(lex("a b"), 0);
    ck_assert_int_eq(vdev_lex_string_(&cfg, "second", "c", &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 3);
    ck_assert_uint_eq(toks.v[2].seq, 2);
    tok_is(2, "c", "second", 1, 1);
    ck_assert_uint_eq(cfg.next_seq_, 3);
}
END_TEST

START_TEST(file_names_owned_by_config)
{
    char *name = strdup("temporary-name");
    ck_assert_int_eq(vdev_lex_string_(&cfg, name, "x", &toks, &err), 0);
    free(name);
    ck_assert_str_eq(toks.v[0].pos.file, "temporary-name");
}
END_TEST

START_TEST(args_one_token_each)
{
    char *argv[] = {"ram", "32m", "cmdline", "a # b \"c\"", "", NULL};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 5, argv, &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 5);
    tok_is(0, "ram", "command line", 1, 1);
    tok_is(1, "32m", "command line", 1, 2);
    tok_is(3, "a # b \"c\"", "command line", 1, 4); /* the shell already split and unquoted */
    tok_is(4, "", "command line", 1, 5);
    ck_assert(!toks.v[3].quoted);
    ck_assert_ptr_null(toks.v[3].dir);
}
END_TEST

START_TEST(args_include_in_place)
{
    char *argv[] = {"dryrun", "@" CONF_DIR "/guest.conf", "set", "exit-on-halt", "yes"};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 5, argv, &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 1 + 11 + 3);
    tok_is(0, "dryrun", "command line", 1, 1);
    tok_is(1, "system", CONF_DIR "/guest.conf", 2, 1);
    tok_is(11, "ioapic:4", CONF_DIR "/guest.conf", 5, 32);
    ck_assert_str_eq(toks.v[11].dir, CONF_DIR);
    tok_is(12, "set", "command line", 1, 3); /* the @ argument took no token of its own */
    tok_is(14, "yes", "command line", 1, 5);
    for (size_t i = 0; i < toks.n; i++)
        ck_assert_uint_eq(toks.v[i].seq, i);
}
END_TEST

START_TEST(nested_includes_relative)
{
    ck_assert_int_eq(vdev_lex_file_(&cfg, CONF_DIR "/main.conf", &toks, &err), 0);
    const char *words[] = {"system",
                           "incl",
                           "ram",
                           "32m",
                           "load",
                           "0x200000,kernel.elf",
                           "initrd",
                           "load",
                           "../initrd.img",
                           "cmdline",
                           "console=ttyS0 quiet",
                           "cpu",
                           "sched",
                           "8"};
    ck_assert_uint_eq(toks.n, 14);
    for (size_t i = 0; i < 14; i++) {
        ck_assert_str_eq(toks.v[i].text, words[i]);
        ck_assert_uint_eq(toks.v[i].seq, i);
    }
    tok_is(0, "system", CONF_DIR "/main.conf", 2, 1);
    tok_is(4, "load", CONF_DIR "/sub/child.conf", 1, 1);
    tok_is(6, "initrd", CONF_DIR "/sub/grandchild.conf", 1, 1);
    tok_is(10, "console=ttyS0 quiet", CONF_DIR "/sub/grandchild.conf", 2, 9);
    tok_is(11, "cpu", CONF_DIR "/main.conf", 5, 1);
    ck_assert_str_eq(toks.v[0].dir, CONF_DIR);
    ck_assert_str_eq(toks.v[5].dir, CONF_DIR "/sub");
    ck_assert_str_eq(toks.v[8].dir, CONF_DIR "/sub");
}
END_TEST

START_TEST(include_from_string_is_relative_to_cwd)
{
    ck_assert_int_eq(chdir(CONF_DIR), 0);
    ck_assert_int_eq(lex("a @sub/grandchild.conf b"), 0);
    ck_assert_uint_eq(toks.n, 7);
    tok_is(1, "initrd", "sub/grandchild.conf", 1, 1);
    ck_assert_str_eq(toks.v[1].dir, "sub");
    tok_is(6, "b", "t.conf", 1, 24);
}
END_TEST

START_TEST(quoted_at_is_not_an_include)
{
    ck_assert_int_eq(lex("\"@x.conf\" a@b"), 0);
    ck_assert_uint_eq(toks.n, 2);
    ck_assert_str_eq(toks.v[0].text, "@x.conf");
    ck_assert_str_eq(toks.v[1].text, "a@b");
}
END_TEST

START_TEST(include_cycle)
{
    ck_assert_int_eq(chdir(CONF_DIR), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "cycle_a.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, "cycle_b.conf:1:1: @cycle_a.conf: include cycle: "
                              "cycle_a.conf -> cycle_b.conf -> cycle_a.conf");
}
END_TEST

START_TEST(include_cycle_from_args)
{
    ck_assert_int_eq(chdir(CONF_DIR), 0);
    char *argv[] = {"ram", "1m", "@cycle_b.conf"};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 3, argv, &toks, &err), -1);
    ck_assert_str_eq(err.msg, "cycle_a.conf:3:1: @cycle_b.conf: include cycle: "
                              "cycle_b.conf -> cycle_a.conf -> cycle_b.conf");
}
END_TEST

START_TEST(include_self)
{
    ck_assert_int_eq(vdev_lex_file_(&cfg, CONF_DIR "/self.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, CONF_DIR "/self.conf:1:1: @self.conf: include cycle: " CONF_DIR
                                       "/self.conf -> " CONF_DIR "/self.conf");
}
END_TEST

START_TEST(include_missing)
{
    ck_assert_int_eq(vdev_lex_file_(&cfg, CONF_DIR "/missing.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, CONF_DIR
                     "/missing.conf:2:3: @nothere.conf: cannot open: No such file or directory");
}
END_TEST

START_TEST(include_missing_from_args)
{
    char *argv[] = {"ram", "@/nonexistent/x.conf"};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 2, argv, &toks, &err), -1);
    ck_assert_str_eq(
        err.msg, "command line:1:2: @/nonexistent/x.conf: cannot open: No such file or directory");
}
END_TEST

START_TEST(top_file_missing)
{
    ck_assert_int_eq(vdev_lex_file_(&cfg, "/nonexistent/guest.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, "/nonexistent/guest.conf: cannot open: No such file or directory");
    ck_assert_int_eq(vdev_lex_file_(&cfg, "", &toks, &err), -1);
    ck_assert_str_eq(err.msg, "no configuration file name given");
}
END_TEST

START_TEST(include_directory)
{
    ck_assert_int_eq(lex("@" CONF_DIR "/sub"), -1);
    ck_assert_str_eq(err.msg, "t.conf:1:1: @" CONF_DIR "/sub: cannot read: Is a directory");
}
END_TEST

START_TEST(at_without_name)
{
    ck_assert_int_eq(lex("ram @ 1m"), -1);
    ck_assert_str_eq(err.msg, "t.conf:1:5: '@' needs a file name");
    char *argv[] = {"@"};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 1, argv, &toks, &err), -1);
    ck_assert_str_eq(err.msg, "command line:1:1: '@' needs a file name");
}
END_TEST

static void write_file(const char *name, const char *text, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/vdev-lex-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* A chain d0 -> d1 -> ... -> d<n-1>, the last holding one token. */
static void make_chain(int n)
{
    for (int i = 0; i < n; i++) {
        char name[32], text[64];
        snprintf(name, sizeof(name), "d%d.conf", i);
        if (i + 1 < n)
            snprintf(text, sizeof(text), "@d%d.conf\n", i + 1);
        else
            snprintf(text, sizeof(text), "deepest\n");
        write_file(name, text, strlen(text));
    }
}

START_TEST(include_depth_16_is_fine)
{
    make_tmpdir();
    make_chain(16);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "d0.conf", &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 1);
    tok_is(0, "deepest", "d15.conf", 1, 1);
}
END_TEST

START_TEST(include_depth_17_refused)
{
    make_tmpdir();
    make_chain(17);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "d0.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, "d15.conf:1:1: @d16.conf: includes nested deeper than 16");
}
END_TEST

/* The issue's blow-up: five files of 2.3 KiB in all, each including the next ten times, the
 * last holding 1000 tokens: 10 million tokens (700 MB) unbounded. Refused at the 1 million
 * token budget, quickly, with one message at an @token. */
static void make_fanout(int levels, int leaf_tokens)
{
    for (int i = 1; i <= levels; i++) {
        char name[32], text[4096];
        size_t n = 0;
        snprintf(name, sizeof(name), "l%d.conf", i);
        for (int k = 0; k < (i < levels ? 10 : leaf_tokens); k++)
            n += (size_t)snprintf(text + n, sizeof(text) - n, i < levels ? "@l%d.conf\n" : "x\n",
                                  i + 1);
        write_file(name, text, n);
    }
}

START_TEST(include_blowup_refused)
{
    make_tmpdir();
    make_fanout(5, 1000);
    ck_assert_int_eq(chdir(tmpdir), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "l1.conf", &toks, &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_msg(strncmp(err.msg, "l4.conf:", 8) == 0, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, ":1: @l5.conf: the configuration expands to more than 1000000 "
                                  "tokens (hint: "),
                  "%s", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "%s", err.msg);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(s < 20, "took %.1f s", s);
    /* The same through the command line, one level more (7 GB unbounded). */
    vdev_token_list_free_(&toks);
    make_fanout(6, 1000);
    char *argv[] = {"ram", "@l1.conf", NULL};
    ck_assert_int_eq(vdev_lex_args_(&cfg, 2, argv, &toks, &err), -1);
    ck_assert_msg(strstr(err.msg, "@l6.conf: the configuration expands to more than"), "%s",
                  err.msg);
}
END_TEST

/* Includes of empty files cost no token but a file each: bounded too. */
START_TEST(include_fanout_of_empty_files_refused)
{
    make_tmpdir();
    make_fanout(5, 0);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "l1.conf", &toks, &err), -1);
    ck_assert_msg(strstr(err.msg, ".conf: the configuration expands to more than 10000 @file "
                                  "includes (hint: ") &&
                      strstr(err.msg, ":1: @l"),
                  "%s", err.msg);
}
END_TEST

/* Real nesting with repeats stays well inside the budget. */
START_TEST(include_repeats_within_budget)
{
    make_tmpdir();
    make_fanout(4, 20); /* 1000 includes of a 20-token file: 20000 tokens */
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "l1.conf", &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 20000);
    tok_is(19999, "x", "l4.conf", 20, 1);
}
END_TEST

START_TEST(include_same_file_twice_is_no_cycle)
{
    make_tmpdir();
    write_file("leaf.conf", "x\n", 2);
    write_file("top.conf", "@leaf.conf @leaf.conf\n", 22);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "top.conf", &toks, &err), 0);
    ck_assert_uint_eq(toks.n, 2);
    ck_assert_ptr_eq(toks.v[0].pos.file, toks.v[1].pos.file); /* one copy of the name */
}
END_TEST

START_TEST(include_quoted_name_with_space)
{
    make_tmpdir();
    write_file("my guest.conf", "inside\n", 7);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(lex("@\"my guest.conf\" after"), 0);
    ck_assert_uint_eq(toks.n, 2);
    tok_is(0, "inside", "my guest.conf", 1, 1);
    tok_is(1, "after", "t.conf", 1, 18);
}
END_TEST

START_TEST(nul_byte_refused)
{
    make_tmpdir();
    write_file("nul.conf", "ram 1m\ncpu x\0y\n", 15);
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(vdev_lex_file_(&cfg, "nul.conf", &toks, &err), -1);
    ck_assert_str_eq(err.msg, "nul.conf:2:6: unexpected NUL byte");
}
END_TEST

START_TEST(long_token_and_line)
{
    size_t n = 100000;
    char *text = malloc(n + 8);
    memset(text, 'a', n);
    strcpy(text + n, " b");
    ck_assert_int_eq(lex(text), 0);
    free(text);
    ck_assert_uint_eq(toks.n, 2);
    ck_assert_uint_eq(strlen(toks.v[0].text), n);
    tok_is(1, "b", "t.conf", 1, (unsigned)n + 2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config_lex");
    TCase *tc = tcase_create("tokens");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, tokens_across_lines);
    tcase_add_test(tc, other_white_space);
    tcase_add_test(tc, empty_input);
    tcase_add_test(tc, comments);
    tcase_add_test(tc, comment_at_end_without_newline);
    tcase_add_test(tc, quoted_string_is_one_token);
    tcase_add_test(tc, quotes_protect_hash_and_space);
    tcase_add_test(tc, quote_escapes);
    tcase_add_test(tc, empty_and_embedded_quotes);
    tcase_add_test(tc, unterminated_quote);
    tcase_add_test(tc, quote_must_close_on_its_line);
    tcase_add_test(tc, unterminated_after_escape);
    tcase_add_test(tc, seq_continues_across_calls);
    tcase_add_test(tc, file_names_owned_by_config);
    tcase_add_test(tc, long_token_and_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("args");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, args_one_token_each);
    tcase_add_test(tc, args_include_in_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("includes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, nested_includes_relative);
    tcase_add_test(tc, include_from_string_is_relative_to_cwd);
    tcase_add_test(tc, quoted_at_is_not_an_include);
    tcase_add_test(tc, include_cycle);
    tcase_add_test(tc, include_cycle_from_args);
    tcase_add_test(tc, include_self);
    tcase_add_test(tc, include_missing);
    tcase_add_test(tc, include_missing_from_args);
    tcase_add_test(tc, top_file_missing);
    tcase_add_test(tc, include_directory);
    tcase_add_test(tc, at_without_name);
    tcase_add_test(tc, include_depth_16_is_fine);
    tcase_add_test(tc, include_depth_17_refused);
    tcase_add_test(tc, include_same_file_twice_is_no_cycle);
    tcase_add_test(tc, include_quoted_name_with_space);
    tcase_add_test(tc, nul_byte_refused);
    suite_add_tcase(s, tc);

    /* A million tokens take a second or two under ASan on a loaded host: more than Check's
     * default 4 s would allow with margin. */
    tc = tcase_create("expansion budget");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, include_blowup_refused);
    tcase_add_test(tc, include_fanout_of_empty_files_refused);
    tcase_add_test(tc, include_repeats_within_budget);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
