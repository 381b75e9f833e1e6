/* AML writer (ACPI 6.x, chapter 20 "ACPI Machine Language Specification").
 *
 * The builder appends to one growing buffer. A construct with a PkgLength (Scope, Device,
 * Method, If, Package, Buffer) is opened by recording where its body starts; closing it
 * inserts the PkgLength there (and a Package's NumElements, a Buffer's BufferSize), since
 * their encoded widths depend on the body's size. The bodies are small, so the memmove
 * that insertion costs is cheaper than any cleverness.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/acpi.h>

/* Opcodes (ACPI 6.5, 20.3) */
#define OP_ZERO        0x00
#define OP_ONE         0x01
#define OP_NAME        0x08
#define OP_BYTE        0x0a
#define OP_WORD        0x0b
#define OP_DWORD       0x0c
#define OP_STRING      0x0d
#define OP_QWORD       0x0e
#define OP_SCOPE       0x10
#define OP_BUFFER      0x11
#define OP_PACKAGE     0x12
#define OP_METHOD      0x14
#define OP_DUAL_NAME   0x2e
#define OP_MULTI_NAME  0x2f
#define OP_EXT         0x5b
#define OP_EXT_DEVICE  0x82
#define OP_ROOT_CHAR   0x5c
#define OP_PARENT_CHAR 0x5e
#define OP_ARG0        0x68
#define OP_NOTIFY      0x86
#define OP_LEQUAL      0x93
#define OP_IF          0xa0
#define OP_RETURN      0xa4

/* Resource descriptors (ACPI 6.5, 6.4) */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO          0x47 /* small item 0x08, length 7 */
#define RES_END_TAG     0x79 /* small item 0x0f, length 1 */
#define RES_MEM32_FIXED 0x86
#define RES_DWORD_ADDR  0x87
#define RES_WORD_ADDR   0x88
#define RES_EXT_IRQ     0x89
#define RES_QWORD_ADDR  0x8a

#define ADDR_TYPE_MEM 0
#define ADDR_TYPE_IO  1
#define ADDR_TYPE_BUS 2

#define PKGLENGTH_MAX 0x0fffffffu
/* Total size cap: a DSDT's length is 32 bits and no body may outgrow a PkgLength. */
#define AML_MAX_SIZE PKGLENGTH_MAX

enum frame_kind { F_SCOPE, F_DEVICE, F_METHOD, F_IF, F_PACKAGE, F_BUFFER, F_CRS };

struct frame {
    enum frame_kind kind;
    size_t start;   /* first byte after the opcode: where the PkgLength goes */
    unsigned count; /* F_PACKAGE: elements so far */
    unsigned nargs; /* F_METHOD: declared arguments */
};

struct vdev_aml {
    uint8_t *buf;
    size_t len, cap;
    struct frame stack[VDEV_AML_MAX_DEPTH];
    unsigned depth;
    bool want_value; /* a Name awaits its value */
    char name[64];   /* ... this one, for the message when it never comes */
    char err[192];
};

static const char *const kind_names[] = {"Scope",   "Device", "Method",          "If",
                                         "Package", "Buffer", "ResourceTemplate"};

/* ---- errors and buffer ---- */

__attribute__((format(printf, 2, 3))) static void fail(struct vdev_aml *a, const char *fmt, ...)
{
    if (a->err[0])
        return; /* the first error is the one that matters */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof(a->err), fmt, ap);
    va_end(ap);
    if (!a->err[0])
        snprintf(a->err, sizeof(a->err), "AML error");
}

static bool ok(const struct vdev_aml *a)
{
    return a && !a->err[0];
}

static bool reserve(struct vdev_aml *a, size_t more)
{
    if (more > AML_MAX_SIZE || a->len > AML_MAX_SIZE - more) {
        fail(a, "the AML would exceed %u bytes", AML_MAX_SIZE);
        return false;
    }
    if (a->len + more <= a->cap)
        return true;
    size_t cap = a->cap ? a->cap : 256;
    while (cap < a->len + more)
        cap *= 2; /* cannot overflow: bounded by 2 * AML_MAX_SIZE */
    uint8_t *p = realloc(a->buf, cap);
    if (!p) {
        fail(a, "out of memory");
        return false;
    }
    a->buf = p;
    a->cap = cap;
    return true;
}

static void put(struct vdev_aml *a, const void *data, size_t n)
{
    if (!ok(a) || !reserve(a, n))
        return;
    if (n)
        memcpy(a->buf + a->len, data, n);
    a->len += n;
}

static void put8(struct vdev_aml *a, unsigned v)
{
    uint8_t b = (uint8_t)v;
    put(a, &b, 1);
}

/* Little-endian, `n` bytes. */
static void put_le(struct vdev_aml *a, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(a, b, n);
}

static void insert(struct vdev_aml *a, size_t at, const uint8_t *data, size_t n)
{
    if (!ok(a) || !reserve(a, n))
        return;
    memmove(a->buf + at + n, a->buf + at, a->len - at);
    memcpy(a->buf + at, data, n);
    a->len += n;
}

/* ---- the builder ---- */

struct vdev_aml *vdev_aml_new(void)
{
    return calloc(1, sizeof(struct vdev_aml));
}

void vdev_aml_free(struct vdev_aml *a)
{
    if (!a)
        return;
    free(a->buf);
    free(a);
}

const char *vdev_aml_error(const struct vdev_aml *a)
{
    if (!a)
        return "no AML builder";
    return a->err[0] ? a->err : NULL;
}

unsigned vdev_aml_depth(const struct vdev_aml *a)
{
    return a ? a->depth : 0;
}

const uint8_t *vdev_aml_data(struct vdev_aml *a, size_t *len)
{
    if (len)
        *len = 0;
    if (!ok(a))
        return NULL;
    if (a->want_value)
        fail(a, "Name (%s) has no value", a->name);
    else if (a->depth)
        fail(a, "%s left open", kind_names[a->stack[a->depth - 1].kind]);
    if (!ok(a))
        return NULL;
    if (len)
        *len = a->len;
    return a->buf ? a->buf : (const uint8_t *)"";
}

/* ---- where a call may stand ---- */

static struct frame *top(struct vdev_aml *a)
{
    return a->depth ? &a->stack[a->depth - 1] : NULL;
}

/* Before anything other than a Name's value: a pending Name is an error. */
static bool no_pending_value(struct vdev_aml *a, const char *what)
{
    if (a->want_value)
        fail(a, "Name (%s) needs a value before %s", a->name, what);
    return ok(a);
}

static bool at_namespace(struct vdev_aml *a, const char *what)
{
    if (!ok(a) || !no_pending_value(a, what))
        return false;
    struct frame *f = top(a);
    if (f && f->kind != F_SCOPE && f->kind != F_DEVICE)
        fail(a, "%s cannot stand inside a %s", what, kind_names[f->kind]);
    return ok(a);
}

static bool in_code(struct vdev_aml *a, const char *what)
{
    if (!ok(a) || !no_pending_value(a, what))
        return false;
    struct frame *f = top(a);
    if (!f || (f->kind != F_METHOD && f->kind != F_IF))
        fail(a, "%s belongs inside a Method, not %s", what, f ? kind_names[f->kind] : "at the top");
    return ok(a);
}

/* A data object: a Name's pending value or a Package element. */
static bool value_expected(struct vdev_aml *a, const char *what)
{
    if (!ok(a))
        return false;
    if (a->want_value) {
        a->want_value = false;
        return true;
    }
    struct frame *f = top(a);
    if (f && f->kind == F_PACKAGE) {
        if (f->count >= 255) {
            fail(a, "a Package holds at most 255 elements");
            return false;
        }
        f->count++;
        return true;
    }
    fail(a, "%s is a value: it belongs in a Name or a Package, not %s", what,
         f ? kind_names[f->kind] : "at the top");
    return false;
}

static bool in_crs(struct vdev_aml *a, const char *what)
{
    if (!ok(a))
        return false;
    struct frame *f = top(a);
    if (!f || f->kind != F_CRS)
        fail(a, "%s belongs inside a ResourceTemplate", what);
    return ok(a);
}

static void open_frame(struct vdev_aml *a, enum frame_kind kind, unsigned nargs)
{
    if (!ok(a))
        return;
    if (a->depth >= VDEV_AML_MAX_DEPTH) {
        fail(a, "nesting deeper than %d", VDEV_AML_MAX_DEPTH);
        return;
    }
    a->stack[a->depth++] = (struct frame){.kind = kind, .start = a->len, .nargs = nargs};
}

/* ---- encodings ---- */

size_t vdev_aml_pkglength_encode(uint32_t value, uint8_t out[4])
{
    if (value < 0x40) {
        out[0] = (uint8_t)value;
        return 1;
    }
    size_t n = value < 0x1000 ? 2 : value < 0x100000 ? 3 : value <= PKGLENGTH_MAX ? 4 : 0;
    if (!n)
        return 0;
    /* Lead byte: bits 7-6 count the bytes that follow, bits 3-0 the low nibble. */
    out[0] = (uint8_t)(((n - 1) << 6) | (value & 0x0f));
    for (size_t i = 1; i < n; i++)
        out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
    return n;
}

/* The PkgLength for a body of `body` bytes: the value counts its own encoding. */
static size_t pkglength_for(uint64_t body, uint8_t out[4])
{
    for (size_t k = 1; k <= 4; k++)
        if (body + k <= PKGLENGTH_MAX && vdev_aml_pkglength_encode((uint32_t)(body + k), out) == k)
            return k;
    return 0;
}

static size_t int_encoding(uint64_t v, uint8_t out[9])
{
    if (v <= 1) {
        out[0] = v ? OP_ONE : OP_ZERO;
        return 1;
    }
    unsigned width = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
    out[0] = width == 1 ? OP_BYTE : width == 2 ? OP_WORD : width == 4 ? OP_DWORD : OP_QWORD;
    for (unsigned i = 0; i < width; i++)
        out[1 + i] = (uint8_t)(v >> (8 * i));
    return 1 + width;
}

static void put_int(struct vdev_aml *a, uint64_t v)
{
    uint8_t b[9];
    put(a, b, int_encoding(v, b));
}

static bool seg_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* NameString (20.2.2): validates all of `path` before writing any of it. */
static void put_namestring(struct vdev_aml *a, const char *path)
{
    if (!ok(a))
        return;
    if (!path) {
        fail(a, "missing name");
        return;
    }
    uint8_t out[3 + 255 * 4 + 2];
    size_t n = 0;
    const char *p = path;
    if (*p == '\\') {
        out[n++] = OP_ROOT_CHAR;
        p++;
    } else {
        while (*p == '^') {
            if (n >= 255) {
                fail(a, "name '%.40s': too many '^'", path);
                return;
            }
            out[n++] = OP_PARENT_CHAR;
            p++;
        }
    }
    size_t prefix = n;
    uint8_t segs[255][4];
    size_t nseg = 0;
    while (*p) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 4) {
            fail(a, "name '%.40s': %s", path,
                 l ? "a segment is longer than 4 characters" : "empty segment");
            return;
        }
        if (nseg == 255) {
            fail(a, "name '%.40s': more than 255 segments", path);
            return;
        }
        for (size_t i = 0; i < 4; i++) {
            char c = i < l ? p[i] : '_';
            if (!seg_char(c, i == 0)) {
                fail(a, "name '%.40s': segment '%.*s' %s", path, (int)l, p,
                     (i == 0 && c >= '0' && c <= '9')
                         ? "starts with a digit"
                         : "may hold only upper-case letters, digits and '_'");
                return;
            }
            segs[nseg][i] = (uint8_t)c;
        }
        nseg++;
        p += l;
        if (*p == '.') {
            p++;
            if (!*p) {
                fail(a, "name '%.40s': empty segment", path);
                return;
            }
        }
    }
    if (nseg == 0 && prefix == 0) {
        fail(a, "empty name");
        return;
    }
    if (nseg == 0) {
        out[n++] = 0x00; /* NullName: "\" alone is the root */
    } else if (nseg == 2) {
        out[n++] = OP_DUAL_NAME;
    } else if (nseg > 2) {
        out[n++] = OP_MULTI_NAME;
        out[n++] = (uint8_t)nseg;
    }
    put(a, out, n);
    for (size_t i = 0; i < nseg; i++)
        put(a, segs[i], 4);
}

int vdev_aml_eisaid_value(const char *id, uint32_t *value)
{
    if (!id || !value || strlen(id) != 7)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z')
            return -1;
        v = (v << 5) | (uint32_t)(id[i] - 0x40);
    }
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = (v << 4) | d;
    }
    /* 15 bits of letters and 16 of product number, stored big-endian in a DWord. */
    *value = ((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    return 0;
}

/* ---- namespace ---- */

void vdev_aml_scope_begin(struct vdev_aml *a, const char *path)
{
    if (!at_namespace(a, "Scope"))
        return;
    put8(a, OP_SCOPE);
    open_frame(a, F_SCOPE, 0);
    put_namestring(a, path);
}

void vdev_aml_device_begin(struct vdev_aml *a, const char *path)
{
    if (!at_namespace(a, "Device"))
        return;
    put8(a, OP_EXT);
    put8(a, OP_EXT_DEVICE);
    open_frame(a, F_DEVICE, 0);
    put_namestring(a, path);
}

void vdev_aml_method_begin(struct vdev_aml *a, const char *path, unsigned nargs, bool serialized)
{
    if (!at_namespace(a, "Method"))
        return;
    if (nargs > 7) {
        fail(a, "Method (%.40s): %u arguments, at most 7", path ? path : "?", nargs);
        return;
    }
    put8(a, OP_METHOD);
    open_frame(a, F_METHOD, nargs);
    put_namestring(a, path);
    put8(a, nargs | (serialized ? 0x08 : 0)); /* MethodFlags: SyncLevel 0 */
}

void vdev_aml_name_begin(struct vdev_aml *a, const char *path)
{
    if (!at_namespace(a, "Name"))
        return;
    put8(a, OP_NAME);
    put_namestring(a, path);
    if (!ok(a))
        return;
    a->want_value = true;
    snprintf(a->name, sizeof(a->name), "%s", path);
}

void vdev_aml_name_int(struct vdev_aml *a, const char *path, uint64_t value)
{
    vdev_aml_name_begin(a, path);
    vdev_aml_int(a, value);
}

void vdev_aml_name_string(struct vdev_aml *a, const char *path, const char *s)
{
    vdev_aml_name_begin(a, path);
    vdev_aml_string(a, s);
}

void vdev_aml_name_eisaid(struct vdev_aml *a, const char *path, const char *id)
{
    vdev_aml_name_begin(a, path);
    vdev_aml_eisaid(a, id);
}

/* ---- data ---- */

void vdev_aml_int(struct vdev_aml *a, uint64_t value)
{
    if (value_expected(a, "an integer"))
        put_int(a, value);
}

void vdev_aml_string(struct vdev_aml *a, const char *s)
{
    if (!ok(a))
        return;
    if (!s) {
        fail(a, "missing string");
        return;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p > 0x7f) {
            fail(a, "string '%.40s': only ASCII is allowed", s);
            return;
        }
    }
    if (!value_expected(a, "a string"))
        return;
    put8(a, OP_STRING);
    put(a, s, strlen(s) + 1);
}

void vdev_aml_eisaid(struct vdev_aml *a, const char *id)
{
    if (!ok(a))
        return;
    uint32_t v;
    if (vdev_aml_eisaid_value(id, &v)) {
        fail(a, "EISA ID '%.20s': want three letters A-Z and four hex digits, like PNP0501",
             id ? id : "(null)");
        return;
    }
    if (!value_expected(a, "an EISA ID"))
        return;
    put8(a, OP_DWORD); /* always a DWord, so disassemblers show EisaId () */
    put_le(a, v, 4);
}

void vdev_aml_package_begin(struct vdev_aml *a)
{
    if (!value_expected(a, "a Package"))
        return;
    put8(a, OP_PACKAGE);
    open_frame(a, F_PACKAGE, 0);
}

void vdev_aml_buffer_begin(struct vdev_aml *a)
{
    if (!value_expected(a, "a Buffer"))
        return;
    put8(a, OP_BUFFER);
    open_frame(a, F_BUFFER, 0);
}

void vdev_aml_bytes(struct vdev_aml *a, const void *data, size_t len)
{
    if (!ok(a) || !no_pending_value(a, "raw bytes"))
        return;
    struct frame *f = top(a);
    if (f && (f->kind == F_PACKAGE || f->kind == F_CRS)) {
        fail(a, "raw bytes cannot stand inside a %s", kind_names[f->kind]);
        return;
    }
    if (len && !data) {
        fail(a, "raw bytes: no data");
        return;
    }
    put(a, data, len);
}

/* ---- closing ---- */

void vdev_aml_end(struct vdev_aml *a)
{
    if (!ok(a))
        return;
    struct frame *f = top(a);
    if (!f) {
        fail(a, "end without an open construct");
        return;
    }
    if (a->want_value) {
        fail(a, "Name (%s) has no value at the end of its %s", a->name, kind_names[f->kind]);
        return;
    }
    uint8_t pre[9];
    size_t npre = 0;
    if (f->kind == F_CRS) {
        /* EndTag: its checksum makes the template's bytes sum to zero. */
        uint8_t sum = RES_END_TAG;
        for (size_t i = f->start; i < a->len; i++)
            sum = (uint8_t)(sum + a->buf[i]);
        put8(a, RES_END_TAG);
        put8(a, (uint8_t)(0x100 - sum));
    }
    if (f->kind == F_PACKAGE) {
        pre[0] = (uint8_t)f->count;
        npre = 1;
    } else if (f->kind == F_BUFFER || f->kind == F_CRS) {
        npre = int_encoding(a->len - f->start, pre); /* BufferSize */
    }
    insert(a, f->start, pre, npre);
    uint8_t pl[4];
    size_t npl = pkglength_for(a->len - f->start, pl);
    if (!npl) {
        fail(a, "%s body too large for a PkgLength", kind_names[f->kind]);
        return;
    }
    insert(a, f->start, pl, npl);
    a->depth--;
}

/* ---- resource templates ---- */

void vdev_aml_crs_begin(struct vdev_aml *a)
{
    if (!value_expected(a, "a ResourceTemplate"))
        return;
    put8(a, OP_BUFFER);
    open_frame(a, F_CRS, 0);
}

void vdev_aml_crs_end(struct vdev_aml *a)
{
    if (!ok(a))
        return;
    struct frame *f = top(a);
    if (!f || f->kind != F_CRS) {
        fail(a, "ResourceTemplate end without an open ResourceTemplate");
        return;
    }
    vdev_aml_end(a);
}

void vdev_aml_res_io(struct vdev_aml *a, uint64_t base, uint64_t len)
{
    if (!in_crs(a, "IO"))
        return;
    if (len < 1 || len > 0xff || base > 0x10000 - len) {
        fail(a, "IO (0x%llx, length 0x%llx): ports must lie below 0x10000, length 1-255",
             (unsigned long long)base, (unsigned long long)len);
        return;
    }
    put8(a, RES_IO);
    put8(a, 0x01); /* Decode16 */
    put_le(a, base, 2);
    put_le(a, base, 2);
    put8(a, 0x01); /* alignment */
    put8(a, (unsigned)len);
}

void vdev_aml_res_irq(struct vdev_aml *a, uint32_t line)
{
    if (!in_crs(a, "IRQ"))
        return;
    if (line > 15) {
        fail(a, "IRQ %u: a legacy IRQ descriptor holds lines 0-15 (use Interrupt)", line);
        return;
    }
    put8(a, RES_IRQ_NOFLAGS);
    put_le(a, 1u << line, 2);
}

void vdev_aml_res_interrupt(struct vdev_aml *a, uint32_t gsi, bool level, bool active_high,
                            bool shared)
{
    if (!in_crs(a, "Interrupt"))
        return;
    put8(a, RES_EXT_IRQ);
    put_le(a, 6, 2);
    /* bit 0 consumer, 1 edge, 2 active-low, 3 shared */
    put8(a, 0x01 | (level ? 0 : 0x02) | (active_high ? 0 : 0x04) | (shared ? 0x08 : 0));
    put8(a, 1); /* one interrupt */
    put_le(a, gsi, 4);
}

void vdev_aml_res_mem32(struct vdev_aml *a, uint64_t base, uint64_t len)
{
    if (!in_crs(a, "Memory32Fixed"))
        return;
    if (len < 1 || len > 0xffffffffu || base > 0x100000000ull - len) {
        fail(a, "Memory32Fixed (0x%llx, length 0x%llx): must lie below 4 GiB, length >= 1",
             (unsigned long long)base, (unsigned long long)len);
        return;
    }
    put8(a, RES_MEM32_FIXED);
    put_le(a, 9, 2);
    put8(a, 0x01); /* ReadWrite */
    put_le(a, base, 4);
    put_le(a, len, 4);
}

/* Word/DWord/QWord Address Space descriptor of a bridge window: ResourceProducer (general
 * flag bit 0 clear), PosDecode, MinFixed, MaxFixed; granularity and translation 0. */
static void address_space_flags(struct vdev_aml *a, uint8_t tag, unsigned width, unsigned type,
                                unsigned general, unsigned type_flags, uint64_t base, uint64_t len)
{
    uint64_t limit = width == 8 ? UINT64_MAX : (1ull << (8 * width)) - 1;
    if (len < 1 || base > limit || len - 1 > limit - base) {
        fail(a, "%s window 0x%llx length 0x%llx does not fit %u-bit addresses",
             type == ADDR_TYPE_MEM  ? "memory"
             : type == ADDR_TYPE_IO ? "I/O"
                                    : "bus",
             (unsigned long long)base, (unsigned long long)len, 8 * width);
        return;
    }
    put8(a, tag);
    put_le(a, 3 + 5 * width, 2);
    put8(a, type);
    put8(a, general); /* _MAF | _MIF, bit 0: consumer (else producer) */
    put8(a, type_flags);
    put_le(a, 0, width);              /* granularity */
    put_le(a, base, width);           /* minimum */
    put_le(a, base + len - 1, width); /* maximum */
    put_le(a, 0, width);              /* translation offset */
    put_le(a, len, width);
}

/* A bridge's window: ResourceProducer. */
static void address_space(struct vdev_aml *a, uint8_t tag, unsigned width, unsigned type,
                          unsigned type_flags, uint64_t base, uint64_t len)
{
    address_space_flags(a, tag, width, type, 0x0c, type_flags, base, len);
}

void vdev_aml_res_word_bus(struct vdev_aml *a, uint32_t first, uint32_t last)
{
    if (!in_crs(a, "WordBusNumber"))
        return;
    if (first > last || last > 255) {
        fail(a, "WordBusNumber (%u-%u): want first <= last <= 255", first, last);
        return;
    }
    address_space(a, RES_WORD_ADDR, 2, ADDR_TYPE_BUS, 0, first, last - first + 1);
}

void vdev_aml_res_dword_io(struct vdev_aml *a, uint64_t base, uint64_t len)
{
    if (in_crs(a, "DWordIO"))
        address_space(a, RES_DWORD_ADDR, 4, ADDR_TYPE_IO, 0x03 /* EntireRange */, base, len);
}

static unsigned mem_flags(bool prefetchable)
{
    return 0x01 | (prefetchable ? 0x06 : 0x00); /* ReadWrite; Prefetchable or NonCacheable */
}

void vdev_aml_res_dword_mem(struct vdev_aml *a, uint64_t base, uint64_t len, bool prefetchable)
{
    if (in_crs(a, "DWordMemory"))
        address_space(a, RES_DWORD_ADDR, 4, ADDR_TYPE_MEM, mem_flags(prefetchable), base, len);
}

void vdev_aml_res_qword_mem(struct vdev_aml *a, uint64_t base, uint64_t len, bool prefetchable)
{
    if (in_crs(a, "QWordMemory"))
        address_space(a, RES_QWORD_ADDR, 8, ADDR_TYPE_MEM, mem_flags(prefetchable), base, len);
}

void vdev_aml_res_qword_mem_consumer(struct vdev_aml *a, uint64_t base, uint64_t len,
                                     bool prefetchable)
{
    if (in_crs(a, "QWordMemory"))
        address_space_flags(a, RES_QWORD_ADDR, 8, ADDR_TYPE_MEM, 0x0d, mem_flags(prefetchable),
                            base, len);
}

/* ---- statements ---- */

void vdev_aml_return_int(struct vdev_aml *a, uint64_t value)
{
    if (!in_code(a, "Return"))
        return;
    put8(a, OP_RETURN);
    put_int(a, value);
}

void vdev_aml_notify(struct vdev_aml *a, const char *path, uint64_t value)
{
    if (!in_code(a, "Notify"))
        return;
    put8(a, OP_NOTIFY);
    put_namestring(a, path);
    put_int(a, value);
}

void vdev_aml_if_arg_equal(struct vdev_aml *a, unsigned arg, uint64_t value)
{
    if (!in_code(a, "If"))
        return;
    unsigned nargs = 0;
    for (unsigned i = a->depth; i-- > 0;) {
        if (a->stack[i].kind == F_METHOD) {
            nargs = a->stack[i].nargs;
            break;
        }
    }
    if (arg >= nargs) {
        fail(a, "If (Arg%u == ...): the Method takes %u argument%s", arg, nargs,
             nargs == 1 ? "" : "s");
        return;
    }
    put8(a, OP_IF);
    open_frame(a, F_IF, 0);
    put8(a, OP_LEQUAL);
    put8(a, OP_ARG0 + arg);
    put_int(a, value);
}
