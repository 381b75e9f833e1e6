/* Error messages: one complete, user-facing line per failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errc.h"
#include "internal.h"

static void err_vformat(struct vdev_err *err, int code, struct vdev_srcpos *pos, const char *fmt,
                        va_list ap)
{
    err->code = code;
    err->reserved_ = 0;
    size_t n = 0;
    if (pos) {
        int k = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", pos->file ? pos->file : "?",
                         pos->line, pos->col);
        if (k < 0 || (size_t)k >= sizeof(err->msg))
            return;
        n = (size_t)k;
    }
    vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, ap);
}

int vdev_err_set(struct vdev_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vformat(err, VDEV_E_FAILED, NULL, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vdev_err_setc(struct vdev_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vformat(err, code, NULL, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Errors located in the configuration are VDEV_E_CONFIG unless the caller says better. */
int vdev_err_at(struct vdev_err *err, struct vdev_srcpos pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vformat(err, VDEV_E_CONFIG, &pos, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vdev_err_atc(struct vdev_err *err, int code, struct vdev_srcpos pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err_vformat(err, code, &pos, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vdev_errc_from_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return VDEV_E_NOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return VDEV_E_PERM;
    case ENOMEM:
        return VDEV_E_NOMEM;
    case EEXIST:
        return VDEV_E_EXIST;
    case EBUSY:
    case EADDRINUSE:
        return VDEV_E_BUSY;
    default:
        return VDEV_E_IO;
    }
}

const char *vdev_errc_name(int code)
{
    static const char *const names[] = {
        [VDEV_E_OK] = "VDEV_E_OK",       [VDEV_E_FAILED] = "VDEV_E_FAILED",
        [VDEV_E_INVAL] = "VDEV_E_INVAL", [VDEV_E_NOMEM] = "VDEV_E_NOMEM",
        [VDEV_E_NOENT] = "VDEV_E_NOENT", [VDEV_E_CONFIG] = "VDEV_E_CONFIG",
        [VDEV_E_RANGE] = "VDEV_E_RANGE", [VDEV_E_BUSY] = "VDEV_E_BUSY",
        [VDEV_E_EXIST] = "VDEV_E_EXIST", [VDEV_E_PERM] = "VDEV_E_PERM",
        [VDEV_E_IO] = "VDEV_E_IO",       [VDEV_E_UNSUPPORTED] = "VDEV_E_UNSUPPORTED",
        [VDEV_E_ABI] = "VDEV_E_ABI",
    };
    if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
        return "VDEV_E_?";
    return names[code];
}

char *vdev_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        abort(); /* out of memory while building a VM: nothing sensible to continue with */
    return p;
}

const char *vdev_did_you_mean(char *buf, size_t len, const char *word, const char *const *cands)
{
    const char *best = vdev_closest_word(word, cands);
    if (!best || len == 0)
        return "";
    snprintf(buf, len, " (did you mean '%s'?)", best);
    return buf;
}
