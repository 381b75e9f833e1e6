/* Value syntax of the configuration language (numbers, locations, interrupts, MACs),
 * the `set` variable table, "did you mean" and the config's life-cycle. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/config.h>

static const struct vdev_config_var config_vars[] = {
    {"acpi-dump-file", "PATH", "write the generated ACPI tables to PATH"},
    {"exit-on-halt", "yes|no", "end the VM when the guest halts"},
    {"fdt-dump-file", "PATH", "write the generated flattened device tree to PATH"},
    {"halt-poll", "MICROSECONDS",
     "longest a halted vCPU polls for a wake-up before it sleeps (0 to 1000000; default: the "
     "host kernel's)"},
    {"runtime-dir", "PATH", "folder for the VM's run-time files (named endpoints)"},
    {NULL, NULL, NULL},
};

const struct vdev_config_var *vdev_config_var_at(size_t i)
{
    return i < sizeof(config_vars) / sizeof(config_vars[0]) - 1 ? &config_vars[i] : NULL;
}

static const char why_number[] = "expected a number like 4096, 0x1000 or 32M";

/* Decimal or 0x-hex digits only, no suffix; *end gets the first byte not used. */
static int parse_digits(const char *s, uint64_t *out, const char **end)
{
    unsigned base = 10;
    uint64_t v = 0;
    const char *p = s;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char *first = p;
    for (;; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return 1; /* overflow: distinct from "no digits" */
        v = v * base + d;
    }
    if (p == first)
        return -1;
    *out = v;
    *end = p;
    return 0;
}

int vdev_parse_u64(const char *s, uint64_t *out, const char **why)
{
    uint64_t v;
    const char *end;
    const char *dummy;

    if (!why)
        why = &dummy;
    if (!s) {
        *why = why_number;
        return -1;
    }
    int rc = parse_digits(s, &v, &end);
    if (rc != 0) {
        *why = rc > 0 ? "number too large" : why_number;
        return -1;
    }
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    default:
        break;
    }
    if (shift)
        end++;
    if (*end != '\0') {
        *why = why_number;
        return -1;
    }
    if (shift && v > (UINT64_MAX >> shift)) {
        *why = "number too large";
        return -1;
    }
    if (out)
        *out = v << shift;
    return 0;
}

/* A plain number (no suffix) that must end exactly at `stop` (or at the string's end). */
static int parse_plain_until(const char *s, char stop, uint64_t *out, const char **next)
{
    const char *end;
    if (parse_digits(s, out, &end) != 0)
        return -1;
    if (*end != stop && *end != '\0')
        return -1;
    *next = end;
    return 0;
}

/* ADDR[,LEN] for mem: and io:, with K/M/G suffixes allowed on both parts. */
static int parse_addr_len(const char *s, uint64_t *addr, uint64_t *len, const char **why)
{
    char buf[64];
    const char *comma = strchr(s, ',');
    size_t alen = comma ? (size_t)(comma - s) : strlen(s);

    if (alen >= sizeof(buf)) {
        *why = "number too large";
        return -1;
    }
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (vdev_parse_u64(buf, addr, why) != 0)
        return -1;
    *len = 0;
    if (comma) {
        if (vdev_parse_u64(comma + 1, len, why) != 0)
            return -1;
        if (*len == 0) {
            *why = "length must not be 0";
            return -1;
        }
        if (*len - 1 > UINT64_MAX - *addr) {
            *why = "range wraps past the end of the address space";
            return -1;
        }
    }
    return 0;
}

int vdev_parse_loc(const char *s, struct vdev_loc *out, const char **why)
{
    static const char why_loc[] =
        "expected mem:ADDR[,LEN], io:PORT[,LEN], pci:BUS:DEV[.FN] or ADDR[,LEN]";
    struct vdev_loc loc;
    const char *dummy;

    if (!why)
        why = &dummy;
    memset(&loc, 0, sizeof(loc));
    if (!s || !*s) {
        *why = why_loc;
        return -1;
    }
    if (strncmp(s, "pci:", 4) == 0) {
        uint64_t bus, dev, fn = 0;
        const char *p = s + 4;
        if (parse_plain_until(p, ':', &bus, &p) != 0 || *p != ':' ||
            parse_plain_until(p + 1, '.', &dev, &p) != 0 ||
            (*p == '.' && parse_plain_until(p + 1, '\0', &fn, &p) != 0)) {
            *why = "expected pci:BUS:DEV or pci:BUS:DEV.FN";
            return -1;
        }
        if (bus > 255) {
            *why = "PCI bus must be 0..255";
            return -1;
        }
        if (dev > 31) {
            *why = "PCI device must be 0..31";
            return -1;
        }
        if (fn > 7) {
            *why = "PCI function must be 0..7";
            return -1;
        }
        loc.kind = VDEV_LOC_PCI;
        loc.bus = (uint8_t)bus;
        loc.dev = (uint8_t)dev;
        loc.fn = (uint8_t)fn;
    } else if (strncmp(s, "io:", 3) == 0) {
        if (parse_addr_len(s + 3, &loc.addr, &loc.len, why) != 0)
            return -1;
        if (loc.addr >= 0x10000) {
            *why = "I/O port must be below 0x10000";
            return -1;
        }
        if (loc.len > 0x10000 - loc.addr) {
            *why = "I/O range ends past port 0xffff";
            return -1;
        }
        loc.kind = VDEV_LOC_IO;
    } else {
        const char *p = strncmp(s, "mem:", 4) == 0 ? s + 4 : s;
        if (parse_addr_len(p, &loc.addr, &loc.len, why) != 0) {
            if (p == s && *why == why_number)
                *why = why_loc; /* a bare word: say which forms exist */
            return -1;
        }
        loc.kind = VDEV_LOC_MEM;
    }
    if (out)
        *out = loc;
    return 0;
}

int vdev_parse_intr(const char *s, struct vdev_intr *out, const char **why)
{
    static const char why_intr[] = "expected PIC:LINE, like ioapic:4 or gic:40";
    const char *dummy;
    const char *colon = s ? strchr(s, ':') : NULL;

    if (!why)
        why = &dummy;
    if (!colon || colon == s) {
        *why = why_intr;
        return -1;
    }
    size_t n = (size_t)(colon - s);
    if (n >= VDEV_PIC_NAME_MAX) {
        *why = "interrupt controller name too long";
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-') {
            *why = why_intr;
            return -1;
        }
    }
    uint64_t line;
    const char *end;
    if (parse_plain_until(colon + 1, '\0', &line, &end) != 0) {
        *why = why_intr;
        return -1;
    }
    if (line > UINT32_MAX) {
        *why = "interrupt line too large";
        return -1;
    }
    if (out) {
        memset(out, 0, sizeof(*out));
        out->given = true;
        memcpy(out->pic, s, n);
        out->line = (uint32_t)line;
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int vdev_parse_mac(const char *s, uint8_t mac[6], const char **why)
{
    static const char why_mac[] = "expected a MAC address like 52:54:00:12:34:56";
    const char *dummy;
    uint8_t m[6];

    if (!why)
        why = &dummy;
    if (!s || strlen(s) != 17) {
        *why = why_mac;
        return -1;
    }
    for (int i = 0; i < 6; i++) {
        const char *p = s + i * 3;
        int hi = hexval(p[0]), lo = hexval(p[1]);
        if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':')) {
            *why = why_mac;
            return -1;
        }
        m[i] = (uint8_t)(hi << 4 | lo);
    }
    if (m[0] & 1) {
        *why = "multicast MAC";
        return -1;
    }
    if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
        *why = "all-zero MAC";
        return -1;
    }
    if (mac)
        memcpy(mac, m, sizeof(m));
    return 0;
}

void vdev_loc_format(const struct vdev_loc *loc, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    if (!loc) {
        snprintf(buf, len, "none");
        return;
    }
    unsigned long long a = loc->addr, l = loc->len;
    switch (loc->kind) {
    case VDEV_LOC_MEM:
        if (l)
            snprintf(buf, len, "mem:0x%llx,0x%llx", a, l);
        else
            snprintf(buf, len, "mem:0x%llx", a);
        break;
    case VDEV_LOC_IO:
        if (l)
            snprintf(buf, len, "io:0x%llx,%llu", a, l);
        else
            snprintf(buf, len, "io:0x%llx", a);
        break;
    case VDEV_LOC_PCI:
        snprintf(buf, len, "pci:%u:%u.%u", loc->bus, loc->dev, loc->fn);
        break;
    default:
        snprintf(buf, len, "none");
        break;
    }
}

const char *vdev_config_var(const struct vdev_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->nvars; i++)
        if (strcmp(cfg->vars[i].name, name) == 0)
            return cfg->vars[i].value;
    return NULL;
}

void vdev_config_init(struct vdev_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->first_ram_seq = UINT32_MAX;
}

void vdev_config_free(struct vdev_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->system);
    free(cfg->mem);
    free(cfg->cpus);
    for (size_t i = 0; i < cfg->nloads; i++)
        free(cfg->loads[i].path);
    free(cfg->loads);
    free(cfg->initrd);
    free(cfg->cmdline);
    free(cfg->reserves);
    for (size_t i = 0; i < cfg->nvars; i++) {
        free(cfg->vars[i].name);
        free(cfg->vars[i].value);
    }
    free(cfg->vars);
    for (size_t i = 0; i < cfg->nvdevs; i++) {
        free(cfg->vdevs[i].type);
        for (size_t j = 0; j < cfg->vdevs[i].ntokens; j++)
            free(cfg->vdevs[i].tokens[j].text);
        free(cfg->vdevs[i].tokens);
    }
    free(cfg->vdevs);
    for (size_t i = 0; i < cfg->nfiles_; i++)
        free(cfg->files_[i]);
    free(cfg->files_);
    vdev_config_init(cfg);
}

/* Words longer than this get no suggestion: it keeps the table on the stack and hostile
 * megabyte-long tokens cheap. */
#define CLOSEST_MAX 64

/* Optimal-string-alignment (Damerau) distance; both words are already lower-case. */
static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t rows[3][CLOSEST_MAX + 1];
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    for (size_t j = 0; j <= m; j++)
        prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t best = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
}

const char *vdev_closest_word(const char *word, const char *const *candidates)
{
    if (!word || !candidates)
        return NULL;
    size_t n = strlen(word);
    if (n > CLOSEST_MAX)
        return NULL;
    size_t limit = n / 3 > 1 ? n / 3 : 1;
    char lw[CLOSEST_MAX], lc[CLOSEST_MAX];
    lower_copy(lw, word, n);
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; candidates[i]; i++) {
        size_t m = strlen(candidates[i]);
        if (m > CLOSEST_MAX)
            continue;
        lower_copy(lc, candidates[i], m);
        size_t d = edit_distance(lw, n, lc, m);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}

/* Decimal field of a sched value; *p moves past it. */
static int sched_field(const char **p, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *q = *p;
    if (*q < '0' || *q > '9')
        return -1;
    for (; *q >= '0' && *q <= '9'; q++) {
        v = v * 10 + (uint64_t)(*q - '0');
        if (v > max)
            return -1;
    }
    *p = q;
    *out = v;
    return 0;
}

int vdev_parse_sched(const char *s, int *priority, char *policy, const char **why)
{
    static const char why_sched[] =
        "expected PRIORITY[r|f|o] (1-255, like 10 or 10r) or "
        "HIGH,LOW,MAX_REPL,PERIOD_NS,BUDGET_NS followed by s (sporadic)";
    const char *dummy, *p = s;
    uint64_t f[5];
    unsigned n = 0;
    if (!why)
        why = &dummy;
    if (!s) {
        *why = why_sched;
        return -1;
    }
    for (;;) {
        if (n == 5 || sched_field(&p, UINT64_MAX / 10, &f[n])) {
            *why = why_sched;
            return -1;
        }
        n++;
        if (*p != ',')
            break;
        p++;
    }
    char pol = *p ? *p++ : 0;
    if (*p || (n == 1 && pol && pol != 'r' && pol != 'f' && pol != 'o') ||
        (n != 1 && (n != 5 || pol != 's'))) {
        *why = why_sched;
        return -1;
    }
    if (f[0] < 1 || f[0] > 255 || (n == 5 && (f[1] < 1 || f[1] > f[0]))) {
        *why = n == 5 ? "sporadic: priorities 1-255, the low one at most the high one"
                      : "priority out of range (1-255)";
        return -1;
    }
    if (n == 5 && (f[2] < 1 || f[3] < 1 || f[4] < 1 || f[4] > f[3])) {
        *why = "sporadic: replenishments, period and budget above 0, the budget at most the period";
        return -1;
    }
    if (priority)
        *priority = (int)f[0];
    if (policy)
        *policy = pol;
    return 0;
}
