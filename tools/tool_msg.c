/* The vdevkit command's message prefixes (tool_msg.h). */
#include <stdarg.h>
#include <string.h>

#include "tool_exit.h"
#include "tool_msg.h"

static void vmessage(const char *cmd, const char *fmt, va_list ap, const char *hint)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (cmd)
        fprintf(stderr, "vdevkit %s: ", cmd);
    else
        fputs("vdevkit: ", stderr);
    tool_put_text(stderr, msg);
    if (hint) {
        size_t n = cmd ? strcspn(cmd, " ") : 0;
        if (n == 4 && strncmp(cmd, "help", 4) == 0)
            n = 0; /* `vdevkit help` lists the commands */
        fprintf(stderr, " (try 'vdevkit help%s%.*s')", n ? " " : "", (int)n, cmd ? cmd : "");
    }
    fputc('\n', stderr);
}

void tool_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap, NULL);
    va_end(ap);
}

int tool_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(cmd, fmt, ap, "");
    va_end(ap);
    return TOOL_EXIT_CONFIG;
}

void tool_put_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : c, out);
    }
}
