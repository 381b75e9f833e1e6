/* Grammar of the configuration language: the token stream into struct vdev_config.
 *
 * Top-level keywords always close the open context (cpu, reserve, vdev). Inside a
 * context a repeated option replaces the earlier one. A quoted token is never a keyword,
 * so a vdev option value may be written "cpu" without ending the vdev.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/config.h>

enum ctx { CTX_NONE = 0, CTX_CPU, CTX_RESERVE, CTX_VDEV, CTX_PASS };

struct parser {
    struct vdev_config *cfg;
    const struct vdev_token *t;
    size_t n, i;
    struct vdev_err *err;
};

typedef int (*keyword_fn)(struct parser *P, const struct vdev_token *kw);

static int kw_system(struct parser *P, const struct vdev_token *kw);
static int kw_mem(struct parser *P, const struct vdev_token *kw);
static int kw_cpu(struct parser *P, const struct vdev_token *kw);
static int kw_load(struct parser *P, const struct vdev_token *kw);
static int kw_initrd(struct parser *P, const struct vdev_token *kw);
static int kw_cmdline(struct parser *P, const struct vdev_token *kw);
static int kw_reserve(struct parser *P, const struct vdev_token *kw);
static int kw_set(struct parser *P, const struct vdev_token *kw);
static int kw_dryrun(struct parser *P, const struct vdev_token *kw);
static int kw_vdev(struct parser *P, const struct vdev_token *kw);
static int kw_pass(struct parser *P, const struct vdev_token *kw);

static const struct {
    const char *name;
    keyword_fn fn;
} keywords[] = {
    {"system", kw_system}, {"ram", kw_mem},       {"rom", kw_mem},         {"cpu", kw_cpu},
    {"load", kw_load},     {"initrd", kw_initrd}, {"cmdline", kw_cmdline}, {"reserve", kw_reserve},
    {"set", kw_set},       {"dryrun", kw_dryrun}, {"vdev", kw_vdev},       {"pass", kw_pass},
};
#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

/* "Did you mean" candidates: a context's own options first, then the keywords. */
static const char *const top_words[] = {"system", "ram",     "rom",     "cpu", "load",
                                        "initrd", "cmdline", "reserve", "set", "dryrun",
                                        "vdev",   "pass",    NULL};
static const char *const cpu_words[] = {"runmask", "sched",  "system", "ram",     "rom",
                                        "cpu",     "load",   "initrd", "cmdline", "reserve",
                                        "set",     "dryrun", "vdev",   "pass",    NULL};
static const char *const reserve_words[] = {"loc", "intr",   "system", "ram",     "rom",
                                            "cpu", "load",   "initrd", "cmdline", "reserve",
                                            "set", "dryrun", "vdev",   "pass",    NULL};

static const char memory_first[] =
    "refers to guest memory before any 'ram' or 'rom' (hint: put the ram lines first)";

/* A token as shown in a message: cut when long, control bytes as '?'. */
struct shown {
    char s[72];
};

static struct shown show(const char *text)
{
    struct shown r;
    size_t n = strlen(text), k = 0;
    bool cut = n > 60;
    for (size_t i = 0; i < n && i < (cut ? 57 : 60); i++) {
        unsigned char c = (unsigned char)text[i];
        r.s[k++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
    if (cut)
        for (int j = 0; j < 3; j++)
            r.s[k++] = '.';
    r.s[k] = '\0';
    return r;
}

__attribute__((format(printf, 3, 4))) static int
perr(struct parser *P, const struct vdev_srcpos *pos, const char *fmt, ...)
{
    char msg[VDEV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vdev_err_setc(P->err, VDEV_E_CONFIG, "%s:%u:%u: %s", pos->file, pos->line, pos->col,
                         msg);
}

static int oom(struct parser *P)
{
    return vdev_err_setc(P->err, VDEV_E_NOMEM, "out of memory");
}

static int keyword(const struct vdev_token *t)
{
    if (t->quoted)
        return -1;
    for (size_t k = 0; k < NKEYWORDS; k++)
        if (strcmp(t->text, keywords[k].name) == 0)
            return (int)k;
    return -1;
}

/* Grows the array v (n elements) by one zeroed element; `out` gets it, or NULL. */
#define APPEND(v, n, out)                                                                          \
    do {                                                                                           \
        void *nv_ = realloc((v), ((n) + 1) * sizeof(*(v)));                                        \
        (out) = NULL;                                                                              \
        if (nv_) {                                                                                 \
            (v) = nv_;                                                                             \
            (out) = &(v)[(n)++];                                                                   \
            memset((out), 0, sizeof(*(out)));                                                      \
        }                                                                                          \
    } while (0)

/* The argument after `kw`: missing at the end of the stream or before a keyword. */
static const struct vdev_token *next_arg(struct parser *P, const struct vdev_token *kw,
                                         const char *what, const char *shape)
{
    if (P->i + 1 >= P->n || keyword(&P->t[P->i + 1]) >= 0) {
        perr(P, &kw->pos, "'%s' needs an argument: %s", what, shape);
        return NULL;
    }
    return &P->t[++P->i];
}

/* A relative file name is relative to the folder of the file that wrote it. */
static char *resolve(const struct vdev_token *t, const char *name)
{
    if (!t->dir || name[0] == '/')
        return strdup(name);
    size_t dl = strlen(t->dir), nl = strlen(name);
    bool slash = dl > 0 && t->dir[dl - 1] == '/';
    char *s = malloc(dl + 1 + nl + 1);
    if (!s)
        return NULL;
    memcpy(s, t->dir, dl);
    if (!slash)
        s[dl++] = '/';
    memcpy(s + dl, name, nl + 1);
    return s;
}

static bool before_memory(const struct vdev_config *cfg, const struct vdev_token *t)
{
    return t->seq < cfg->first_ram_seq;
}

static int unknown(struct parser *P, const struct vdev_token *t, const char *ctxname,
                   const char *const *words)
{
    char hint[64] = "";
    const char *best = vdev_closest_word(t->text, words);
    struct vdev_token unq = *t;
    unq.quoted = false;
    if (t->quoted && keyword(&unq) >= 0)
        snprintf(hint, sizeof(hint), " (keywords must not be quoted)");
    else if (best)
        snprintf(hint, sizeof(hint), " (did you mean '%s'?)", best);
    return perr(P, &t->pos, "%s%sunknown option '%s'%s", ctxname ? ctxname : "",
                ctxname ? ": " : "", show(t->text).s, hint);
}

static int kw_system(struct parser *P, const struct vdev_token *kw)
{
    struct vdev_config *cfg = P->cfg;
    if (cfg->system)
        return perr(P, &kw->pos, "'system' given twice (first at %s:%u:%u)", cfg->system_pos.file,
                    cfg->system_pos.line, cfg->system_pos.col);
    if (kw->seq != 0)
        return perr(P, &kw->pos, "'system' must be the first entry");
    const struct vdev_token *a = next_arg(P, kw, "system", "NAME");
    if (!a)
        return -1;
    /* The name becomes a path component (/dev/qvm/<system>/...). */
    size_t n = strlen(a->text);
    bool ok = n > 0 && n < 64 && strcmp(a->text, ".") != 0 && strcmp(a->text, "..") != 0;
    for (size_t k = 0; ok && k < n; k++) {
        char c = a->text[k];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    }
    if (!ok)
        return perr(P, &a->pos,
                    "'system': bad name '%s': use up to 63 letters, digits, '_', '-' or '.'",
                    show(a->text).s);
    cfg->system = strdup(a->text);
    if (!cfg->system)
        return oom(P);
    cfg->system_pos = kw->pos;
    return 0;
}

/* Parses the number text[0..len) (a part of a token) with vdev_parse_u64. */
static int part_u64(const char *text, size_t len, uint64_t *out, const char **why)
{
    char *s = strndup(text, len);
    if (!s) {
        *why = "out of memory";
        return -1;
    }
    int rc = vdev_parse_u64(s, out, why);
    free(s);
    return rc;
}

/* ram [START,]LENGTH  /  rom START,LENGTH */
static int kw_mem(struct parser *P, const struct vdev_token *kw)
{
    bool rom = strcmp(kw->text, "rom") == 0;
    const char *shape = rom ? "START,LENGTH" : "[START,]LENGTH";
    const struct vdev_token *a = next_arg(P, kw, kw->text, shape);
    if (!a)
        return -1;
    const char *comma = strchr(a->text, ',');
    const char *lentext = comma ? comma + 1 : a->text;
    uint64_t start = 0, len;
    const char *why;
    if (rom && !comma)
        return perr(P, &a->pos, "'rom' needs START,LENGTH, got '%s'", show(a->text).s);
    if (comma && part_u64(a->text, (size_t)(comma - a->text), &start, &why) != 0) {
        char part[72];
        snprintf(part, sizeof(part), "%.*s", (int)(comma - a->text), show(a->text).s);
        return perr(P, &a->pos, "'%s': bad start '%s': %s", kw->text, part, why);
    }
    if (vdev_parse_u64(lentext, &len, &why) != 0)
        return perr(P, &a->pos, "'%s': bad length '%s': %s", kw->text, show(lentext).s, why);
    if (len == 0)
        return perr(P, &a->pos, "'%s': length must not be 0", kw->text);
    if (len - 1 > UINT64_MAX - start)
        return perr(P, &a->pos, "'%s': %s ends past the end of the address space", kw->text,
                    show(a->text).s);
    struct vdev_mem_cfg *m;
    APPEND(P->cfg->mem, P->cfg->nmem, m);
    if (!m)
        return oom(P);
    m->pos = kw->pos;
    m->rom = rom;
    m->start_given = comma != NULL;
    m->start = start;
    m->len = len;
    if (P->cfg->first_ram_seq == UINT32_MAX)
        P->cfg->first_ram_seq = kw->seq;
    return 0;
}

static int kw_cpu(struct parser *P, const struct vdev_token *kw)
{
    struct vdev_cpu_cfg *c;
    APPEND(P->cfg->cpus, P->cfg->ncpus, c);
    if (!c)
        return oom(P);
    c->pos = kw->pos;
    P->cfg->ctx_ = CTX_CPU;
    P->cfg->ctx_idx_ = P->cfg->ncpus - 1;
    return 0;
}

/* load [ADDRESS,]FILE: a comma after a leading digit means an address is given. */
static int kw_load(struct parser *P, const struct vdev_token *kw)
{
    const struct vdev_token *a = next_arg(P, kw, "load", "[ADDRESS,]FILE");
    if (!a)
        return -1;
    const char *comma = strchr(a->text, ',');
    const char *file = a->text;
    bool addr_given = comma && a->text[0] >= '0' && a->text[0] <= '9';
    uint64_t addr = 0;
    const char *why;
    if (addr_given) {
        if (part_u64(a->text, (size_t)(comma - a->text), &addr, &why) != 0) {
            char part[72];
            snprintf(part, sizeof(part), "%.*s", (int)(comma - a->text), show(a->text).s);
            return perr(P, &a->pos, "'load': bad address '%s': %s", part, why);
        }
        file = comma + 1;
    }
    if (!*file)
        return perr(P, &a->pos, "'load' needs a file name: [ADDRESS,]FILE");
    if (addr_given && before_memory(P->cfg, kw))
        return perr(P, &kw->pos, "'load' %s", memory_first);
    struct vdev_load_cfg *l;
    APPEND(P->cfg->loads, P->cfg->nloads, l);
    if (!l)
        return oom(P);
    l->pos = kw->pos;
    l->addr_given = addr_given;
    l->addr = addr;
    l->path = resolve(a, file);
    return l->path ? 0 : oom(P);
}

/* initrd load FILE (the form seen in real configs) */
static int kw_initrd(struct parser *P, const struct vdev_token *kw)
{
    static const char shape[] = "load FILE";
    if (P->i + 1 >= P->n)
        return perr(P, &kw->pos, "'initrd' needs an argument: %s", shape);
    const struct vdev_token *l = &P->t[P->i + 1];
    if (strcmp(l->text, "load") != 0) {
        if (keyword(l) >= 0)
            return perr(P, &kw->pos, "'initrd' needs an argument: %s", shape);
        return perr(P, &l->pos, "'initrd': expected 'load FILE', got '%s'", show(l->text).s);
    }
    P->i++;
    const struct vdev_token *f = next_arg(P, kw, "initrd load", "FILE");
    if (!f)
        return -1;
    if (!*f->text)
        return perr(P, &f->pos, "'initrd load' needs a file name");
    char *path = resolve(f, f->text);
    if (!path)
        return oom(P);
    free(P->cfg->initrd); /* a later initrd replaces the earlier one */
    P->cfg->initrd = path;
    P->cfg->initrd_pos = kw->pos;
    return 0;
}

static int kw_cmdline(struct parser *P, const struct vdev_token *kw)
{
    const struct vdev_token *a = next_arg(P, kw, "cmdline", "\"TEXT\"");
    if (!a)
        return -1;
    char *s = strdup(a->text);
    if (!s)
        return oom(P);
    free(P->cfg->cmdline); /* a later cmdline replaces the earlier one */
    P->cfg->cmdline = s;
    P->cfg->cmdline_pos = kw->pos;
    return 0;
}

static int kw_reserve(struct parser *P, const struct vdev_token *kw)
{
    struct vdev_reserve_cfg *r;
    APPEND(P->cfg->reserves, P->cfg->nreserves, r);
    if (!r)
        return oom(P);
    r->pos = kw->pos;
    P->cfg->ctx_ = CTX_RESERVE;
    P->cfg->ctx_idx_ = P->cfg->nreserves - 1;
    return 0;
}

static const struct vdev_config_var *find_var(const char *name)
{
    const struct vdev_config_var *var;
    for (size_t k = 0; (var = vdev_config_var_at(k)); k++)
        if (strcmp(var->name, name) == 0)
            return var;
    return NULL;
}

/* Is `value` one of the alternatives of an arg shape such as "yes|no"? */
static bool one_of(const char *shape, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = shape;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}

static int kw_set(struct parser *P, const struct vdev_token *kw)
{
    const struct vdev_token *v = next_arg(P, kw, "set", "VAR VALUE");
    if (!v)
        return -1;
    const struct vdev_config_var *var = find_var(v->text);
    if (!var) {
        const char *names[16];
        size_t k = 0;
        for (; vdev_config_var_at(k) && k < 15; k++)
            names[k] = vdev_config_var_at(k)->name;
        names[k] = NULL;
        const char *best = vdev_closest_word(v->text, names);
        char hint[96] = "";
        if (best)
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", best);
        return perr(P, &v->pos, "set: unknown variable '%s'%s", show(v->text).s, hint);
    }
    char what[64];
    snprintf(what, sizeof(what), "set %s", var->name);
    const struct vdev_token *a = next_arg(P, kw, what, var->arg);
    if (!a)
        return -1;
    if (strchr(var->arg, '|') && !one_of(var->arg, a->text))
        return perr(P, &a->pos, "'set %s': expected %s, got '%s'", var->name, var->arg,
                    show(a->text).s);
    if (!*a->text)
        return perr(P, &a->pos, "'set %s': the value must not be empty", var->name);
    if (!strcmp(var->arg, "MICROSECONDS")) {
        uint64_t us;
        const char *why = NULL;
        if (vdev_parse_u64(a->text, &us, &why) || us > 1000000)
            return perr(P, &a->pos, "'set %s': expected microseconds from 0 to 1000000, got '%s'",
                        var->name, show(a->text).s);
    }

    char *value = strdup(a->text);
    if (!value)
        return oom(P);
    struct vdev_config *cfg = P->cfg;
    for (size_t k = 0; k < cfg->nvars; k++) {
        if (strcmp(cfg->vars[k].name, var->name) == 0) {
            free(cfg->vars[k].value);
            cfg->vars[k].value = value;
            cfg->vars[k].pos = kw->pos;
            return 0;
        }
    }
    struct vdev_var_cfg *s;
    APPEND(cfg->vars, cfg->nvars, s);
    char *name = strdup(var->name);
    if (!s || !name) {
        free(value);
        free(name);
        if (s)
            cfg->nvars--;
        return oom(P);
    }
    s->pos = kw->pos;
    s->name = name;
    s->value = value;
    return 0;
}

static int kw_dryrun(struct parser *P, const struct vdev_token *kw)
{
    (void)kw;
    P->cfg->dryrun = true;
    return 0;
}

/* Opens a vdev context of type `name`, its position that of `at`. */
static int kw_vdev_named(struct parser *P, const struct vdev_token *at, const char *name)
{
    char *type = strdup(name);
    struct vdev_vdev_cfg *v = NULL;
    if (type)
        APPEND(P->cfg->vdevs, P->cfg->nvdevs, v);
    if (!v) {
        free(type);
        return oom(P);
    }
    v->pos = at->pos;
    v->type = type;
    P->cfg->ctx_ = CTX_VDEV;
    P->cfg->ctx_idx_ = P->cfg->nvdevs - 1;
    return 0;
}

static int kw_vdev(struct parser *P, const struct vdev_token *kw)
{
    const struct vdev_token *a = next_arg(P, kw, "vdev", "TYPE");
    if (!a)
        return -1;
    if (!*a->text)
        return perr(P, &a->pos, "'vdev' needs a device type, like ser8250");
    return kw_vdev_named(P, a, a->text);
}

/* `pass` opens a device of the module PASS_TYPE; its `loc GUEST=HOST` becomes the options
 * `loc GUEST` and `host HOST`, so the rest of the system sees an ordinary vdev. */
#define PASS_TYPE "vfio-pci"
static const char pass_shape[] =
    "loc pci:BUS:DEV[.FN]=pci:[DOMAIN:]BUS:DEV.FN, loc pci:BUS:DEV[.FN]=pci:0xVID/0xDID[/INDEX] "
    "or loc pci:0xVID/0xDID[/INDEX]";

static int kw_pass(struct parser *P, const struct vdev_token *kw)
{
    if (kw_vdev_named(P, kw, PASS_TYPE) != 0)
        return -1;
    P->cfg->ctx_ = CTX_PASS;
    return 0;
}

/* A CPU list such as 0-1,3 into a bit mask; host CPUs 0..63. */
static int parse_cpulist(const char *s, uint64_t *mask)
{
    uint64_t m = 0;
    for (const char *p = s;;) {
        unsigned range[2] = {0, 0};
        for (int r = 0; r < 2; r++) {
            if (*p < '0' || *p > '9')
                return -1;
            unsigned v = 0;
            for (; *p >= '0' && *p <= '9'; p++)
                v = v < 1000 ? v * 10 + (unsigned)(*p - '0') : v; /* big enough to refuse */
            range[r] = v;
            if (r == 0) {
                range[1] = v;
                if (*p != '-')
                    break;
                p++;
            }
        }
        if (range[0] > range[1] || range[1] > 63)
            return -1;
        for (unsigned c = range[0]; c <= range[1]; c++)
            m |= UINT64_C(1) << c;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            return -1;
    }
    *mask = m;
    return 0;
}

static int cpu_option(struct parser *P, const struct vdev_token *t)
{
    struct vdev_cpu_cfg *c = &P->cfg->cpus[P->cfg->ctx_idx_];
    const struct vdev_token *a;
    if (strcmp(t->text, "runmask") == 0) {
        if (!(a = next_arg(P, t, "runmask", "CPU list like 0-1,3")))
            return -1;
        if (parse_cpulist(a->text, &c->runmask) != 0)
            return perr(P, &a->pos,
                        "'runmask': bad CPU list '%s': expected host CPU numbers and ranges "
                        "below 64, like 0-1,3",
                        show(a->text).s);
        c->runmask_given = true;
        return 0;
    }
    if (strcmp(t->text, "sched") == 0) {
        if (!(a = next_arg(P, t, "sched", "PRIORITY")))
            return -1;
        const char *why;
        if (vdev_parse_sched(a->text, &c->sched, &c->sched_policy, &why) != 0)
            return perr(P, &a->pos, "'sched': bad value '%s': %s", show(a->text).s, why);
        c->sched_given = true;
        return 0;
    }
    return unknown(P, t, "cpu", cpu_words);
}

static int reserve_option(struct parser *P, const struct vdev_token *t)
{
    struct vdev_reserve_cfg *r = &P->cfg->reserves[P->cfg->ctx_idx_];
    const struct vdev_token *a;
    const char *why;
    if (strcmp(t->text, "loc") == 0) {
        if (!(a = next_arg(P, t, "loc", "LOCATION")))
            return -1;
        if (vdev_parse_loc(a->text, &r->loc, &why) != 0)
            return perr(P, &a->pos, "'loc': bad location '%s': %s", show(a->text).s, why);
        if (r->loc.kind == VDEV_LOC_MEM && before_memory(P->cfg, t))
            return perr(P, &t->pos, "'loc' %s", memory_first);
        r->loc_pos = t->pos;
        return 0;
    }
    if (strcmp(t->text, "intr") == 0) {
        if (!(a = next_arg(P, t, "intr", "PIC:LINE")))
            return -1;
        if (vdev_parse_intr(a->text, &r->intr, &why) != 0)
            return perr(P, &a->pos, "'intr': bad interrupt '%s': %s", show(a->text).s, why);
        r->intr_pos = t->pos;
        return 0;
    }
    return unknown(P, t, "reserve", reserve_words);
}

/* Appends text[0..len) to the open vdev's tokens, placed like `t` moved right by `col`. */
static int add_token(struct parser *P, const struct vdev_token *t, const char *text, size_t len,
                     unsigned col)
{
    struct vdev_vdev_cfg *v = &P->cfg->vdevs[P->cfg->ctx_idx_];
    char *copy = strndup(text, len);
    struct vdev_token *c = NULL;
    if (copy)
        APPEND(v->tokens, v->ntokens, c);
    if (!c) {
        free(copy);
        return oom(P);
    }
    *c = *t;
    c->text = copy;
    if (strcmp(t->pos.file, "command line") != 0) /* there a column is an argument number */
        c->pos.col += col;
    return 0;
}

/* vdev options are kept raw; only a memory `loc` is checked here, for the ram-first rule. */
static int vdev_token(struct parser *P, const struct vdev_token *t)
{
    struct vdev_vdev_cfg *v = &P->cfg->vdevs[P->cfg->ctx_idx_];
    if (v->ntokens > 0) {
        const struct vdev_token *prev = &v->tokens[v->ntokens - 1];
        struct vdev_loc loc;
        if (!prev->quoted && strcmp(prev->text, "loc") == 0 &&
            (strncmp(t->text, "mem:", 4) == 0 ||
             (vdev_parse_loc(t->text, &loc, NULL) == 0 && loc.kind == VDEV_LOC_MEM)) &&
            before_memory(P->cfg, prev))
            return perr(P, &prev->pos, "'loc' %s", memory_first);
    }
    return add_token(P, t, t->text, strlen(t->text), 0);
}

/* A pass's tokens: `loc GUEST=HOST` or `loc HOST` turns into `loc GUEST` and `host HOST`
 * (the host part keeps its own column); `intr GUEST=HOST` is refused; the rest stays raw for
 * the module. */
static int pass_token(struct parser *P, const struct vdev_token *t)
{
    const struct vdev_vdev_cfg *v = &P->cfg->vdevs[P->cfg->ctx_idx_];
    bool is_loc = !t->quoted && strcmp(t->text, "loc") == 0;
    if (is_loc || (!t->quoted && strcmp(t->text, "intr") == 0)) {
        const struct vdev_token *a = next_arg(P, t, t->text, is_loc ? pass_shape : "PIC:LINE");
        if (!a)
            return -1;
        if (!is_loc) {
            if (strchr(a->text, '='))
                return perr(P, &a->pos,
                            "pass: 'intr GUEST=HOST' (a host interrupt line) is not supported: a "
                            "passed PCI device interrupts through its own MSI-X, MSI or INTx "
                            "(hint: leave 'intr' out)");
            return add_token(P, t, t->text, strlen(t->text), 0) ||
                   add_token(P, a, a->text, strlen(a->text), 0);
        }
        for (size_t k = 0; k < v->ntokens; k++)
            if (!v->tokens[k].quoted && strcmp(v->tokens[k].text, "host") == 0)
                return perr(P, &t->pos,
                            "pass: a second 'loc': one 'pass' passes one device (hint: start "
                            "another 'pass' for the next one)");
        const char *eq = strchr(a->text, '=');
        const char *host = eq ? eq + 1 : a->text;
        if (strncmp(a->text, "mem:", 4) == 0 || strncmp(a->text, "io:", 3) == 0 ||
            (a->text[0] >= '0' && a->text[0] <= '9'))
            return perr(P, &a->pos,
                        "pass: passing host memory or I/O ports ('%s') is not supported: vdevkit "
                        "passes whole PCI devices (hint: %s)",
                        show(a->text).s, pass_shape);
        if (strncmp(host, "pci:", 4) != 0 || (eq && strncmp(a->text, "pci:", 4) != 0))
            return perr(P, &a->pos, "pass: bad location '%s': expected %s", show(a->text).s,
                        pass_shape);
        if (eq) {
            struct vdev_loc loc;
            char *guest = strndup(a->text, (size_t)(eq - a->text));
            if (!guest)
                return oom(P);
            int bad = vdev_parse_loc(guest, &loc, NULL) != 0 || loc.kind != VDEV_LOC_PCI;
            free(guest);
            if (bad)
                return perr(P, &a->pos, "pass: bad guest slot '%.*s': expected pci:BUS:DEV[.FN]",
                            (int)(eq - a->text), a->text);
            if (add_token(P, t, "loc", 3, 0) || add_token(P, a, a->text, (size_t)(eq - a->text), 0))
                return -1;
        }
        unsigned col = (unsigned)(host - a->text) + (a->quoted ? 1u : 0u);
        if (add_token(P, a, "host", 4, col))
            return -1;
        P->cfg->vdevs[P->cfg->ctx_idx_].tokens[v->ntokens - 1].quoted = false; /* an option name */
        return add_token(P, a, host, strlen(host), col);
    }
    return add_token(P, t, t->text, strlen(t->text), 0);
}

/* A reserve must reserve something; checked when it closes and at the end of each call. */
static int check_open_context(struct parser *P)
{
    struct vdev_config *cfg = P->cfg;
    if (cfg->ctx_ == CTX_RESERVE) {
        const struct vdev_reserve_cfg *r = &cfg->reserves[cfg->ctx_idx_];
        if (r->loc.kind == VDEV_LOC_NONE && !r->intr.given)
            return perr(P, &r->pos, "'reserve' needs 'loc LOCATION' or 'intr PIC:LINE'");
    }
    if (cfg->ctx_ == CTX_PASS) {
        const struct vdev_vdev_cfg *v = &cfg->vdevs[cfg->ctx_idx_];
        bool host = false;
        for (size_t k = 0; k < v->ntokens; k++)
            host = host || (!v->tokens[k].quoted && strcmp(v->tokens[k].text, "host") == 0);
        if (!host)
            return perr(P, &v->pos, "'pass' needs %s", pass_shape);
    }
    return 0;
}

static int parse_tokens(struct parser *P)
{
    struct vdev_config *cfg = P->cfg;
    for (P->i = 0; P->i < P->n; P->i++) {
        const struct vdev_token *t = &P->t[P->i];
        int k = keyword(t);
        if (k >= 0) {
            if (check_open_context(P) != 0)
                return -1;
            cfg->ctx_ = CTX_NONE;
            if (keywords[k].fn(P, t) != 0)
                return -1;
            continue;
        }
        int rc;
        switch (cfg->ctx_) {
        case CTX_CPU:
            rc = cpu_option(P, t);
            break;
        case CTX_RESERVE:
            rc = reserve_option(P, t);
            break;
        case CTX_VDEV:
            rc = vdev_token(P, t);
            break;
        case CTX_PASS:
            rc = pass_token(P, t);
            break;
        default:
            rc = unknown(P, t, NULL, top_words);
            break;
        }
        if (rc != 0)
            return -1;
    }
    return check_open_context(P);
}

static int run(struct vdev_config *cfg, struct vdev_token_list_ *list, int lexrc,
               struct vdev_err *err)
{
    int rc = lexrc;
    if (rc == 0) {
        struct parser P = {cfg, list->v, list->n, 0, err};
        rc = parse_tokens(&P);
    }
    vdev_token_list_free_(list);
    return rc;
}

int vdev_config_parse_args(struct vdev_config *cfg, int argc, char *const argv[],
                           struct vdev_err *err)
{
    struct vdev_token_list_ list = {NULL, 0, 0};
    if (!cfg)
        return vdev_err_setc(err, VDEV_E_INVAL, "no configuration");
    return run(cfg, &list, vdev_lex_args_(cfg, argc, argv, &list, err), err);
}

int vdev_config_parse_file(struct vdev_config *cfg, const char *path, struct vdev_err *err)
{
    struct vdev_token_list_ list = {NULL, 0, 0};
    if (!cfg)
        return vdev_err_setc(err, VDEV_E_INVAL, "no configuration");
    return run(cfg, &list, vdev_lex_file_(cfg, path, &list, err), err);
}

int vdev_config_parse_string(struct vdev_config *cfg, const char *name, const char *text,
                             struct vdev_err *err)
{
    struct vdev_token_list_ list = {NULL, 0, 0};
    if (!cfg)
        return vdev_err_setc(err, VDEV_E_INVAL, "no configuration");
    return run(cfg, &list, vdev_lex_string_(cfg, name, text, &list, err), err);
}
