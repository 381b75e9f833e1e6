/* shmem: which region names a guest may use and what the host calls them.
 *
 * The guest writes a name into the factory page. It is checked in this order:
 *   1. shmem_name_from_field: a plain name (1-31 bytes, NUL-terminated within the 32-byte
 *      field, no '/', no "..", no control characters) or SHM_ILLEGAL_NAME;
 *   2. shmem_policy_permits: the allow/deny list, on the name AS THE GUEST WROTE IT (before
 *      subst), top-down, first match wins; any `allow` ends the list with an implicit
 *      `deny *`, only `deny`s with an implicit allow-all; failing = SHM_NO_PERMISSION;
 *   3. shmem_policy_host_name: `subst` gives the host name, which must be plain too.
 */
#ifndef VDEVKIT_SHMEM_POLICY_H
#define VDEVKIT_SHMEM_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHMEM_NAME_FIELD    32  /* bytes of the factory page's name field */
#define SHMEM_HOST_NAME_MAX 200 /* host names (without the object prefix) */
#define SHMEM_PATTERN_MAX   255

struct shmem_rule {
    bool allow;
    char *pattern;
};

struct shmem_policy {
    struct shmem_rule *rules;
    size_t nrules;
    bool any_allow;
    bool has_subst;
    char *subst_match;  /* NULL or "": PREFIX is prepended */
    char *subst_prefix; /* may be "" (with a MATCH: the match is removed) */
};

/* Appends an allow/deny rule. 0, or -1 with *why (bad pattern, out of memory). */
int shmem_policy_add_rule(struct shmem_policy *p, bool allow, const char *pattern,
                          const char **why);
/* `subst [MATCH],PREFIX`. 0, or -1 with *why and *hint. */
int shmem_policy_set_subst(struct shmem_policy *p, const char *arg, const char **why,
                           const char **hint);
/* True when the list lets the guest use `name` (the name the guest wrote). */
bool shmem_policy_permits(const struct shmem_policy *p, const char *name);
/* The host name for guest name `guest` into out[len]: SHM_OK or SHM_ILLEGAL_NAME (the
 * substituted name is not plain, or too long). */
int shmem_policy_host_name(const struct shmem_policy *p, const char *guest, char *out, size_t len);
void shmem_policy_free(struct shmem_policy *p);

/* The guest's 32-byte field to a C string in out: SHM_OK or SHM_ILLEGAL_NAME. */
int shmem_name_from_field(const uint8_t field[SHMEM_NAME_FIELD], char out[SHMEM_NAME_FIELD]);
/* A name that is safe as one file name: not empty, not "." or "..", no '/', no "..", no
 * control characters, at most max bytes. */
bool shmem_plain_name(const char *s, size_t max);

#endif
