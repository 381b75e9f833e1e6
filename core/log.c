/* Logging: per-device filters and destinations (`log FILTERS DEST`), framework messages. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static const char *const level_names[VDEV_LOG_LEVELS + 1] = {
    "fatal", "internal", "error", "warning", "info", "debug", "verbose", NULL};

/* FILTERS: comma-separated level names, `all` or `none`; a trailing '+' on a level also
 * enables every more severe level (`warning+`). DEST: `vmm` (the embedder's log, the
 * default), `stderr`, `stdout`, or a file appended to. */
int vdev_log_parse(struct vdev *d, const char *filters, const char *dest, const char **why)
{
    unsigned mask = 0;
    char *copy = vdev_strdup(filters);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(item);
        bool and_more = n > 1 && item[n - 1] == '+';
        if (and_more)
            item[n - 1] = '\0';
        if (strcmp(item, "all") == 0) {
            mask = (1u << VDEV_LOG_LEVELS) - 1;
            continue;
        }
        if (strcmp(item, "none") == 0)
            continue;
        int lvl = -1;
        for (int i = 0; i < VDEV_LOG_LEVELS; i++)
            if (strcmp(item, level_names[i]) == 0)
                lvl = i;
        if (lvl < 0) {
            free(copy);
            *why = "FILTERS is a comma list of fatal, internal, error, warning, info, debug, "
                   "verbose (LEVEL+ adds the more severe ones), all or none";
            return -1;
        }
        mask |= and_more ? (2u << lvl) - 1 : 1u << lvl;
    }
    free(copy);
    vdev_log_close(d);
    if (strcmp(dest, "stderr") == 0) {
        d->log_fd = STDERR_FILENO;
    } else if (strcmp(dest, "stdout") == 0) {
        d->log_fd = STDOUT_FILENO;
    } else if (strcmp(dest, "vmm") != 0 && vdev_machine_config(d->m)->dryrun) {
        if (vdev_host_file_check(dest)) { /* dryrun creates nothing */
            *why = "DEST is vmm, stderr, stdout or a file that can be opened for appending";
            return -1;
        }
    } else if (strcmp(dest, "vmm") != 0) {
        d->log_fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (d->log_fd < 0) {
            *why = "DEST is vmm, stderr, stdout or a file that can be opened for appending";
            return -1;
        }
        d->log_fd_owned = true;
    }
    d->log_mask = mask;
    return 0;
}

void vdev_log_close(struct vdev *d)
{
    if (d->log_fd_owned && d->log_fd >= 0)
        close(d->log_fd);
    d->log_fd = -1;
    d->log_fd_owned = false;
}

/* Every source may send VDEV_LOG_BURST lines at once and VDEV_LOG_PER_SEC a second after
 * that; fatal and internal lines (our own bugs, the VM stopping) always go out. */
#define VDEV_LOG_BURST   100u
#define VDEV_LOG_PER_SEC 10u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Takes a token for one line; returns how many lines were dropped before it (to report),
 * or -1 if this line is dropped too. */
static long limit_take(struct vdev_machine *m, struct vdev_log_limit *l, enum vdev_log_level level)
{
    if (level <= VDEV_LOG_INTERNAL)
        return 0;
    pthread_mutex_lock(&m->log_lock);
    uint64_t now = now_ms();
    if (!l->primed) {
        l->primed = true;
        l->tokens = VDEV_LOG_BURST;
        l->last_ms = now;
    }
    uint64_t earned = (now - l->last_ms) * VDEV_LOG_PER_SEC / 1000u;
    if (earned) {
        l->tokens =
            earned >= VDEV_LOG_BURST - l->tokens ? VDEV_LOG_BURST : l->tokens + (unsigned)earned;
        l->last_ms = now;
    }
    long rc = -1;
    if (l->tokens) {
        l->tokens--;
        rc = (long)l->dropped;
        l->dropped = 0;
    } else {
        l->dropped++;
    }
    pthread_mutex_unlock(&m->log_lock);
    return rc;
}

static void emit_line(struct vdev_machine *m, int fd, enum vdev_log_level level, const char *who,
                      const char *msg);

static void emit(struct vdev_machine *m, struct vdev_log_limit *l, int fd,
                 enum vdev_log_level level, const char *who, const char *msg)
{
    long dropped = limit_take(m, l, level);
    if (dropped < 0)
        return;
    if (dropped) {
        char note[96];
        snprintf(note, sizeof(note), "%ld lines dropped (more than %u a second)", dropped,
                 VDEV_LOG_PER_SEC);
        emit_line(m, fd, VDEV_LOG_WARNING, who, note);
    }
    emit_line(m, fd, level, who, msg);
}

static void emit_line(struct vdev_machine *m, int fd, enum vdev_log_level level, const char *who,
                      const char *msg)
{
    if (fd < 0 && EMB_HOOK(m, log)) {
        EMB_HOOK(m, log)(m->ctx, level, who, msg);
        return;
    }
    char line[1200];
    int n = snprintf(line, sizeof(line), "%s: %s: %s\n", who, level_names[level], msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1;
    pthread_mutex_lock(&m->log_lock);
    ssize_t w = write(fd >= 0 ? fd : STDERR_FILENO, line, (size_t)n);
    (void)w; /* a log line that cannot be written has nowhere else to go */
    pthread_mutex_unlock(&m->log_lock);
}

void vdev_log(struct vdev *d, enum vdev_log_level level, const char *fmt, ...)
{
    if ((unsigned)level >= VDEV_LOG_LEVELS || !(d->log_mask & (1u << level)))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(d->m, &d->log_limit, d->log_fd, level, d->label, msg);
}

void vdev_machine_log(struct vdev_machine *m, enum vdev_log_level level, const char *fmt, ...)
{
    if ((unsigned)level >= VDEV_LOG_LEVELS)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit(m, &m->log_limit, -1, level, "vdevkit", msg);
}

const char *vdev_log_level_name(enum vdev_log_level level)
{
    return (unsigned)level < VDEV_LOG_LEVELS ? level_names[level] : "?";
}
