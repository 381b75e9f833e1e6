/* `vdevkit shmem`: lists, creates (persistent) and removes the host's shmem regions.
 *
 *   vdevkit shmem list
 *   vdevkit shmem create NAME SIZE [MODE [GID]]   SIZE in bytes, K/M/G suffixes, whole pages
 *   vdevkit shmem remove NAME
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vdev/config.h>

#include "shm/shm_object.h"
#include "shmem_cli.h"
#include "tool_exit.h"
#include "tool_msg.h"

static const char *const status_text[] = {
    [SHM_OK] = "ok",
    [SHM_UNKNOWN] = "failed",
    [SHM_NO_MEMORY] = "no memory",
    [SHM_CLIENT_MAX] = "too many clients",
    [SHM_ILLEGAL_NAME] = "illegal name",
    [SHM_NO_PERMISSION] = "no permission",
    [SHM_DOES_NOT_EXIST] = "does not exist",
};

void vmm_shmem_usage(FILE *out)
{
    fprintf(out, "usage: vdevkit shmem list\n"
                 "       vdevkit shmem create [--] NAME SIZE [MODE [GID]]\n"
                 "       vdevkit shmem remove [--] NAME\n"
                 "SIZE is in bytes (K/M/G suffixes, rounded up to 4 KiB pages), MODE octal\n"
                 "(default 0666 less the umask), GID a group number or name.\n");
}

static void size_text(char *buf, size_t len, uint64_t bytes)
{
    if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0)
        snprintf(buf, len, "%lluG", (unsigned long long)(bytes >> 30));
    else if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0)
        snprintf(buf, len, "%lluM", (unsigned long long)(bytes >> 20));
    else
        snprintf(buf, len, "%lluK", (unsigned long long)(bytes >> 10));
}

static void print_region(const struct shm_obj_info *info, void *arg)
{
    char size[32], owner[80], user[32], group[32];
    struct passwd *pw = getpwuid(info->uid);
    struct group *gr = getgrgid(info->gid);
    snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "");
    snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "");
    if (!user[0])
        snprintf(user, sizeof(user), "%u", (unsigned)info->uid);
    if (!group[0])
        snprintf(group, sizeof(group), "%u", (unsigned)info->gid);
    snprintf(owner, sizeof(owner), "%s:%s", user, group);
    if (info->foreign) {
        printf("%-20s %-8s %04o  %-16s %-5s %s\n", info->name, "-", info->mode, owner, "-",
               "another user's object: not used by VMs (its owner or root may remove it)");
        return;
    }
    if (info->corrupt) {
        printf("%-20s %-8s %04o  %-16s %-5s %s\n", info->name, "-", info->mode, owner, "-",
               "not a valid region (vdevkit shmem remove it)");
        return;
    }
    size_text(size, sizeof(size), info->pages * SHM_OBJ_PAGE);
    printf("%-20s %-8s %04o  %-16s %-5s %u", info->name, size, info->mode, owner,
           info->persistent ? "yes" : "no", info->users);
    for (unsigned i = 0; i < SHM_OBJ_MAX_CLIENTS; i++) {
        if (!(info->attached & (1u << i)))
            continue;
        if (info->clients[i].pid)
            printf(" %u:%d%s%s%s", i, (int)info->clients[i].pid, info->clients[i].who[0] ? "(" : "",
                   info->clients[i].who, info->clients[i].who[0] ? ")" : "");
        else
            printf(" %u:?", i);
    }
    printf("%s\n", info->readonly ? "  (read-only view)" : "");
}

static int cmd_list(int argc, char **argv)
{
    if (argc != 0) {
        return tool_usage_error("shmem list", "unexpected operand '%s' (expected none)", argv[0]);
    }
    printf("%-20s %-8s %-5s %-16s %-5s %s\n", "NAME", "SIZE", "MODE", "OWNER", "PERS",
           "USERS CLIENTS(idx:pid(who))");
    int n = shm_obj_list(print_region, NULL);
    if (n < 0) {
        tool_error("shmem list", "%s", strerror(errno));
        return TOOL_EXIT_HOST;
    }
    return 0;
}

static int parse_gid(const char *s, gid_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (*s && !*end && !errno && v < (unsigned long)(gid_t)-1) {
        *out = (gid_t)v;
        return 0;
    }
    struct group *gr = getgrnam(s);
    if (!gr)
        return -1;
    *out = gr->gr_gid;
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    if (argc < 2)
        return tool_usage_error("shmem create",
                                "missing operand (expected NAME SIZE [MODE [GID]])");
    if (argc > 4)
        return tool_usage_error(
            "shmem create", "unexpected operand '%s' (expected NAME SIZE [MODE [GID]])", argv[4]);
    const char *name = argv[0];
    uint64_t bytes;
    const char *why = NULL;
    if (vdev_parse_u64(argv[1], &bytes, &why) || bytes == 0) {
        return tool_usage_error("shmem create", "bad SIZE '%s': %s", argv[1],
                                why ? why : "must be at least 1");
    }
    uint64_t pages = bytes / SHM_OBJ_PAGE + (bytes % SHM_OBJ_PAGE != 0);
    if (pages > SHM_OBJ_MAX_PAGES) {
        return tool_usage_error("shmem create", "SIZE '%s' is above the %u GiB limit", argv[1],
                                (unsigned)(((uint64_t)SHM_OBJ_MAX_PAGES * SHM_OBJ_PAGE) >> 30));
    }
    mode_t um = umask(0);
    umask(um);
    unsigned mode = 0666 & ~um;
    if (argc >= 3) {
        char *end;
        errno = 0;
        unsigned long m = strtoul(argv[2], &end, 8);
        if (!*argv[2] || *end || errno || m > 0777) {
            return tool_usage_error("shmem create", "bad MODE '%s' (octal, at most 0777)", argv[2]);
        }
        mode = (unsigned)m;
    }
    gid_t gid = (gid_t)-1;
    if (argc == 4 && parse_gid(argv[3], &gid)) {
        return tool_usage_error("shmem create", "unknown group '%s'", argv[3]);
    }
    char text[160] = "";
    int r = shm_obj_create_persistent(name, pages, mode, gid, text, sizeof(text));
    if (r != SHM_OK) {
        tool_error("shmem create", "%s: %s%s%s", name, status_text[r], text[0] ? ": " : "", text);
        return r == SHM_ILLEGAL_NAME ? TOOL_EXIT_CONFIG : TOOL_EXIT_HOST;
    }
    return 0;
}

static int cmd_remove(int argc, char **argv)
{
    if (argc != 1)
        return argc ? tool_usage_error("shmem remove", "unexpected operand '%s' (expected NAME)",
                                       argv[1])
                    : tool_usage_error("shmem remove", "missing operand (expected NAME)");
    if (shm_obj_remove(argv[0])) {
        int e = errno;
        tool_error("shmem remove", "%s: %s", argv[0],
                   e == EINVAL   ? "illegal name"
                   : e == ENOENT ? "no such region"
                                 : strerror(e));
        return e == EINVAL ? TOOL_EXIT_CONFIG : TOOL_EXIT_HOST;
    }
    return 0;
}

int vmm_cmd_shmem(int argc, char **argv)
{
    /* --help anywhere before `--` answers; any other word with a leading '-' there is an
     * unknown option (a region whose name starts with '-' comes after `--`). */
    int dashes = argc;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            dashes = i;
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            vmm_shmem_usage(stdout);
            return 0;
        }
    }
    for (int i = 0; i < dashes; i++)
        if (argv[i][0] == '-' && argv[i][1])
            return tool_usage_error("shmem", "unknown option '%s'", argv[i]);
    if (dashes < argc) { /* drop the `--` */
        memmove(argv + dashes, argv + dashes + 1, (size_t)(argc - dashes - 1) * sizeof(*argv));
        argc--;
    }
    if (argc < 1)
        return tool_usage_error("shmem", "missing command (list, create or remove)");
    if (strcmp(argv[0], "help") == 0) {
        vmm_shmem_usage(stdout);
        return 0;
    }
    if (strcmp(argv[0], "list") == 0)
        return cmd_list(argc - 1, argv + 1);
    if (strcmp(argv[0], "create") == 0)
        return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[0], "remove") == 0)
        return cmd_remove(argc - 1, argv + 1);
    return tool_usage_error("shmem", "unknown command '%s' (list, create or remove)", argv[0]);
}
