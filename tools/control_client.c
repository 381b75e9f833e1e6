/* `vdevkit stat`, `capture`, `info` and `list`: clients of a running VM's control socket
 * (core/control.c). A VM is named by its system name, found in the run-time folder
 * ($VDEVKIT_RUNTIME_DIR or /run/vdevkit), or by the socket's path. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control_client.h"
#include "tool_exit.h"

#define REPLY_TIMEOUT_MS 5000
#define REPLY_MAX        (1 << 20)

static const char *runtime_base(void)
{
    const char *dir = getenv("VDEVKIT_RUNTIME_DIR");
    return dir && *dir ? dir : "/run/vdevkit";
}

/* SYSTEM → <runtime dir>/SYSTEM/control; anything with a '/' is a path already. */
static int control_path(const char *what, char *buf, size_t len)
{
    int n = strchr(what, '/') ? snprintf(buf, len, "%s", what)
                              : snprintf(buf, len, "%s/%s/control", runtime_base(), what);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Sends `request` and reads the reply up to its blank line (or the VM closing). Returns the
 * reply without the blank line (caller frees), or NULL with *why set. */
static char *ask(const char *path, const char *request, const char **why)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        *why = "path too long for a Unix socket";
        return NULL;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        *why = errno == ENOENT || errno == ECONNREFUSED ? "not running" : strerror(errno);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    size_t rlen = strlen(request);
    if (send(fd, request, rlen, MSG_NOSIGNAL) != (ssize_t)rlen ||
        send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        *why = strerror(errno);
        close(fd);
        return NULL;
    }
    char *buf = malloc(REPLY_MAX + 1);
    size_t len = 0;
    long long deadline = now_ms() + REPLY_TIMEOUT_MS;
    *why = NULL;
    while (buf && len < REPLY_MAX) {
        buf[len] = '\0';
        if (len >= 2 && strcmp(buf + len - 2, "\n\n") == 0)
            break;
        if (len == 1 && buf[0] == '\n')
            break;
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            *why = "no answer within 5 s";
            break;
        }
        ssize_t n = read(fd, buf + len, REPLY_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (!buf || *why) {
        free(buf);
        if (!*why)
            *why = "out of memory";
        return NULL;
    }
    buf[len] = '\0';
    while (len > 0 && buf[len - 1] == '\n') /* the blank line that ends a reply */
        buf[--len] = '\0';
    return buf;
}

/* Prints the reply to `request`; 0 when the VM answered without an error line. */
static int ask_and_print(const char *what, const char *request)
{
    char path[512];
    if (control_path(what, path, sizeof(path))) {
        fprintf(stderr, "vdevkit: '%s' is too long\n", what);
        return TOOL_EXIT_CONFIG;
    }
    const char *why;
    char *reply = ask(path, request, &why);
    if (!reply) {
        if (strcmp(why, "not running") == 0)
            fprintf(stderr, "vdevkit: %s is not running (no VM answers at %s)\n", what, path);
        else
            fprintf(stderr, "vdevkit: %s: %s\n", path, why);
        return TOOL_EXIT_HOST;
    }
    printf("%s\n", reply);
    int rc = strncmp(reply, "error:", 6) == 0 ? TOOL_EXIT_HOST : 0;
    free(reply);
    return rc;
}

int vmm_cmd_stat(int argc, char **argv)
{
    if (argc < 1 || argc > 2) {
        fprintf(stderr, "usage: vdevkit stat SYSTEM|SOCKET-PATH [NAME]\n");
        return TOOL_EXIT_CONFIG;
    }
    char request[256];
    int n = snprintf(request, sizeof(request), "stat%s%s", argc > 1 ? " " : "",
                     argc > 1 ? argv[1] : "");
    if (n < 0 || (size_t)n >= sizeof(request) || strpbrk(request, "\n\r")) {
        fprintf(stderr, "vdevkit: bad device name\n");
        return TOOL_EXIT_CONFIG;
    }
    return ask_and_print(argv[0], request);
}

/* The VM opens FILE in its own working directory: a relative name is made absolute here,
 * so it means what it means in the user's shell. */
int vmm_cmd_capture(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: vdevkit capture SYSTEM|SOCKET-PATH NAME FILE|off\n");
        return TOOL_EXIT_CONFIG;
    }
    const char *name = argv[1], *file = argv[2];
    if (!*name || strpbrk(name, " \t\r\n")) {
        fprintf(stderr, "vdevkit: bad device name '%s'\n", name);
        return TOOL_EXIT_CONFIG;
    }
    char cwd[512] = "";
    bool off = strcmp(file, "off") == 0;
    if (!off && file[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
        fprintf(stderr, "vdevkit: cannot make %s absolute: %s\n", file, strerror(errno));
        return TOOL_EXIT_HOST;
    }
    char request[256];
    int n =
        snprintf(request, sizeof(request), "capture %s %s%s%s", name, cwd, cwd[0] ? "/" : "", file);
    if (!*file || strpbrk(file, "\r\n") || isspace((unsigned char)file[strlen(file) - 1])) {
        fprintf(stderr, "vdevkit: bad file name '%s'\n", file);
        return TOOL_EXIT_CONFIG;
    }
    if (n < 0 || (size_t)n >= sizeof(request)) {
        fprintf(stderr,
                "vdevkit: the capture file's path is too long for the control socket "
                "(%zu bytes at most with the device name)\n",
                sizeof(request) - 1 - strlen("capture  ") - strlen(name));
        return TOOL_EXIT_CONFIG;
    }
    return ask_and_print(argv[0], request);
}

int vmm_cmd_info(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: vdevkit info SYSTEM|SOCKET-PATH\n");
        return TOOL_EXIT_CONFIG;
    }
    return ask_and_print(argv[0], "info");
}

/* Every folder of the run-time dir with a control socket: running, or left by a VM that died. */
int vmm_cmd_list(int argc, char **argv)
{
    (void)argv;
    if (argc != 0) {
        fprintf(stderr, "usage: vdevkit list\n");
        return TOOL_EXIT_CONFIG;
    }
    const char *base = runtime_base();
    DIR *dir = opendir(base);
    if (!dir) {
        if (errno == ENOENT)
            return 0; /* no VM ever ran here */
        fprintf(stderr, "vdevkit: %s: %s\n", base, strerror(errno));
        return TOOL_EXIT_HOST;
    }
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        struct stat st;
        int n = snprintf(path, sizeof(path), "%s/%s/control", base, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) || !S_ISSOCK(st.st_mode))
            continue;
        const char *why;
        char *reply = ask(path, "info", &why);
        if (!reply) {
            printf("%-20s %s\n", e->d_name, strcmp(why, "not running") ? why : "(not running)");
            continue;
        }
        /* "system X\npid N\nuptime U s\ndevices D" on one line */
        long pid = 0;
        double up = 0;
        const char *p = strstr(reply, "\npid ");
        if (p)
            pid = strtol(p + 5, NULL, 10);
        if ((p = strstr(reply, "\nuptime ")))
            up = strtod(p + 8, NULL);
        printf("%-20s running, pid %ld, up %.0f s\n", e->d_name, pid, up);
        free(reply);
    }
    closedir(dir);
    return 0;
}
