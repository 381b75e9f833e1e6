/* shmem: the options (see docs/shmem.md and docs/config.md). */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <vdev/config.h>
#include <vdev/machine.h>

#include "shmem_dev.h"

const struct vdev_option shmem_options[] = {
    {.name = "allow",
     .kind = VDEV_OPT_STRING,
     .flags = VDEV_OPT_REPEAT,
     .arg = "PATTERN",
     .help = "names the guest may use (shell wildcards; top-down, first match; any allow ends "
             "the list with deny *)"},
    {.name = "deny",
     .kind = VDEV_OPT_STRING,
     .flags = VDEV_OPT_REPEAT,
     .arg = "PATTERN",
     .help = "names the guest may not use (only denies: the list ends with allow *)"},
    {.name = "create",
     .kind = VDEV_OPT_STRING,
     .flags = VDEV_OPT_REPEAT,
     .arg = "NAME,SIZE[,MODE[,GID]]",
     .help = "create region NAME of SIZE bytes (K/M/G, rounded up to pages) when the VM starts "
             "and hold it until it ends"},
    {.name = "subst",
     .kind = VDEV_OPT_STRING,
     .arg = "[MATCH],PREFIX",
     .help = "host name: MATCH in the guest's name replaced by PREFIX, or PREFIX prepended"},
    {.name = "gid",
     .kind = VDEV_OPT_STRING,
     .arg = "GROUP|ID",
     .help = "group of the regions this device creates (default: the process's)"},
    {.name = "umask",
     .kind = VDEV_OPT_STRING,
     .arg = "OCTAL",
     .def = "the process's",
     .help = "permission bits removed from 0666 (and from a create MODE)"},
    {.name = "sched",
     .kind = VDEV_OPT_STRING,
     .arg = "PRIORITY[r|f|o]",
     .help = "qvm's form, as on 'cpu'; accepted for compatibility: notifications run on the "
             "host object's watcher thread at the process's priority"},
    {.name = "window",
     .kind = VDEV_OPT_U64,
     .arg = "SIZE",
     .def = "1G",
     .help = "guest-physical window the attached regions are mapped in (power of two)",
     .min = 0x10000,
     .max = 1ull << 40},
    {.name = NULL},
};

/* The process's umask without changing it (other threads may be creating files): Linux
 * shows it in /proc/self/status; older kernels need the set-and-restore dance. */
static unsigned process_umask(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    unsigned v = 0;
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = sscanf(line, "Umask: %o", &v) == 1;
    if (f)
        fclose(f);
    if (!found) {
        mode_t old = umask(022);
        umask(old);
        v = (unsigned)old;
    }
    return v & 0777;
}

int shmem_options_start(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    s->d = d;
    s->gid = (gid_t)-1;
    s->umask = process_umask();
    s->window_size = SHMEM_DEFAULT_WINDOW;
    s->msix_efd = -1;
    if (pthread_mutex_init(&s->lock, NULL))
        return vdev_error(d, vdev_pos(d), NULL, "out of resources");
    s->lock_ready = true;
    return 0;
}

/* An octal permission mask (0-0777). */
static int parse_octal(const char *t, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(t, &end, 8);
    if (!*t || *end || errno || v > 0777)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A group name or number. */
static int parse_gid(const char *t, gid_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(t, &end, 10);
    if (*t && !*end && !errno && v < (gid_t)-1) {
        *out = (gid_t)v;
        return 0;
    }
    struct group gr, *res = NULL;
    char buf[4096];
    if (getgrnam_r(t, &gr, buf, sizeof(buf), &res) || !res)
        return -1;
    *out = res->gr_gid;
    return 0;
}

/* `create NAME,SIZE[,MODE[,GID]]` */
static int add_create(struct vdev *d, struct shmem *s, const struct vdev_optval *v)
{
    char *copy = strdup(v->text);
    if (!copy)
        return vdev_error(d, v->pos, NULL, "out of memory");
    char *field[5] = {0};
    unsigned n = 0;
    for (char *p = copy, *tok; n < 5 && (tok = strsep(&p, ",")); n++)
        field[n] = tok;
    struct shmem_create c = {.pos = v->pos};
    const char *why = NULL;
    int rc = -1;
    uint64_t bytes = 0;
    if (n < 2 || n > 4) {
        vdev_error(d, v->pos, "e.g. 'create ring0,64K' or 'create ring0,1M,0660,vmusers'",
                   "option 'create': '%s' is not NAME,SIZE[,MODE[,GID]]", v->text);
    } else if (strlen(field[0]) >= SHMEM_NAME_FIELD ||
               !shmem_plain_name(field[0], SHMEM_NAME_FIELD - 1)) {
        vdev_error(d, v->pos, "1-31 characters, no '/', \"..\" or control characters",
                   "option 'create': '%s' is not a region name", field[0]);
    } else if (vdev_parse_u64(field[1], &bytes, &why) || bytes == 0) {
        vdev_error(d, v->pos, "a size in bytes, with K/M/G; it is rounded up to 4 KiB pages",
                   "option 'create': size '%s' %s", field[1], why ? why : "is zero");
    } else if (bytes > (uint64_t)SHM_OBJ_MAX_PAGES * SHMEM_PAGE) {
        vdev_error(d, v->pos, NULL, "option 'create': size '%s' is above the 16 GiB limit",
                   field[1]);
    } else if (n >= 3 && parse_octal(field[2], &c.mode)) {
        vdev_error(d, v->pos, "an octal mode such as 0660", "option 'create': bad mode '%s'",
                   field[2]);
    } else if (n >= 4 && parse_gid(field[3], &c.gid)) {
        vdev_error(d, v->pos, "a group name or number", "option 'create': unknown group '%s'",
                   field[3]);
    } else {
        c.has_mode = n >= 3;
        c.has_gid = n >= 4;
        c.pages = (bytes + SHMEM_PAGE - 1) / SHMEM_PAGE;
        c.name = strdup(field[0]);
        struct shmem_create *nc = realloc(s->creates, (s->ncreates + 1) * sizeof(*nc));
        if (!c.name || !nc) {
            free(c.name);
            if (nc)
                s->creates = nc;
            vdev_error(d, v->pos, NULL, "out of memory");
        } else {
            s->creates = nc;
            s->creates[s->ncreates++] = c;
            rc = 0;
        }
    }
    free(copy);
    return rc;
}

int shmem_option(struct vdev *d, const struct vdev_optval *v)
{
    struct shmem *s = vdev_state(d);
    const char *name = v->opt->name, *why = NULL, *hint = NULL;
    if (!strcmp(name, "allow") || !strcmp(name, "deny")) {
        if (shmem_policy_add_rule(&s->pol, name[0] == 'a', v->text, &why))
            return vdev_error(d, v->pos, "shell wildcards: * ? [abc] [!abc]",
                              "option '%s': bad pattern '%s': %s", name, v->text, why);
    } else if (!strcmp(name, "create")) {
        return add_create(d, s, v);
    } else if (!strcmp(name, "subst")) {
        if (shmem_policy_set_subst(&s->pol, v->text, &why, &hint))
            return vdev_error(d, v->pos, hint, "option 'subst': '%s': %s", v->text, why);
    } else if (!strcmp(name, "gid")) {
        if (parse_gid(v->text, &s->gid))
            return vdev_error(d, v->pos, "a group name or number",
                              "option 'gid': unknown group '%s'", v->text);
    } else if (!strcmp(name, "umask")) {
        if (parse_octal(v->text, &s->umask))
            return vdev_error(d, v->pos, "an octal mask such as 022 or 007",
                              "option 'umask': bad mask '%s'", v->text);
    } else if (!strcmp(name, "sched")) {
        const char *bad;
        int prio;
        if (vdev_parse_sched(v->text, &prio, NULL, &bad))
            return vdev_error(d, v->pos, "e.g. 'sched 10' or 'sched 10r', as on 'cpu' lines",
                              "option 'sched': bad value '%s': %s", v->text, bad);
        s->sched = (uint64_t)prio;
    } else if (!strcmp(name, "window")) {
        if (v->num & (v->num - 1))
            return vdev_error(d, v->pos, "e.g. 256M or 1G",
                              "option 'window': 0x%llx is not a power of two",
                              (unsigned long long)v->num);
        s->window_size = v->num;
    }
    return 0;
}

int shmem_options_end(struct vdev *d)
{
    struct shmem *s = vdev_state(d);
    for (size_t i = 0; i < s->ncreates; i++) {
        char host[SHMEM_HOST_NAME_MAX + 1];
        if (shmem_policy_host_name(&s->pol, s->creates[i].name, host, sizeof(host)) != SHM_OK)
            return vdev_error(d, s->creates[i].pos, "check the subst option",
                              "option 'create': '%s' becomes no plain host name after subst",
                              s->creates[i].name);
        if (s->creates[i].pages + 1 > s->window_size / SHMEM_PAGE)
            vdev_warn(d,
                      "create %s: %llu pages do not fit in the window (0x%llx bytes): guests "
                      "cannot attach it",
                      s->creates[i].name, (unsigned long long)s->creates[i].pages,
                      (unsigned long long)s->window_size);
    }
    if (s->sched)
        vdev_debug(d, "sched %llu accepted and not used", (unsigned long long)s->sched);
    return 0;
}

int shmem_create_regions(struct shmem *s)
{
    struct vdev *d = s->d;
    for (size_t i = 0; i < s->ncreates; i++) {
        struct shmem_create *c = &s->creates[i];
        char host[SHMEM_HOST_NAME_MAX + 1], why[256] = "";
        if (shmem_policy_host_name(&s->pol, c->name, host, sizeof(host)) != SHM_OK)
            return vdev_error(d, c->pos, NULL, "option 'create': bad host name for '%s'", c->name);
        struct shm_open_args a = {
            .pages = c->pages,
            .create = true,
            .mode = (c->has_mode ? c->mode : 0666u) & ~s->umask & 0666u,
            .gid = c->has_gid ? c->gid : s->gid,
            .who = vdev_machine_system_name(vdev_machine_of(d)),
        };
        int st = shm_obj_open(host, &a, &c->obj, why, sizeof(why));
        if (st != SHM_OK)
            return vdev_error(d, c->pos, NULL, "option 'create': region '%s': %s%s%s", host,
                              st == SHM_NO_PERMISSION ? "no permission" : "cannot create it",
                              why[0] ? ": " : "", why);
        if (shm_obj_pages(c->obj) != c->pages)
            vdev_warn(d, "create %s: the region exists with %llu pages (asked for %llu)", host,
                      (unsigned long long)shm_obj_pages(c->obj), (unsigned long long)c->pages);
    }
    return 0;
}

void shmem_options_free(struct shmem *s)
{
    for (size_t i = 0; i < s->ncreates; i++) {
        if (s->creates[i].obj)
            shm_obj_close(s->creates[i].obj);
        free(s->creates[i].name);
    }
    free(s->creates);
    s->creates = NULL;
    s->ncreates = 0;
    shmem_policy_free(&s->pol);
}
