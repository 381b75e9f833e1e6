/* Tokenizer of the configuration language.
 *
 * Tokens are separated by white space (line breaks included); `#` outside quotes starts a
 * comment to the end of the line. A double-quoted part ("…", with \" and \\ escapes) may
 * hold spaces and `#`; quotes may sit anywhere in a token, as in a shell (`@"my file"`),
 * but must close on the same line. A token whose first character is an unquoted `@`
 * includes the named file in its place.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/config.h>

#include "errc.h"

#define INCLUDE_DEPTH_MAX 16
#define FILE_SIZE_MAX     (16u << 20) /* a config file is small; refuse /dev/zero and friends */
/* What one parse call may expand to, counting a file again each time it is included: files
 * that include each other several times multiply (10 x 10 x ... ), so the depth limit alone
 * lets a few KiB become gigabytes. Real configurations are a few hundred tokens. */
#define EXPAND_TOKENS_MAX   1000000u
#define EXPAND_BYTES_MAX    (64u << 20)
#define EXPAND_INCLUDES_MAX 10000u

static const char cmdline_name[] = "command line";

struct frame {
    char *real;                  /* realpath, for cycle detection */
    const char *name;            /* as the user wrote it, for messages */
    const struct vdev_token *at; /* the @token that included it, NULL for the first file */
};

struct lexer {
    struct vdev_config *cfg;
    struct vdev_token_list_ *out;
    struct vdev_err *err;
    struct frame stack[INCLUDE_DEPTH_MAX];
    int depth;
    size_t tokens, bytes, includes; /* expanded so far (EXPAND_*_MAX) */
};

static int lex_file(struct lexer *L, const char *path, const struct vdev_token *at);

void vdev_token_list_free_(struct vdev_token_list_ *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->v[i].text);
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

/* Keeps one copy of each file or folder name in the config, so srcpos can point at it
 * after parsing. */
static const char *intern(struct vdev_config *cfg, const char *s, size_t len)
{
    for (size_t i = 0; i < cfg->nfiles_; i++)
        if (strlen(cfg->files_[i]) == len && memcmp(cfg->files_[i], s, len) == 0)
            return cfg->files_[i];
    char **v = realloc(cfg->files_, (cfg->nfiles_ + 1) * sizeof(*v));
    if (!v)
        return NULL;
    cfg->files_ = v;
    char *copy = strndup(s, len);
    if (!copy)
        return NULL;
    cfg->files_[cfg->nfiles_++] = copy;
    return copy;
}

static int oom(struct lexer *L)
{
    return vdev_err_setc(L->err, VDEV_E_NOMEM, "out of memory");
}

static int push(struct lexer *L, char *text, struct vdev_srcpos pos, bool quoted, const char *dir)
{
    struct vdev_token_list_ *o = L->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct vdev_token *v = realloc(o->v, cap * sizeof(*v));
        if (!v) {
            free(text);
            return oom(L);
        }
        o->v = v;
        o->cap = cap;
    }
    struct vdev_token *t = &o->v[o->n++];
    t->text = text;
    t->pos = pos;
    t->seq = L->cfg->next_seq_++;
    t->quoted = quoted;
    t->dir = dir;
    return 0;
}

/* "dir/a.conf" + "b.conf" = "dir/b.conf"; absolute names and a NULL dir leave it alone. */
static char *join(const char *dir, const char *name)
{
    if (!dir || name[0] == '/')
        return strdup(name);
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/'; /* dir "/" */
    char *s = malloc(dl + 1 + nl + 1);
    if (!s)
        return NULL;
    memcpy(s, dir, dl);
    if (!slash)
        s[dl++] = '/';
    memcpy(s + dl, name, nl + 1);
    return s;
}

/* One error for an expansion over budget, at the @token `at`. */
static int budget_error(struct lexer *L, const struct vdev_token *at, const char *what)
{
    return vdev_err_setc(L->err, VDEV_E_CONFIG,
                         "%s:%u:%u: %s: the configuration expands to more than %s (hint: a file "
                         "included several times, at several levels, counts each time; include "
                         "it once)",
                         at->pos.file, at->pos.line, at->pos.col, at->text, what);
}

static int include(struct lexer *L, const struct vdev_token *at)
{
    const struct vdev_srcpos *p = &at->pos;
    if (++L->includes > EXPAND_INCLUDES_MAX) {
        char what[64];
        snprintf(what, sizeof(what), "%u @file includes", EXPAND_INCLUDES_MAX);
        return budget_error(L, at, what);
    }
    if (at->text[1] == '\0')
        return vdev_err_setc(L->err, VDEV_E_CONFIG, "%s:%u:%u: '@' needs a file name", p->file,
                             p->line, p->col);
    char *path = join(at->dir, at->text + 1);
    if (!path)
        return oom(L);
    int rc = lex_file(L, path, at);
    free(path);
    return rc;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Scans one token starting at s[i] (not a space, not `#`). Writes the unquoted text to
 * dst when not NULL and returns the index just past the token; *n gets the text length.
 * An unterminated quote returns (size_t)-1 with *bad = its index. */
static size_t scan_token(const char *s, size_t len, size_t i, char *dst, size_t *n, bool *quoted,
                         size_t *bad)
{
    size_t k = 0;
    bool inq = false;
    size_t qpos = 0;

    *quoted = false;
    for (; i < len; i++) {
        char c = s[i];
        if (inq) {
            if (c == '\n' || c == '\r')
                break;
            if (c == '"') {
                inq = false;
                continue;
            }
            if (c == '\\' && i + 1 < len && (s[i + 1] == '"' || s[i + 1] == '\\'))
                c = s[++i];
        } else if (is_space(c) || c == '#') {
            break;
        } else if (c == '"') {
            inq = true;
            *quoted = true;
            qpos = i;
            continue;
        }
        if (dst)
            dst[k] = c;
        k++;
    }
    if (inq) {
        *bad = qpos;
        return (size_t)-1;
    }
    *n = k;
    return i;
}

/* Lexes text[0..len) of the file `name` (NUL bytes already refused). */
static int lex_text(struct lexer *L, const char *name, const char *dir, const char *s, size_t len)
{
    unsigned line = 1;
    size_t line_start = 0;

    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '\n') {
            line++;
            line_start = ++i;
            continue;
        }
        if (is_space(c)) {
            i++;
            continue;
        }
        if (c == '#') {
            while (i < len && s[i] != '\n')
                i++;
            continue;
        }
        struct vdev_srcpos pos = {name, line, (unsigned)(i - line_start + 1)};
        size_t n, bad;
        bool quoted;
        size_t end = scan_token(s, len, i, NULL, &n, &quoted, &bad);
        if (end == (size_t)-1)
            return vdev_err_setc(L->err, VDEV_E_CONFIG, "%s:%u:%u: unterminated quote", name, line,
                                 (unsigned)(bad - line_start + 1));
        if (++L->tokens > EXPAND_TOKENS_MAX) {
            char tmp[32], what[64];
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(n < 24 ? n : 24), s + i);
            snprintf(what, sizeof(what), "%u tokens", EXPAND_TOKENS_MAX);
            /* Named at the @token that brought in this file, else at the token itself. */
            struct vdev_token tok = {tmp, pos, 0, quoted, dir};
            const struct frame *top = L->depth > 0 ? &L->stack[L->depth - 1] : NULL;
            return budget_error(L, top && top->at ? top->at : &tok, what);
        }
        char *text = malloc(n + 1);
        if (!text)
            return oom(L);
        scan_token(s, len, i, text, &n, &quoted, &bad);
        text[n] = '\0';
        i = end;
        if (c == '@') {
            /* The @ token is not part of the stream: the file's tokens take its place. */
            struct vdev_token tok = {text, pos, 0, quoted, dir};
            int rc = include(L, &tok);
            free(text);
            if (rc != 0)
                return -1;
        } else if (push(L, text, pos, quoted, dir) != 0) {
            return -1;
        }
    }
    return 0;
}

static int read_all(FILE *f, char **buf, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    if (!b)
        return ENOMEM;
    for (;;) {
        if (n == cap) {
            if (cap >= FILE_SIZE_MAX) {
                free(b);
                return EFBIG;
            }
            cap *= 2;
            char *nb = realloc(b, cap);
            if (!nb) {
                free(b);
                return ENOMEM;
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(b);
                return e;
            }
            break;
        }
    }
    *buf = b;
    *len = n;
    return 0;
}

/* Reports a problem with the file `path`: at the @token when it was included. */
static int file_error(struct lexer *L, int code, const char *path, const struct vdev_token *at,
                      const char *what)
{
    if (at)
        return vdev_err_setc(L->err, code, "%s:%u:%u: %s: %s", at->pos.file, at->pos.line,
                             at->pos.col, at->text, what);
    return vdev_err_setc(L->err, code, "%s: %s", path, what);
}

static int cycle_error(struct lexer *L, int from, const char *path, const struct vdev_token *at)
{
    char chain[VDEV_ERR_MAX];
    size_t n = 0;
    chain[0] = '\0';
    for (int i = from; i < L->depth && n < sizeof(chain); i++) {
        int w = snprintf(chain + n, sizeof(chain) - n, "%s -> ", L->stack[i].name);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n < sizeof(chain))
        snprintf(chain + n, sizeof(chain) - n, "%s", path);
    return vdev_err_setc(L->err, VDEV_E_CONFIG, "%s:%u:%u: %s: include cycle: %s", at->pos.file,
                         at->pos.line, at->pos.col, at->text, chain);
}

static int lex_file(struct lexer *L, const char *path, const struct vdev_token *at)
{
    char what[128];
    if (L->depth >= INCLUDE_DEPTH_MAX) {
        snprintf(what, sizeof(what), "includes nested deeper than %d", INCLUDE_DEPTH_MAX);
        return file_error(L, VDEV_E_CONFIG, path, at, what);
    }
    FILE *f = fopen(path, "rb");
    char *real = f ? realpath(path, NULL) : NULL;
    if (!real) {
        int code = vdev_errc_from_errno(errno);
        snprintf(what, sizeof(what), "cannot open: %s", strerror(errno));
        if (f)
            fclose(f);
        return file_error(L, code, path, at, what);
    }
    for (int i = 0; i < L->depth; i++) {
        if (strcmp(L->stack[i].real, real) == 0) {
            free(real);
            fclose(f);
            return cycle_error(L, i, path, at);
        }
    }
    char *buf = NULL;
    size_t len = 0;
    int e = read_all(f, &buf, &len);
    fclose(f);
    if (!e && (L->bytes += len) > EXPAND_BYTES_MAX) {
        free(real);
        free(buf);
        snprintf(what, sizeof(what), "%u MiB of text", EXPAND_BYTES_MAX >> 20);
        return at ? budget_error(L, at, what) : file_error(L, VDEV_E_RANGE, path, at, what);
    }
    if (e) {
        free(real);
        if (e == EFBIG)
            return file_error(L, VDEV_E_RANGE, path, at, "file too large (over 16 MiB)");
        snprintf(what, sizeof(what), "cannot read: %s", strerror(e));
        return file_error(L, vdev_errc_from_errno(e), path, at, what);
    }

    const char *name = intern(L->cfg, path, strlen(path));
    const char *slash = strrchr(path, '/');
    const char *dir = NULL;
    if (slash)
        dir = intern(L->cfg, path, slash == path ? 1 : (size_t)(slash - path));
    if (!name || (slash && !dir)) {
        free(real);
        free(buf);
        return oom(L);
    }

    int rc = 0;
    const char *nul = memchr(buf, '\0', len);
    if (nul) {
        /* C strings cannot carry a NUL: refuse it rather than silently cut a token. */
        unsigned line = 1;
        size_t ls = 0;
        for (size_t i = 0; i < (size_t)(nul - buf); i++)
            if (buf[i] == '\n') {
                line++;
                ls = i + 1;
            }
        rc = vdev_err_setc(L->err, VDEV_E_CONFIG, "%s:%u:%u: unexpected NUL byte", name, line,
                           (unsigned)((size_t)(nul - buf) - ls + 1));
    } else {
        L->stack[L->depth].real = real;
        L->stack[L->depth].name = name;
        L->stack[L->depth].at = at;
        L->depth++;
        rc = lex_text(L, name, dir, buf, len);
        L->depth--;
    }
    free(real);
    free(buf);
    return rc;
}

static void lexer_init(struct lexer *L, struct vdev_config *cfg, struct vdev_token_list_ *out,
                       struct vdev_err *err)
{
    memset(L, 0, sizeof(*L));
    L->cfg = cfg;
    L->out = out;
    L->err = err;
}

int vdev_lex_args_(struct vdev_config *cfg, int argc, char *const argv[],
                   struct vdev_token_list_ *out, struct vdev_err *err)
{
    struct lexer L;
    lexer_init(&L, cfg, out, err);
    for (int i = 0; i < argc && argv && argv[i]; i++) {
        /* Each argument is one token as the shell delivered it: no quotes, no comments. */
        struct vdev_srcpos pos = {cmdline_name, 1, (unsigned)i + 1};
        if (argv[i][0] == '@') {
            struct vdev_token at = {(char *)argv[i], pos, 0, false, NULL};
            if (include(&L, &at) != 0)
                return -1;
            continue;
        }
        char *text = strdup(argv[i]);
        if (!text)
            return oom(&L);
        if (push(&L, text, pos, false, NULL) != 0)
            return -1;
    }
    return 0;
}

int vdev_lex_file_(struct vdev_config *cfg, const char *path, struct vdev_token_list_ *out,
                   struct vdev_err *err)
{
    struct lexer L;
    lexer_init(&L, cfg, out, err);
    if (!path || !*path)
        return vdev_err_setc(err, VDEV_E_INVAL, "no configuration file name given");
    return lex_file(&L, path, NULL);
}

int vdev_lex_string_(struct vdev_config *cfg, const char *name, const char *text,
                     struct vdev_token_list_ *out, struct vdev_err *err)
{
    struct lexer L;
    lexer_init(&L, cfg, out, err);
    if (!name)
        name = "(string)";
    const char *n = intern(cfg, name, strlen(name));
    if (!n)
        return oom(&L);
    if (!text)
        return 0;
    return lex_text(&L, n, NULL, text, strlen(text));
}
