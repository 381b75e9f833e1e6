#include "asl_check.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
