#include "asl_check.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* Copies `in` with every run of white space made one space. */
static void squash(char *out, size_t n, const char *in)
{
    size_t o = 0;
    bool space = false;
    for (; *in && o + 2 < n; in++) {
        if (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r') {
            space = true;
            continue;
        }
        if (space && o)
            out[o++] = ' ';
        space = false;
        out[o++] = *in;
    }
    out[o] = '\0';
}

void asl_must_contain(const char *dsl, const char *text)
{
    static char hay[65536];
    char needle[512];
    squash(hay, sizeof(hay), dsl);
    squash(needle, sizeof(needle), text);
    if (!strstr(hay, needle)) {
        fprintf(stderr, "%s\n", dsl);
        ck_abort_msg("decompiled ASL lacks \"%s\" (the ASL is on stderr)", needle);
    }
}

const char *asl_disassemble(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    char path[256], cmd[512];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %s.dat 2>&1", dir, name);
    FILE *pp = popen(cmd, "r");
    ck_assert_ptr_nonnull(pp);
    static char out[16384];
    size_t n = fread(out, 1, sizeof(out) - 1, pp);
    out[n] = '\0';
    int st = pclose(pp);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 127,
                  "iasl not found: scripts/install-deps.sh installs acpica-tools\n%s", out);
    if (WEXITSTATUS(st) != 0 || strstr(out, "Error") || strstr(out, "Warning") ||
        strstr(out, "Invalid")) {
        fprintf(stderr, "%s\n", out);
        ck_abort_msg("iasl -d %s failed (its output is on stderr)", name);
    }
    snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "iasl wrote no %s:\n%s", path, out);
    static char dsl[65536];
    n = fread(dsl, 1, sizeof(dsl) - 1, f);
    dsl[n] = '\0';
    fclose(f);
    /* The data-table disassembler reports checksum and field problems inside the text. */
    if (strstr(dsl, "Incorrect") || strstr(dsl, "Invalid") || strstr(dsl, "Error") ||
        strstr(dsl, "Warning")) {
        fprintf(stderr, "%s\n", dsl);
        ck_abort_msg("iasl found problems in %s (the ASL is on stderr)", name);
    }
    return dsl;
}
