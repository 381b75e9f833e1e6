/* The shmem name policy (vdevs/shmem/shmem_policy.c): configuration patterns and `subst`
 * against names a guest writes into the factory page. Asserted:
 *   - a pattern or subst the policy accepts is one the documentation allows (no '/', no
 *     control character, closed brackets; PREFIX without ',', '/' or "..");
 *   - a name field is accepted only when it is a plain name of 1-31 bytes, the bytes before
 *     its NUL;
 *   - the allow/deny verdict is the first matching rule's, else the implicit last rule;
 *   - the host name is the documented substitution of the guest's name, fits the buffer it
 *     was given (exactly that many bytes: ASan sees any overflow) and is a name the host
 *     object layer accepts (shm_name_check: one plain file name under /dev/shm).
 * Input: u8 rule count, per rule u8 (bit 0: allow) + u8 length + bytes; u8 subst length
 * (0: none) + bytes; then per name: u8 buffer size + the 32-byte field. */
/* FUZZ_ARGS: -max_len=2048 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shm_object_internal.h"
#include "shmem_policy.h"

static char *take_str(struct fz_in *in, size_t n)
{
    char *s = calloc(1, n + 1);
    if (!s)
        abort();
    fz_take(in, s, n);
    return s; /* may hold an earlier NUL: the policy sees a C string */
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* The documented plain name: 1..max bytes, no '/', no "..", not ".", no control bytes. */
static bool plain(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n >= 1 && n <= max && strcmp(s, ".") && !strstr(s, "..") && !strchr(s, '/') &&
           !has_ctl(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_in in = {data, size};
    struct shmem_policy pol = {0};
    /* What was accepted, for the model. */
    struct {
        bool allow;
        char *pat;
    } rules[8];
    unsigned nrules = 0;
    bool any_allow = false;

    unsigned n = fz_u8(&in) % 9;
    for (unsigned i = 0; i < n; i++) {
        bool allow = fz_u8(&in) & 1;
        char *pat = take_str(&in, fz_u8(&in));
        const char *why = NULL;
        if (shmem_policy_add_rule(&pol, allow, pat, &why) == 0) {
            if (!pat[0] || strchr(pat, '/') || has_ctl(pat) || strlen(pat) > SHMEM_PATTERN_MAX)
                abort();
            rules[nrules].allow = allow;
            rules[nrules++].pat = pat;
            any_allow |= allow;
        } else {
            if (!why || !why[0])
                abort();
            free(pat);
        }
    }

    size_t slen = fz_u8(&in);
    char *match = NULL, *prefix = NULL;
    if (slen) {
        char *arg = take_str(&in, slen);
        const char *why = NULL, *hint = NULL;
        if (shmem_policy_set_subst(&pol, arg, &why, &hint) == 0) {
            char *comma = strchr(arg, ',');
            if (!comma || strchr(comma + 1, ',') || strchr(comma + 1, '/') ||
                strstr(comma + 1, "..") || has_ctl(arg) || (comma == arg && !comma[1]) ||
                !pol.has_subst)
                abort();
            match = strndup(arg, (size_t)(comma - arg));
            prefix = strdup(comma + 1);
            if (strchr(match, '/'))
                abort();
        } else if (!why || !why[0]) {
            abort();
        }
        free(arg);
    }

    while (fz_left(&in)) {
        size_t outlen = fz_u8(&in);
        uint8_t field[SHMEM_NAME_FIELD];
        fz_take(&in, field, sizeof(field));
        char guest[SHMEM_NAME_FIELD];
        int st = shmem_name_from_field(field, guest);
        const uint8_t *nul = memchr(field, 0, sizeof(field));
        if (st == SHM_OK) {
            if (!nul || memcmp(guest, field, (size_t)(nul - field) + 1) ||
                !plain(guest, SHMEM_NAME_FIELD - 1))
                abort();
        } else {
            if (st != SHM_ILLEGAL_NAME || (nul && plain((const char *)field, SHMEM_NAME_FIELD - 1)))
                abort();
            continue;
        }

        bool want = !any_allow;
        for (unsigned i = 0; i < nrules; i++)
            if (fnmatch(rules[i].pat, guest, 0) == 0) {
                want = rules[i].allow;
                break;
            }
        if (shmem_policy_permits(&pol, guest) != want)
            abort();

        /* The documented substitution. */
        char expect[SHMEM_NAME_FIELD + 256 + 1];
        if (!prefix) {
            snprintf(expect, sizeof(expect), "%s", guest);
        } else if (!match[0]) {
            snprintf(expect, sizeof(expect), "%s%s", prefix, guest);
        } else {
            const char *at = strstr(guest, match);
            if (at)
                snprintf(expect, sizeof(expect), "%.*s%s%s", (int)(at - guest), guest, prefix,
                         at + strlen(match));
            else
                snprintf(expect, sizeof(expect), "%s", guest);
        }
        if (outlen == 0)
            outlen = SHMEM_HOST_NAME_MAX + 1; /* the size the device uses */
        char *out = malloc(outlen);
        if (!out)
            abort();
        int hs = shmem_policy_host_name(&pol, guest, out, outlen);
        size_t max = outlen - 1 < SHMEM_HOST_NAME_MAX ? outlen - 1 : SHMEM_HOST_NAME_MAX;
        bool ok = plain(expect, max);
        if ((hs == SHM_OK) != ok) {
            fprintf(stderr, "host name of '%s' (buffer %zu): %d, expected '%s' %s\n", guest, outlen,
                    hs, expect, ok ? "ok" : "refused");
            abort();
        }
        if (hs == SHM_OK && (strcmp(out, expect) || shm_name_check(out) != SHM_OK))
            abort();
        if (hs != SHM_OK && hs != SHM_ILLEGAL_NAME)
            abort();
        free(out);
    }

    for (unsigned i = 0; i < nrules; i++)
        free(rules[i].pat);
    free(match);
    free(prefix);
    shmem_policy_free(&pol);
    return 0;
}
