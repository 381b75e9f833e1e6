/* Error messages: one complete, user-facing line per failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int vdev_err_set(struct vdev_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int vdev_err_at(struct vdev_err *err, struct vdev_srcpos pos, const char *fmt, ...)
{
    if (err) {
        int n = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", pos.file ? pos.file : "?",
                         pos.line, pos.col);
        if (n < 0 || (size_t)n >= sizeof(err->msg))
            return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
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
