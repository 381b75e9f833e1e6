/* Validates a vdev's raw option tokens against its module's table and the common options
 * (loc, intr, name, log), then delivers typed values to the module. Last wins for ordinary
 * options; repeatable ones are delivered every time, in configuration order. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum common_opt { COMMON_NONE, COMMON_LOC, COMMON_INTR, COMMON_NAME, COMMON_LOG };

static const struct vdev_option common_options[] = {
    {.name = "loc",
     .kind = VDEV_OPT_STRING,
     .arg = "mem:ADDR[,LEN] | io:PORT[,LEN] | pci:BUS:DEV[.FN]",
     .help = "where the device sits"},
    {.name = "intr", .kind = VDEV_OPT_STRING, .arg = "PIC:LINE", .help = "the guest interrupt"},
    {.name = "name",
     .kind = VDEV_OPT_STRING,
     .arg = "NAME",
     .help = "reach the device from outside"},
    {.name = "log", .kind = VDEV_OPT_STRING2, .arg = "FILTERS DEST", .help = "per-device logging"},
    {0}};

struct occurrence {
    const struct vdev_option *opt;
    enum common_opt common;
    struct vdev_optval val;
    const char *dir; /* where the argument's file lives, for relative paths */
};

static int opt_error(struct vdev *d, struct vdev_err *err, struct vdev_srcpos pos, const char *fmt,
                     const char *a, const char *b, const char *c)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a, b, c);
    return vdev_err_at(err, pos, "vdev %s: %s", d->type->name, msg);
}

static unsigned nargs_of(const struct vdev_option *o)
{
    switch (o->kind) {
    case VDEV_OPT_FLAG:
        return 0;
    case VDEV_OPT_STRING2:
        return 2;
    default:
        return 1;
    }
}

/* Candidate names for "did you mean": the module's options and the common ones. */
static void candidates(const struct vdev_type *t, const char **out, size_t max)
{
    size_t n = 0;
    for (const struct vdev_option *o = common_options; o->name && n + 1 < max; o++)
        out[n++] = o->name;
    for (const struct vdev_option *o = t->options; o && o->name && n + 1 < max; o++)
        out[n++] = o->name;
    out[n] = NULL;
}

static const struct vdev_option *lookup(const struct vdev_type *t, const char *name,
                                        enum common_opt *common)
{
    for (size_t i = 0; common_options[i].name; i++)
        if (strcmp(common_options[i].name, name) == 0) {
            *common = (enum common_opt)(i + 1);
            return &common_options[i];
        }
    *common = COMMON_NONE;
    for (const struct vdev_option *o = t->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Resolves a relative path against the folder of the config file that named it. */
static char *resolve_path(const char *text, const char *dir)
{
    if (text[0] == '/' || !dir || !dir[0])
        return vdev_strdup(text);
    size_t len = strlen(dir) + strlen(text) + 2;
    char *out = malloc(len);
    if (!out)
        abort();
    snprintf(out, len, "%s/%s", dir, text);
    return out;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

/* Converts the argument of one occurrence to its typed value. */
static int convert(struct vdev *d, struct occurrence *oc, struct vdev_err *err)
{
    const struct vdev_option *o = oc->opt;
    struct vdev_optval *v = &oc->val;
    const char *why = NULL;
    switch (o->kind) {
    case VDEV_OPT_FLAG:
    case VDEV_OPT_STRING:
    case VDEV_OPT_STRING2:
        if (o->kind != VDEV_OPT_FLAG && v->text[0] == '\0')
            return opt_error(d, err, v->pos, "option '%s' needs a non-empty %s%s", o->name,
                             o->arg ? o->arg : "argument", "");
        return 0;
    case VDEV_OPT_PATH:
        if (v->text[0] == '\0')
            return opt_error(d, err, v->pos, "option '%s' needs a file name%s%s", o->name, "", "");
        return 0; /* resolved when stored */
    case VDEV_OPT_U64:
        if (vdev_parse_u64(v->text, &v->num, &why))
            return opt_error(d, err, v->pos, "option '%s': bad number '%s' (%s)", o->name, v->text,
                             why);
        if (v->num < o->min || (o->max && v->num > o->max)) {
            char range[96];
            snprintf(range, sizeof(range), "expected %llu to %llu", (unsigned long long)o->min,
                     (unsigned long long)(o->max ? o->max : UINT64_MAX));
            return opt_error(d, err, v->pos, "option '%s': %s is out of range (%s)", o->name,
                             v->text, range);
        }
        return 0;
    case VDEV_OPT_MAC:
        if (vdev_parse_mac(v->text, v->mac, &why))
            return opt_error(d, err, v->pos, "option '%s': bad MAC address '%s' (%s)", o->name,
                             v->text, why);
        return 0;
    case VDEV_OPT_CHOICE:
        for (unsigned i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], v->text) == 0) {
                v->choice = i;
                return 0;
            }
        {
            char hint[96];
            const char *close = vdev_did_you_mean(hint, sizeof(hint), v->text, o->choices);
            char list[256] = "";
            for (unsigned i = 0; o->choices[i]; i++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", o->choices[i]);
            }
            char msg[400];
            snprintf(msg, sizeof(msg), "'%s' is not one of %s", v->text, list);
            return opt_error(d, err, v->pos, "option '%s': %s%s", o->name, msg, close);
        }
    }
    return opt_error(d, err, v->pos, "option '%s': unknown kind%s%s", o->name, "", "");
}

/* Applies a common option to the instance. */
static int apply_common(struct vdev *d, const struct occurrence *oc, struct vdev_err *err)
{
    const struct vdev_optval *v = &oc->val;
    const char *why = NULL;
    switch (oc->common) {
    case COMMON_LOC:
        if (vdev_parse_loc(v->text, &d->loc, &why))
            return opt_error(d, err, v->pos, "option 'loc': bad location '%s' (%s)", v->text, why,
                             "");
        d->loc_given = true;
        d->loc_pos = v->pos;
        return 0;
    case COMMON_INTR:
        if (d->platform && vdev_platform_is_pic(d->platform))
            return vdev_platform_intr_out(d, v, err);
        if (!d->type->has_intr)
            return opt_error(d, err, v->pos,
                             "option 'intr': %s takes no 'intr'%s%s (hint: leave it out; its own "
                             "options say where it interrupts, see docs/config.md)",
                             d->type->name, "", "");
        if (vdev_parse_intr(v->text, &d->intr, &why))
            return opt_error(d, err, v->pos, "option 'intr': bad interrupt '%s' (%s)", v->text, why,
                             "");
        d->intr_given = true;
        d->intr_pos = v->pos;
        return 0;
    case COMMON_NAME:
        if (!valid_name(v->text))
            return opt_error(d, err, v->pos,
                             "option 'name': '%s' is not a valid name (1-63 letters, digits, "
                             "'-', '_', '.')%s%s",
                             v->text, "", "");
        free(d->user_name);
        d->user_name = vdev_strdup(v->text);
        if (d->platform && vdev_platform_is_pic(d->platform))
            return vdev_platform_alias(d, v, err);
        return 0;
    case COMMON_LOG: {
        /* A log file is named like any other path: relative to the config file's folder. */
        bool file =
            strcmp(v->text2, "vmm") && strcmp(v->text2, "stderr") && strcmp(v->text2, "stdout");
        char *dest = file ? resolve_path(v->text2, oc->dir) : vdev_strdup(v->text2);
        int rc = vdev_log_parse(d, v->text, dest, &why);
        free(dest);
        if (rc)
            return opt_error(d, err, v->pos, "option 'log': %s%s%s", why, "", "");
        return 0;
    }
    case COMMON_NONE:
        break;
    }
    return 0;
}

static void record_setting(struct vdev *d, const struct occurrence *oc)
{
    struct vdev_opt_setting *s = realloc(d->settings, (d->nsettings + 1) * sizeof(*s));
    if (!s)
        abort();
    d->settings = s;
    s[d->nsettings].opt = oc->opt;
    s[d->nsettings].text = vdev_strdup(oc->val.text);
    s[d->nsettings].text2 = vdev_strdup(oc->val.text2);
    s[d->nsettings].pos = oc->val.pos;
    d->nsettings++;
}

/* True when a later occurrence of the same non-repeatable option overrides this one. */
static bool overridden(const struct occurrence *ocs, size_t n, size_t i)
{
    if (ocs[i].opt->flags & VDEV_OPT_REPEAT)
        return false;
    for (size_t j = i + 1; j < n; j++)
        if (ocs[j].opt == ocs[i].opt)
            return true;
    return false;
}

/* Splits the raw tokens into option occurrences, checking names and argument counts. */
static int collect(struct vdev *d, struct occurrence *ocs, size_t *nocs, struct vdev_err *err)
{
    const struct vdev_vdev_cfg *cfg = d->cfg;
    size_t n = 0;
    for (size_t i = 0; i < cfg->ntokens;) {
        const struct vdev_token *tok = &cfg->tokens[i];
        enum common_opt common;
        const struct vdev_option *o = tok->quoted ? NULL : lookup(d->type, tok->text, &common);
        if (!o) {
            const char *cands[64];
            char hint[96];
            candidates(d->type, cands, 64);
            return opt_error(
                d, err, tok->pos, "unknown option '%s'%s%s", tok->text,
                tok->quoted ? "" : vdev_did_you_mean(hint, sizeof(hint), tok->text, cands), "");
        }
        unsigned na = nargs_of(o);
        if (i + na >= cfg->ntokens && na > 0)
            return opt_error(d, err, tok->pos, "option '%s' needs %s: %s", o->name,
                             na == 2 ? "two arguments" : "an argument", o->arg ? o->arg : "VALUE");
        /* `mac name x` is a forgotten value, not a MAC called "name": an unquoted value that
         * is this device's option name is refused (quoting it makes it a value). */
        for (unsigned a = 1; a <= na; a++) {
            const struct vdev_token *vt = &cfg->tokens[i + a];
            enum common_opt ignored;
            if (!vt->quoted && lookup(d->type, vt->text, &ignored))
                return vdev_err_atc(
                    err, VDEV_E_CONFIG, vt->pos,
                    "vdev %s: option '%s' needs %s, but the next word is the "
                    "option '%s' (hint: write \"%s\" in quotes if that is the value)",
                    d->type->name, o->name, o->arg ? o->arg : "a value", vt->text, vt->text);
        }
        struct occurrence *oc = &ocs[n++];
        memset(oc, 0, sizeof(*oc));
        oc->opt = o;
        oc->common = common;
        oc->val.opt = o;
        oc->val.pos = tok->pos;
        oc->val.text = na >= 1 ? cfg->tokens[i + 1].text : "";
        oc->val.text2 = na >= 2 ? cfg->tokens[i + 2].text : NULL;
        if (na >= 1) {
            oc->val.pos = cfg->tokens[i + 1].pos; /* point at the value: that is what is wrong */
            oc->dir = cfg->tokens[i + 1].dir;
        }
        if (convert(d, oc, err))
            return -1;
        i += 1 + na;
    }
    *nocs = n;
    return 0;
}

int vdev_apply_options(struct vdev *d, struct vdev_err *err)
{
    size_t cap = d->cfg->ntokens + 1;
    struct occurrence *ocs = calloc(cap, sizeof(*ocs));
    char **paths = calloc(cap, sizeof(*paths));
    if (!ocs || !paths)
        abort();
    size_t n = 0;
    int rc = collect(d, ocs, &n, err);
    if (rc == 0 && d->type->options_start)
        rc = d->type->options_start(d);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (overridden(ocs, n, i))
            continue;
        if (ocs[i].opt->kind == VDEV_OPT_PATH) {
            paths[i] = resolve_path(ocs[i].val.text, ocs[i].dir);
            ocs[i].val.path = paths[i];
        }
        if (ocs[i].common != COMMON_NONE) {
            rc = apply_common(d, &ocs[i], err);
        } else if (d->type->option) {
            rc = d->type->option(d, &ocs[i].val);
            if (rc && err && !err->msg[0])
                opt_error(d, err, ocs[i].val.pos, "option '%s' refused%s%s", ocs[i].opt->name, "",
                          "");
        }
        if (rc == 0)
            record_setting(d, &ocs[i]);
    }
    if (rc == 0 && d->type->options_end)
        rc = d->type->options_end(d);
    if (rc && err && !err->msg[0])
        vdev_err_at(err, d->cfg->pos, "vdev %s: options refused by the module", d->type->name);
    d->options_ended = true;
    for (size_t i = 0; i < cap; i++)
        free(paths[i]);
    free(paths);
    free(ocs);
    return rc ? -1 : 0;
}
