/* An embedder compiled against the baseline headers (abi/baseline-include, the last
 * release's) and linked with today's libvdev.so: it must build a machine from a config
 * string with a module built the same way (vdev-abiold.so), and run it. Its embedder ops
 * table sits right before a guard page, so a library reading past the table's size faults;
 * a second machine hands in a table cut before request_stop (as an embedder built before
 * that hook would), which must count as NULL. Exit 0 on success. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <vdev/pci.h>
#include <vdev/vdev.h>

#include "guard.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "old_embedder:%d: %s failed\n", __LINE__, #c);                         \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static unsigned irqs, stops;

static int set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    irqs += level;
    return 0;
}

static int signal_msi(void *ctx, const struct vdev_msi *msi)
{
    return 0;
}

static void request_stop(void *ctx, int status)
{
    stops++;
}

static void quiet_log(void *ctx, enum vdev_log_level level, const char *who, const char *msg)
{
    if (level <= VDEV_LOG_WARNING)
        fprintf(stderr, "%s: %s\n", who, msg);
}

static uint64_t acc(struct vdev_machine *m, enum vdev_space s, uint64_t addr, unsigned size,
                    bool write, uint64_t v)
{
    vdev_machine_access(m, s, addr, size, write, &v);
    return v;
}

static int run(const struct vdev_embedder_ops *ops, bool has_request_stop)
{
    struct vdev_err err;
    memset(&err, 0, sizeof(err));
    irqs = stops = 0;
    struct vdev_machine *m = vdev_machine_new(ops, NULL);
    CHECK(m);
    struct vdev_pci_host_desc h = {.ecam_base = 0xe0000000,
                                   .buses = 1,
                                   .cf8_ports = true,
                                   .mmio32_base = 0xc0000000,
                                   .mmio32_size = 0x10000000,
                                   .io_base = 0x6000,
                                   .io_size = 0x1000,
                                   .intx_pic = "ioapic",
                                   .intx_lines = {16, 17, 18, 19}};
    if (vdev_machine_add_pic(m, "ioapic", 24, 0, &err) || vdev_machine_add_pci(m, &h, &err) ||
        vdev_machine_add_module_dir(m, OLD_MODULE_DIR) ||
        vdev_machine_parse_string(m, "old.conf",
                                  "ram 16M\n"
                                  "vdev abiold loc io:0x500 intr ioapic:5\n"
                                  "vdev abiold loc pci:0:3\n",
                                  &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "old_embedder: %s (code %d)\n", err.msg, err.code);
        vdev_machine_free(m);
        return 1;
    }
    CHECK(vdev_machine_device_count(m) == 2);

    /* the port window */
    CHECK(acc(m, VDEV_SPACE_IO, 0x500, 1, false, 0) == 0x5a);
    acc(m, VDEV_SPACE_IO, 0x500, 1, true, 1);
    CHECK(irqs == 1);
    acc(m, VDEV_SPACE_IO, 0x500, 1, true, 7);
    CHECK(vdev_machine_stop_status(m) == 7);
    CHECK(stops == (has_request_stop ? 1u : 0u));

    /* the PCI function: turn memory decoding on, read its BAR, reset it */
    uint32_t addr = 0x80000000u | 3u << 11;
    acc(m, VDEV_SPACE_IO, 0xcf8, 4, true, addr);
    CHECK(acc(m, VDEV_SPACE_IO, 0xcfc, 4, false, 0) == 0xab1d1234u);
    acc(m, VDEV_SPACE_IO, 0xcf8, 4, true, addr | 0x10);
    uint64_t bar0 = acc(m, VDEV_SPACE_IO, 0xcfc, 4, false, 0) & ~0xfull;
    CHECK(bar0 >= 0xc0000000 && bar0 < 0xd0000000);
    acc(m, VDEV_SPACE_IO, 0xcf8, 4, true, addr | 0x04);
    acc(m, VDEV_SPACE_IO, 0xcfc, 2, true, 0x2);
    CHECK(acc(m, VDEV_SPACE_MEM, bar0 + 8, 4, false, 0) == 0x0b5e0008);
    vdev_machine_reset(m);
    vdev_machine_free(m);
    return 0;
}

int main(void)
{
    printf("old_embedder: built against vdevkit %d.%d.%d (vdev ABI %d), running %s\n",
           VDEV_VERSION_MAJOR, VDEV_VERSION_MINOR, VDEV_VERSION_PATCH, VDEV_ABI_VERSION,
           vdev_version());
    CHECK(vdev_version_number() >= VDEV_VERSION_NUMBER);

    struct vdev_embedder_ops ops = {.size = sizeof(ops),
                                    .set_irq_line = set_irq_line,
                                    .signal_msi = signal_msi,
                                    .log = quiet_log,
                                    .request_stop = request_stop};
    /* The whole table as the baseline headers define it. */
    if (run(guarded_copy(&ops, sizeof(ops)), true))
        return 1;
    /* An embedder built before request_stop existed: its table ends where that hook would
     * be, which is on the guard page; the library must take the hook as NULL. */
    ops.size = offsetof(struct vdev_embedder_ops, request_stop);
    if (run(guarded_copy(&ops, ops.size), false))
        return 1;
    printf("old_embedder: both machines ran\n");
    return 0;
}
