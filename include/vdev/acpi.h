/* Writing ACPI Machine Language (AML) for the DSDT: what a module's gen_acpi hook calls.
 *
 * A `struct vdev_aml` is a growing buffer with explicit nesting. Every *_begin opens a
 * construct that vdev_aml_end() closes, filling in its PkgLength (and a Package's element
 * count, a Buffer's size, a resource template's end tag). A UART, for example:
 *
 *   vdev_aml_device_begin(a, "COM1");
 *     vdev_aml_name_eisaid(a, "_HID", "PNP0501");
 *     vdev_aml_name_int(a, "_UID", 0);
 *     vdev_aml_name_begin(a, "_CRS");
 *     vdev_aml_crs_begin(a);
 *       vdev_aml_res_io(a, 0x3f8, 8);
 *       vdev_aml_res_irq(a, 4);
 *     vdev_aml_crs_end(a);
 *   vdev_aml_end(a);
 *
 * Names are ACPI NameStrings: an optional '\' (root) or '^'s (parent), then NameSegs
 * separated by '.'. A NameSeg is 1-4 characters from A-Z, 0-9 and '_', not starting with
 * a digit; shorter ones are padded with '_' ("_SB" is "_SB_").
 *
 * Errors are sticky: the first misuse (a bad name, a value out of range, a call in the
 * wrong place) is recorded, every later call does nothing, and vdev_aml_error() returns
 * the message. A hook may therefore make its calls unchecked and return 0: the core
 * reports the builder's error against the device. Nothing ever writes out of bounds.
 */
#ifndef VDEV_ACPI_H
#define VDEV_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vdev/export.h>
#include <vdev/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdev_aml;
struct vdev_machine;

/* Deepest nesting of scopes, devices, methods, Ifs, packages and buffers. */
#define VDEV_AML_MAX_DEPTH 32

/* ---- The builder ---- */

VDEV_API struct vdev_aml *vdev_aml_new(void); /* NULL when out of memory */
VDEV_API void vdev_aml_free(struct vdev_aml *a);
/* The AML so far; NULL (and *len 0) after an error or while a construct is still open
 * (which then becomes the error). */
VDEV_API const uint8_t *vdev_aml_data(struct vdev_aml *a, size_t *len);
/* The first error, or NULL. */
VDEV_API const char *vdev_aml_error(const struct vdev_aml *a);
/* How many constructs are open. */
VDEV_API unsigned vdev_aml_depth(const struct vdev_aml *a);
/* Closes the innermost open construct (a resource template gets its end tag). */
VDEV_API void vdev_aml_end(struct vdev_aml *a);

/* ---- Namespace: at the top level or inside a Scope or Device ---- */

VDEV_API void vdev_aml_scope_begin(struct vdev_aml *a, const char *path);  /* Scope (path) { */
VDEV_API void vdev_aml_device_begin(struct vdev_aml *a, const char *path); /* Device (path) { */
/* Method (path, nargs 0-7, Serialized|NotSerialized) { */
VDEV_API void vdev_aml_method_begin(struct vdev_aml *a, const char *path, unsigned nargs,
                                    bool serialized);
/* Name (path, ...): the next call must give its value (an integer, string, EISA ID,
 * package, buffer or resource template). */
VDEV_API void vdev_aml_name_begin(struct vdev_aml *a, const char *path);
VDEV_API void vdev_aml_name_int(struct vdev_aml *a, const char *path, uint64_t value);
VDEV_API void vdev_aml_name_string(struct vdev_aml *a, const char *path, const char *s);
VDEV_API void vdev_aml_name_eisaid(struct vdev_aml *a, const char *path, const char *id);

/* ---- Data: a Name's value, or an element inside a Package ---- */

VDEV_API void vdev_aml_int(struct vdev_aml *a, uint64_t value);   /* the shortest encoding */
VDEV_API void vdev_aml_string(struct vdev_aml *a, const char *s); /* ASCII 0x01-0x7f */
/* EisaId ("PNP0501"): three letters A-Z and four hex digits, as a compressed DWord. */
VDEV_API void vdev_aml_eisaid(struct vdev_aml *a, const char *id);
VDEV_API void vdev_aml_package_begin(struct vdev_aml *a); /* Package () {: at most 255 elements */
VDEV_API void vdev_aml_buffer_begin(struct vdev_aml *a); /* Buffer () {: fill with vdev_aml_bytes */
/* Raw bytes: the contents of a Buffer, or (at namespace or statement level) AML terms this
 * writer has no helper for; the caller answers for their validity. */
VDEV_API void vdev_aml_bytes(struct vdev_aml *a, const void *data, size_t len);

/* ---- Resource templates: ResourceTemplate () { descriptors } ---- */

VDEV_API void vdev_aml_crs_begin(struct vdev_aml *a);
VDEV_API void vdev_aml_crs_end(struct vdev_aml *a); /* EndTag with checksum; same as vdev_aml_end */
/* IO (Decode16, base, base, 1, len): base + len <= 0x10000, len 1-255. */
VDEV_API void vdev_aml_res_io(struct vdev_aml *a, uint64_t base, uint64_t len);
/* IRQNoFlags () {line}: a legacy ISA interrupt (edge, active-high, exclusive), line 0-15. */
VDEV_API void vdev_aml_res_irq(struct vdev_aml *a, uint32_t line);
/* Interrupt (ResourceConsumer, Level|Edge, ActiveHigh|ActiveLow, Shared|Exclusive) {gsi} */
VDEV_API void vdev_aml_res_interrupt(struct vdev_aml *a, uint32_t gsi, bool level, bool active_high,
                                     bool shared);
/* Memory32Fixed (ReadWrite, base, len): base + len <= 4 GiB, len >= 1. */
VDEV_API void vdev_aml_res_mem32(struct vdev_aml *a, uint64_t base, uint64_t len);
/* Bridge windows (a PCI host bridge's _CRS): ResourceProducer, PosDecode, MinFixed,
 * MaxFixed, ReadWrite; memory is NonCacheable unless prefetchable (Prefetchable). */
VDEV_API void vdev_aml_res_word_bus(struct vdev_aml *a, uint32_t first, uint32_t last); /* <= 255 */
VDEV_API void vdev_aml_res_dword_io(struct vdev_aml *a, uint64_t base, uint64_t len); /* <= 4 GiB */
VDEV_API void vdev_aml_res_dword_mem(struct vdev_aml *a, uint64_t base, uint64_t len,
                                     bool prefetchable);
VDEV_API void vdev_aml_res_qword_mem(struct vdev_aml *a, uint64_t base, uint64_t len,
                                     bool prefetchable);
/* QWordMemory (ResourceConsumer, ...): a device's own 64-bit memory range (shmem's window). */
VDEV_API void vdev_aml_res_qword_mem_consumer(struct vdev_aml *a, uint64_t base, uint64_t len,
                                              bool prefetchable);

/* ---- Statements: inside a Method (or an If in one) ---- */

VDEV_API void vdev_aml_return_int(struct vdev_aml *a, uint64_t value); /* Return (value) */
VDEV_API void vdev_aml_notify(struct vdev_aml *a, const char *path,
                              uint64_t value); /* Notify (path, v) */
/* If (ArgN == value) {: N below the method's argument count; closed by vdev_aml_end. */
VDEV_API void vdev_aml_if_arg_equal(struct vdev_aml *a, unsigned arg, uint64_t value);

/* ---- Encodings, for tests and table writers ---- */

/* Encodes a PkgLength whose value (which counts these bytes too) is `value`: returns
 * 1-4 bytes, or 0 when value > 0x0fffffff. */
VDEV_API size_t vdev_aml_pkglength_encode(uint32_t value, uint8_t out[4]);
/* EISA ID text to its 32-bit value (PNP0501 -> 0x0105d041); -1 if malformed. */
VDEV_API int vdev_aml_eisaid_value(const char *id, uint32_t *value);

/* ---- The machine ---- */

/* Adds Scope (\_SB) { ... } holding every device's gen_acpi nodes, in configuration order.
 * Call after vdev_machine_build, where a Scope may open. Returns 0, or -1 with err naming
 * the device whose hook failed, left constructs open, or misused the builder. */
VDEV_API int vdev_machine_gen_acpi(struct vdev_machine *m, struct vdev_aml *dsdt,
                                   struct vdev_err *err);

/* ---- Whole tables (0.3): a module's gen_acpi_tables hook, the embedder's collection ---- */

struct vdev_acpi_tables; /* what the hook is handed */

/* Adds a table: `signature` is 4 characters from A-Z, 0-9 and '_', not one of those an
 * embedder writes itself (RSDT, XSDT, FACP, FACS, DSDT, APIC, MCFG); `body` is what follows
 * the 36-byte header, at most VDEV_ACPI_TABLE_MAX bytes. The embedder writes the header
 * (length, OEM fields, checksum). flags must be 0. Returns 0, or -1 after reporting why
 * against the device. */
#define VDEV_ACPI_TABLE_MAX 65536
VDEV_API int vdev_acpi_table_add(struct vdev_acpi_tables *t, const char *signature,
                                 uint8_t revision, const void *body, size_t len, unsigned flags);

/* Called once per table, in configuration order; `body` lives only during the call.
 * Returns 0, or -1 with err set (out of room). */
typedef int (*vdev_acpi_table_fn)(void *opaque, const char signature[4], uint8_t revision,
                                  const void *body, size_t len, struct vdev_err *err);
/* Runs every device's gen_acpi_tables hook (after vdev_machine_build) and hands each table
 * to `emit`. flags must be 0. Returns 0, or -1 with err naming the device whose hook failed. */
VDEV_API int vdev_machine_gen_acpi_tables(struct vdev_machine *m, vdev_acpi_table_fn emit,
                                          void *opaque, unsigned flags, struct vdev_err *err);

#ifdef __cplusplus
}
#endif
#endif
