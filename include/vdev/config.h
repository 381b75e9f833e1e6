/* The qvm configuration language: tokens, contexts and the parsed VM description.
 *
 * Parsing is one token stream: files given with @file are expanded in place, so a
 * command line such as `@guest.conf set fdt-dump-file /tmp/x.dtb dryrun` continues the
 * stream of guest.conf. Several parse calls on one config append to the same stream.
 * vdev options are kept as raw tokens here; the core validates them against each
 * module's option table when the machine is built.
 */
#ifndef VDEV_CONFIG_H
#define VDEV_CONFIG_H

#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_token {
    char *text;
    struct vdev_srcpos pos;
    unsigned seq; /* position in the whole stream: orders tokens across files */
    bool quoted;
    /* folder that relative paths in this token are resolved against (owned by the config);
     * NULL = the current directory (command line, strings) */
    const char *dir;
};

struct vdev_mem_cfg { /* ram [start,]len  /  rom start,len */
    struct vdev_srcpos pos;
    bool rom;
    bool start_given; /* ram without start: placed at the lowest free address */
    uint64_t start, len;
};

struct vdev_cpu_cfg { /* one `cpu` context = one vCPU */
    struct vdev_srcpos pos;
    bool runmask_given;
    uint64_t runmask; /* host CPUs this vCPU may run on (bit n = CPU n) */
    bool sched_given;
    char sched_policy; /* since 0.3, in what was padding: 'r', 'f', 'o', 's' (sporadic) or '\0' */
    int sched;         /* priority as written (`sched 8`; sporadic: the high one); docs/config.md */
};

struct vdev_load_cfg { /* load [addr,]file */
    struct vdev_srcpos pos;
    bool addr_given;
    uint64_t addr;
    char *path; /* resolved against the directory of the file that named it */
};

struct vdev_reserve_cfg { /* reserve loc X / reserve intr PIC:LINE (either or both) */
    struct vdev_srcpos pos;
    struct vdev_loc loc;
    struct vdev_srcpos loc_pos;
    struct vdev_intr intr;
    struct vdev_srcpos intr_pos;
};

struct vdev_var_cfg { /* set VAR VALUE; VAR is one of vdev_config_var_at() */
    struct vdev_srcpos pos;
    char *name;
    char *value;
};

struct vdev_vdev_cfg {      /* vdev TYPE followed by its raw option tokens */
    struct vdev_srcpos pos; /* of the type name */
    char *type;
    struct vdev_token *tokens;
    size_t ntokens;
};

struct vdev_config {
    char *system; /* NULL when no `system` line */
    struct vdev_srcpos system_pos;

    struct vdev_mem_cfg *mem;
    size_t nmem;
    unsigned first_ram_seq; /* seq of the first ram/rom token; UINT32_MAX if none */

    struct vdev_cpu_cfg *cpus;
    size_t ncpus;

    struct vdev_load_cfg *loads;
    size_t nloads;

    char *initrd; /* initrd load FILE, resolved; NULL if none */
    struct vdev_srcpos initrd_pos;

    char *cmdline; /* NULL if none */
    struct vdev_srcpos cmdline_pos;

    struct vdev_reserve_cfg *reserves;
    size_t nreserves;

    struct vdev_var_cfg *vars; /* last one wins per name: a later `set` replaces the value */
    size_t nvars;

    struct vdev_vdev_cfg *vdevs;
    size_t nvdevs;

    bool dryrun;

    /* private: file names referenced by srcpos, and parser state carried between calls */
    char **files_;
    size_t nfiles_;
    unsigned next_seq_;
    int ctx_; /* open context kind, so a later parse call continues it */
    size_t ctx_idx_;
};

/* A known `set` variable. */
struct vdev_config_var {
    const char *name;
    const char *arg; /* argument shape for help, e.g. "PATH" */
    const char *help;
};
/* The known variables: i = 0, 1, ... until NULL. (A function, not the array itself:
 * exported data would freeze the table's size into the ABI.) */
VDEV_API const struct vdev_config_var *vdev_config_var_at(size_t i);

VDEV_API void vdev_config_init(struct vdev_config *cfg);
VDEV_API void vdev_config_free(struct vdev_config *cfg);

/* Command-line style: each argv element is one token; "@FILE" includes FILE (relative to
 * the current directory). Returns 0, or -1 with err set ("file:line:col: message"). */
VDEV_API int vdev_config_parse_args(struct vdev_config *cfg, int argc, char *const argv[],
                                    struct vdev_err *err);
/* One configuration file; relative @includes and paths are relative to its directory. */
VDEV_API int vdev_config_parse_file(struct vdev_config *cfg, const char *path,
                                    struct vdev_err *err);
/* In-memory text, for embedders and tests; `name` is used in messages, includes are
 * relative to the current directory. */
VDEV_API int vdev_config_parse_string(struct vdev_config *cfg, const char *name, const char *text,
                                      struct vdev_err *err);

/* Looks up a `set` variable; NULL if not set. */
VDEV_API const char *vdev_config_var(const struct vdev_config *cfg, const char *name);

/* Value syntax shared by the language and the module option validation.
 * Each returns 0 on success, or -1 and points *why at a short reason (static text); why may
 * be NULL. With out NULL they only check the text. */
VDEV_API int vdev_parse_u64(const char *s, uint64_t *out,
                            const char **why); /* 12, 0x1f, 32M, 4k, 1G */
VDEV_API int vdev_parse_loc(const char *s, struct vdev_loc *out, const char **why);
VDEV_API int vdev_parse_intr(const char *s, struct vdev_intr *out, const char **why);
VDEV_API int vdev_parse_mac(const char *s, uint8_t mac[6], const char **why);
/* qvm's `sched`: PRIORITY[r|f|o] (1-255; round-robin, FIFO, other) or sporadic
 * HIGH,LOW,MAX_REPL,PERIOD_NS,BUDGET_NS followed by `s`. *priority gets PRIORITY (HIGH),
 * *policy the letter ('\0' when none was written). Either may be NULL. Since 0.3. */
VDEV_API int vdev_parse_sched(const char *s, int *priority, char *policy, const char **why);

/* Formats a loc back to its canonical text ("io:0x3f8,8", "mem:0xd0000000,0x1000", "pci:0:3.0"). */
VDEV_API void vdev_loc_format(const struct vdev_loc *loc, char *buf, size_t len);

/* Edit distance helper for "did you mean": the closest of `candidates` (NULL-terminated)
 * to `word`, or NULL when nothing is close enough. */
VDEV_API const char *vdev_closest_word(const char *word, const char *const *candidates);

/* private: between the lexer (core/config_lex.c) and the parser (core/config_parse.c).
 * One parse call lexes into one list, @includes expanded, then parses it. */
struct vdev_token_list_ {
    struct vdev_token *v; /* texts owned by the list; pos.file and dir owned by the config */
    size_t n, cap;
};
int vdev_lex_args_(struct vdev_config *cfg, int argc, char *const argv[],
                   struct vdev_token_list_ *out, struct vdev_err *err);
int vdev_lex_file_(struct vdev_config *cfg, const char *path, struct vdev_token_list_ *out,
                   struct vdev_err *err);
int vdev_lex_string_(struct vdev_config *cfg, const char *name, const char *text,
                     struct vdev_token_list_ *out, struct vdev_err *err);
void vdev_token_list_free_(struct vdev_token_list_ *list);

#ifdef __cplusplus
}
#endif
#endif
