/* `vdevkit stat`, `capture`, `info` and `list`: clients of a running VM's control socket
 * (core/control.c). A VM is named by its system name, found in the run-time folder
 * ($VDEVKIT_RUNTIME_DIR or /run/vdevkit), or by the socket's path.
 *
 * The socket speaks text (docs/vmm.md); `--json` turns a reply into JSON here, with field
 * names of our own that stay stable. The socket's other end may be anyone's process that
 * took the name: its replies are parsed defensively, control bytes never reach a terminal
 * and every string is escaped (json_out.c). */
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
#include "json_out.h"
#include "tool_exit.h"
#include "tool_msg.h"

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

/* ---- the command line ---- */

/* One command's arguments: `--json` (where allowed) anywhere before `--`, operands. A word
 * that starts with '-' and is not a known option is a usage error; `--` ends the options
 * (a socket path or a system name that starts with '-'). -h and --help never get here
 * (vmm/main.c answers them). */
struct args {
    bool json;
    int n;
    char *op[3];
};

static int parse_args(const char *cmd, int argc, char **argv, bool json_ok, int min, int max,
                      const char *operands, struct args *a)
{
    *a = (struct args){0};
    bool opts = true;
    for (int i = 0; i < argc; i++) {
        char *w = argv[i];
        if (opts && strcmp(w, "--") == 0) {
            opts = false;
        } else if (opts && json_ok && strcmp(w, "--json") == 0) {
            a->json = true;
        } else if (opts && w[0] == '-' && w[1]) {
            return tool_usage_error(cmd, "unknown option '%s'", w);
        } else if (a->n == max) {
            return tool_usage_error(cmd, "unexpected operand '%s' (expected %s)", w, operands);
        } else {
            a->op[a->n++] = w;
        }
    }
    if (a->n < min)
        return tool_usage_error(cmd, "missing operand (expected %s)", operands);
    return 0;
}

/* Asks the VM `what` names; the reply (caller frees), or NULL after saying why. */
static char *ask_vm(const char *cmd, const char *what, const char *request, char *path,
                    size_t pathlen, int *rc)
{
    if (control_path(what, path, pathlen)) {
        *rc = tool_usage_error(cmd, "'%s' is too long", what);
        return NULL;
    }
    const char *why;
    char *reply = ask(path, request, &why);
    if (!reply) {
        if (strcmp(why, "not running") == 0)
            tool_error(cmd, "%s is not running (no VM answers at %s)", what, path);
        else
            tool_error(cmd, "%s: %s", path, why);
        *rc = TOOL_EXIT_HOST;
        return NULL;
    }
    if (strncmp(reply, "error:", 6) == 0) { /* the VM refused the request */
        tool_error(cmd, "%s: %s", what, reply + 6 + (reply[6] == ' '));
        free(reply);
        *rc = TOOL_EXIT_HOST;
        return NULL;
    }
    return reply;
}

/* Prints the reply to `request` as it came, control bytes made harmless. */
static int ask_and_print(const char *cmd, const char *what, const char *request)
{
    char path[512];
    int rc = 0;
    char *reply = ask_vm(cmd, what, request, path, sizeof(path), &rc);
    if (!reply)
        return rc;
    tool_put_text(stdout, reply);
    putchar('\n');
    free(reply);
    return 0;
}

/* ---- replies as JSON ---- */

/* A whole decimal number in [0, max]; -1 when `s` is not one. */
static long long parse_count(const char *s, long long max)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end || errno || v > max ? -1 : v;
}

/* The `info` reply's fields: "system NAME", "pid N", "uptime S s", "devices N" lines, in any
 * order; lines a newer VM may add are skipped. A value that is not what it should be is
 * unknown (-1, or NULL). `reply` is modified. */
struct info {
    const char *system;
    long long pid, devices;
    double uptime; /* < 0: unknown */
};

static void parse_info(char *reply, struct info *in)
{
    *in = (struct info){.pid = -1, .devices = -1, .uptime = -1};
    char *save = NULL;
    for (char *line = strtok_r(reply, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        char *val = sp + 1;
        if (strcmp(line, "system") == 0) {
            in->system = val;
        } else if (strcmp(line, "pid") == 0) {
            in->pid = parse_count(val, 0x7fffffff);
        } else if (strcmp(line, "devices") == 0) {
            in->devices = parse_count(val, 1 << 30);
        } else if (strcmp(line, "uptime") == 0) {
            size_t n = strlen(val);
            if (n > 2 && strcmp(val + n - 2, " s") == 0) {
                val[n - 2] = '\0';
                char *end;
                errno = 0;
                double up = isdigit((unsigned char)*val) ? strtod(val, &end) : -1;
                /* digits and one '.', no exponent, inf or nan: what JSON takes as a number */
                if (up >= 0 && !errno && !*end && up < 1e15 &&
                    strspn(val, "0123456789.") == strlen(val))
                    in->uptime = up;
            }
        }
    }
}

static void json_count(FILE *out, long long v)
{
    if (v < 0)
        fputs("null", out);
    else
        fprintf(out, "%lld", v);
}

static void json_info_fields(FILE *out, const struct info *in)
{
    fputs("\"pid\": ", out);
    json_count(out, in->pid);
    fputs(", \"uptime_s\": ", out);
    if (in->uptime < 0)
        fputs("null", out);
    else
        fprintf(out, "%.1f", in->uptime);
    fputs(", \"devices\": ", out);
    json_count(out, in->devices);
}

static int info_json(const char *what)
{
    char path[512];
    int rc = 0;
    char *reply = ask_vm("info", what, "info", path, sizeof(path), &rc);
    if (!reply)
        return rc;
    struct info in;
    parse_info(reply, &in);
    fputs("{\"system\": ", stdout);
    json_string(stdout, in.system);
    fputs(", \"socket\": ", stdout);
    json_string(stdout, path);
    fputs(", ", stdout);
    json_info_fields(stdout, &in);
    fputs("}\n", stdout);
    free(reply);
    return 0;
}

/* One `stat` line, "LABEL: STATE", where LABEL is "TYPE 'NAME'", "TYPE #N" or "TYPE" and
 * STATE is "-" when the module reports none. */
static int stat_line_json(FILE *out, char *line)
{
    char *colon = strstr(line, ": ");
    if (!colon)
        return -1;
    *colon = '\0';
    char *state = colon + 2;
    char *label = line;
    size_t tlen = strcspn(label, " ");
    char *rest = label + tlen;
    char *name = NULL;
    size_t rlen = strlen(rest);
    if (rlen >= 4 && rest[0] == ' ' && rest[1] == '\'' && rest[rlen - 1] == '\'') {
        name = strndup(rest + 2, rlen - 3);
        if (!name)
            return -1;
    }
    char *type = strndup(label, tlen);
    if (!type) {
        free(name);
        return -1;
    }
    fputs("{\"label\": ", out);
    json_string(out, label);
    fputs(", \"type\": ", out);
    json_string(out, type);
    fputs(", \"name\": ", out);
    json_string(out, name);
    fputs(", \"state\": ", out);
    json_string(out, strcmp(state, "-") ? state : NULL);
    fputs("}", out);
    free(type);
    free(name);
    return 0;
}

static int stat_json(const char *what, const char *request)
{
    char path[512];
    int rc = 0;
    char *reply = ask_vm("stat", what, request, path, sizeof(path), &rc);
    if (!reply)
        return rc;
    /* Built aside: a malformed reply prints nothing on standard output. */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        free(reply);
        tool_error("stat", "out of memory");
        return TOOL_EXIT_HOST;
    }
    fputs("{\"socket\": ", out);
    json_string(out, path);
    fputs(", \"devices\": [", out);
    char *save = NULL;
    unsigned n = 0, lineno = 0;
    for (char *line = strtok_r(reply, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        if (strcmp(line, "(no devices)") == 0)
            continue;
        fputs(n++ ? ", " : "", out);
        if (stat_line_json(out, line))
            rc = TOOL_EXIT_HOST;
    }
    fputs("]}\n", out);
    fclose(out);
    if (rc)
        tool_error("stat", "%s: line %u of the reply is not 'LABEL: STATE'", path, lineno);
    else
        fwrite(buf, 1, len, stdout);
    free(buf);
    free(reply);
    return rc;
}

/* ---- the commands ---- */

int vmm_cmd_stat(int argc, char **argv)
{
    struct args a;
    int rc = parse_args("stat", argc, argv, true, 1, 2, "SYSTEM|SOCKET [NAME]", &a);
    if (rc)
        return rc;
    const char *name = a.n > 1 ? a.op[1] : NULL;
    if (name && (!*name || strpbrk(name, " \t\r\n")))
        return tool_usage_error("stat", "bad device name '%s'", name);
    char request[256];
    int n = snprintf(request, sizeof(request), "stat%s%s", name ? " " : "", name ? name : "");
    if (n < 0 || (size_t)n >= sizeof(request))
        return tool_usage_error("stat", "the device name is too long");
    return a.json ? stat_json(a.op[0], request) : ask_and_print("stat", a.op[0], request);
}

/* The VM opens FILE in its own working directory: a relative name is made absolute here,
 * so it means what it means in the user's shell. */
int vmm_cmd_capture(int argc, char **argv)
{
    struct args a;
    int rc = parse_args("capture", argc, argv, false, 3, 3, "SYSTEM|SOCKET NAME FILE|off", &a);
    if (rc)
        return rc;
    const char *name = a.op[1], *file = a.op[2];
    if (!*name || strpbrk(name, " \t\r\n"))
        return tool_usage_error("capture", "bad device name '%s'", name);
    if (!*file || strpbrk(file, "\r\n") || isspace((unsigned char)file[strlen(file) - 1]))
        return tool_usage_error("capture", "bad file name '%s'", file);
    char cwd[512] = "";
    bool off = strcmp(file, "off") == 0;
    if (!off && file[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
        tool_error("capture", "cannot make %s absolute: %s", file, strerror(errno));
        return TOOL_EXIT_HOST;
    }
    char request[256];
    int n =
        snprintf(request, sizeof(request), "capture %s %s%s%s", name, cwd, cwd[0] ? "/" : "", file);
    if (n < 0 || (size_t)n >= sizeof(request))
        return tool_usage_error("capture",
                                "the capture file's path is too long for the control socket "
                                "(%zu bytes at most with the device name)",
                                sizeof(request) - 1 - strlen("capture  ") - strlen(name));
    return ask_and_print("capture", a.op[0], request);
}

int vmm_cmd_info(int argc, char **argv)
{
    struct args a;
    int rc = parse_args("info", argc, argv, true, 1, 1, "SYSTEM|SOCKET", &a);
    if (rc)
        return rc;
    return a.json ? info_json(a.op[0]) : ask_and_print("info", a.op[0], "info");
}

static int by_name(const struct dirent **x, const struct dirent **y)
{
    return strcmp((*x)->d_name, (*y)->d_name);
}

/* Every folder of the run-time dir with a control socket: running, or left by a VM that died.
 * In name order. */
int vmm_cmd_list(int argc, char **argv)
{
    struct args a;
    int rc = parse_args("list", argc, argv, true, 0, 0, "no operands", &a);
    if (rc)
        return rc;
    const char *base = runtime_base();
    struct dirent **names = NULL;
    int n = scandir(base, &names, NULL, by_name);
    if (n < 0 && errno != ENOENT) {
        tool_error("list", "%s: %s", base, strerror(errno));
        return TOOL_EXIT_HOST;
    }
    /* no folder: no VM ever ran here */
    if (a.json)
        fputc('[', stdout);
    unsigned shown = 0;
    for (int i = 0; i < n; i++) {
        const char *d = names[i]->d_name;
        char path[512];
        struct stat st;
        int len = snprintf(path, sizeof(path), "%s/%s/control", base, d);
        if (d[0] == '.' || len < 0 || (size_t)len >= sizeof(path) || lstat(path, &st) ||
            !S_ISSOCK(st.st_mode))
            continue;
        const char *why;
        char *reply = ask(path, "info", &why);
        struct info in = {.pid = -1, .devices = -1, .uptime = -1};
        if (reply && strncmp(reply, "error:", 6) == 0) {
            why = "the socket answered 'info' with an error";
            free(reply);
            reply = NULL;
        }
        if (reply)
            parse_info(reply, &in);
        if (a.json) {
            fputs(shown ? ",\n " : "", stdout);
            fputs("{\"system\": ", stdout);
            json_string(stdout, d);
            fputs(", \"socket\": ", stdout);
            json_string(stdout, path);
            fprintf(stdout, ", \"running\": %s, ", reply ? "true" : "false");
            json_info_fields(stdout, &in);
            fputs(", \"error\": ", stdout);
            json_string(stdout, reply || strcmp(why, "not running") == 0 ? NULL : why);
            fputc('}', stdout);
        } else {
            tool_put_text(stdout, d);
            printf("%*s ", (int)(strlen(d) < 20 ? 20 - strlen(d) : 0), "");
            if (!reply)
                printf("%s\n", strcmp(why, "not running") ? why : "(not running)");
            else if (in.pid < 0 || in.uptime < 0) /* an answer without the fields */
                printf("running\n");
            else
                printf("running, pid %lld, up %.0f s\n", in.pid, in.uptime);
        }
        shown++;
        free(reply);
    }
    if (a.json)
        fputs("]\n", stdout);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return 0;
}
