/* shmem: allow/deny lists, subst and name validation (see shmem_policy.h). */
#include "shmem_policy.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "shm/shm_object.h"

bool shmem_plain_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !strcmp(s, ".") || strstr(s, "..") || strchr(s, '/'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

int shmem_name_from_field(const uint8_t field[SHMEM_NAME_FIELD], char out[SHMEM_NAME_FIELD])
{
    const uint8_t *nul = memchr(field, 0, SHMEM_NAME_FIELD);
    out[0] = 0;
    if (!nul)
        return SHM_ILLEGAL_NAME;
    memcpy(out, field, (size_t)(nul - field) + 1);
    return shmem_plain_name(out, SHMEM_NAME_FIELD - 1) ? SHM_OK : SHM_ILLEGAL_NAME;
}

/* A pattern fnmatch reads the way the user meant: brackets closed, no trailing escape,
 * nothing a plain name cannot contain. */
static const char *pattern_problem(const char *pat)
{
    size_t n = strlen(pat);
    if (n == 0)
        return "the pattern is empty";
    if (n > SHMEM_PATTERN_MAX)
        return "the pattern is longer than 255 characters";
    if (strchr(pat, '/'))
        return "a region name never contains '/'";
    /* All bytes first: the scan below skips escaped bytes and bracket members. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pat[i] < 0x20 || pat[i] == 0x7f)
            return "the pattern has a control character";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)pat[i];
        if (c == '\\') {
            if (++i >= n)
                return "the pattern ends with a lone '\\'";
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < n && (pat[j] == '!' || pat[j] == '^'))
                j++;
            if (j < n && pat[j] == ']')
                j++; /* a leading ']' is a member */
            while (j < n && pat[j] != ']')
                j++;
            if (j >= n)
                return "'[' is never closed by ']'";
            i = j;
        }
    }
    return NULL;
}

int shmem_policy_add_rule(struct shmem_policy *p, bool allow, const char *pattern, const char **why)
{
    const char *bad = pattern_problem(pattern);
    if (bad) {
        *why = bad;
        return -1;
    }
    struct shmem_rule *r = realloc(p->rules, (p->nrules + 1) * sizeof(*r));
    if (!r) {
        *why = "out of memory";
        return -1;
    }
    p->rules = r;
    r[p->nrules].allow = allow;
    r[p->nrules].pattern = strdup(pattern);
    if (!r[p->nrules].pattern) {
        *why = "out of memory";
        return -1;
    }
    p->nrules++;
    p->any_allow |= allow;
    return 0;
}

int shmem_policy_set_subst(struct shmem_policy *p, const char *arg, const char **why,
                           const char **hint)
{
    const char *comma = strchr(arg, ',');
    *hint = NULL;
    if (!comma) {
        *why = "needs a comma: [MATCH],PREFIX";
        *hint = "write 'subst ,PREFIX' to prepend PREFIX to every name";
        return -1;
    }
    const char *prefix = comma + 1;
    size_t mlen = (size_t)(comma - arg);
    if (strchr(prefix, ',') || strchr(prefix, '/') || strstr(prefix, "..")) {
        *why = "PREFIX may not contain ',', '/' or \"..\"";
        *hint = "the host name must stay one plain name";
        return -1;
    }
    if (memchr(arg, '/', mlen) || mlen >= SHMEM_NAME_FIELD || strlen(prefix) > 128) {
        *why = "MATCH must be a part of a region name (up to 31 characters, no '/'); PREFIX "
               "at most 128 characters";
        return -1;
    }
    for (const char *c = arg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *why = "control characters are not allowed";
            return -1;
        }
    if (!mlen && !*prefix) {
        *why = "an empty MATCH and an empty PREFIX change nothing";
        *hint = "write 'subst ,PREFIX'";
        return -1;
    }
    free(p->subst_match);
    free(p->subst_prefix);
    p->subst_match = strndup(arg, mlen);
    p->subst_prefix = strdup(prefix);
    p->has_subst = p->subst_match && p->subst_prefix;
    if (!p->has_subst) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

bool shmem_policy_permits(const struct shmem_policy *p, const char *name)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (fnmatch(p->rules[i].pattern, name, 0) == 0)
            return p->rules[i].allow;
    return !p->any_allow; /* the implicit last rule */
}

int shmem_policy_host_name(const struct shmem_policy *p, const char *guest, char *out, size_t len)
{
    size_t need;
    if (!p->has_subst) {
        need = strlen(guest);
        if (need >= len)
            return SHM_ILLEGAL_NAME;
        memcpy(out, guest, need + 1);
    } else if (!p->subst_match[0]) {
        need = strlen(p->subst_prefix) + strlen(guest);
        if (need >= len)
            return SHM_ILLEGAL_NAME;
        strcpy(out, p->subst_prefix);
        strcat(out, guest);
    } else {
        /* The first occurrence of MATCH is replaced; a name without it is unchanged. */
        const char *at = strstr(guest, p->subst_match);
        size_t ml = strlen(p->subst_match);
        size_t head = at ? (size_t)(at - guest) : strlen(guest);
        need = strlen(guest) + (at ? strlen(p->subst_prefix) - ml : 0);
        if (need >= len)
            return SHM_ILLEGAL_NAME;
        memcpy(out, guest, head);
        out[head] = 0;
        if (at) {
            strcat(out, p->subst_prefix);
            strcat(out, at + ml);
        }
    }
    size_t max = len - 1 < SHMEM_HOST_NAME_MAX ? len - 1 : SHMEM_HOST_NAME_MAX;
    return shmem_plain_name(out, max) ? SHM_OK : SHM_ILLEGAL_NAME;
}

void shmem_policy_free(struct shmem_policy *p)
{
    for (size_t i = 0; i < p->nrules; i++)
        free(p->rules[i].pattern);
    free(p->rules);
    free(p->subst_match);
    free(p->subst_prefix);
    memset(p, 0, sizeof(*p));
}
