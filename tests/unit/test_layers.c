/* How transports reach the core (core/transport_api.h): the virtio transports registered at
 * library load by location kind, and a bus provider the machine drives through its hooks
 * alone (a fake bus here, standing where the PCI host bridge would). */
#include <check.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vdev/acpi.h>
#include <vdev/fdt.h>
#include <vdev/pci.h>

#include "../../core/transport_api.h"
#include "fake_embedder.h"

/* ---- virtio transports ---- */

static int no_create(struct vdev *d, struct vdev_virtio *vio, struct vdev_err *err)
{
    return vdev_err_set(err, "not a transport");
}

START_TEST(virtio_transports_by_location_kind)
{
    const struct vdev_virtio_transport *pci = vdev_virtio_transport_find(VDEV_LOC_PCI);
    const struct vdev_virtio_transport *mem = vdev_virtio_transport_find(VDEV_LOC_MEM);
    ck_assert_ptr_nonnull(pci);
    ck_assert_ptr_nonnull(mem);
    ck_assert_str_eq(pci->name, "virtio-pci");
    ck_assert_str_eq(mem->name, "virtio-mmio");
    ck_assert_uint_eq(pci->window_size, 0);
    ck_assert_uint_eq(mem->window_size, 0x200);
    ck_assert_ptr_null(vdev_virtio_transport_find(VDEV_LOC_IO));
    ck_assert_ptr_null(vdev_virtio_transport_find(VDEV_LOC_NONE));

    /* One per kind; a record from another ABI (size) or without create is refused. */
    static const struct vdev_virtio_transport again = {
        .size = sizeof(again), .name = "again", .kind = VDEV_LOC_PCI, .create = no_create};
    static const struct vdev_virtio_transport small = {
        .size = 1, .name = "small", .kind = VDEV_LOC_IO, .create = no_create};
    static const struct vdev_virtio_transport none = {
        .size = sizeof(none), .name = "none", .kind = VDEV_LOC_IO};
    ck_assert_int_eq(vdev_virtio_transport_register(&again), -1);
    ck_assert_int_eq(vdev_virtio_transport_register(&small), -1);
    ck_assert_int_eq(vdev_virtio_transport_register(&none), -1);
    ck_assert_int_eq(vdev_virtio_transport_register(NULL), -1);
    ck_assert_ptr_eq(vdev_virtio_transport_find(VDEV_LOC_PCI), pci);
    ck_assert_ptr_null(vdev_virtio_transport_find(VDEV_LOC_IO));
}
END_TEST

/* ---- a bus provider ---- */

struct fake_bus {
    char calls[512];
    unsigned next_dev;
};

__attribute__((format(printf, 2, 3))) static void called(struct fake_bus *b, const char *fmt, ...)
{
    size_t used = strlen(b->calls);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->calls + used, sizeof(b->calls) - used, fmt, ap);
    va_end(ap);
}

static int bus_claim(void *bus, const struct vdev_loc *loc, const char *owner, struct vdev_err *err)
{
    called(bus, "claim %u:%u %s;", loc->bus, loc->dev, owner);
    return loc->dev == 9 ? vdev_err_set(err, "slot 9 is broken") : 0;
}

static int bus_reserve(void *bus, const struct vdev_loc *loc, unsigned line, struct vdev_err *err)
{
    called(bus, "reserve %u:%u line %u;", loc->bus, loc->dev, line);
    return 0;
}

static int bus_alloc(void *bus, struct vdev_loc *loc, const char *owner, struct vdev_err *err)
{
    struct fake_bus *b = bus;
    memset(loc, 0, sizeof(*loc));
    loc->kind = VDEV_LOC_PCI;
    loc->dev = (uint8_t)b->next_dev++;
    called(b, "alloc %u %s;", loc->dev, owner);
    return 0;
}

static size_t bus_windows(void *bus, struct vdev_bus_window *out, size_t max)
{
    if (max < 1)
        return 0;
    out[0] = (struct vdev_bus_window){"the fake window", 0xc0000000, 0x1000000};
    return 1;
}

static int bus_assign(void *bus, struct vdev_err *err)
{
    called(bus, "assign;");
    return 0;
}

static void bus_reset(void *bus)
{
    called(bus, "reset;");
}

static void bus_print(void *bus, FILE *out)
{
    fprintf(out, "fake bus here\n");
}

static void bus_gen_acpi(void *bus, struct vdev_aml *dsdt)
{
    called(bus, "acpi;");
    vdev_aml_device_begin(dsdt, "FAKE");
    vdev_aml_end(dsdt);
}

static struct fake_bus *destroyed;

static void bus_destroy(void *bus)
{
    destroyed = bus;
}

static const struct vdev_bus_provider fake_provider = {
    .size = sizeof(struct vdev_bus_provider),
    .name = "fake bus",
    .kind = VDEV_LOC_PCI,
    .claim = bus_claim,
    .reserve = bus_reserve,
    .alloc = bus_alloc,
    .mem_windows = bus_windows,
    .assign = bus_assign,
    .reset = bus_reset,
    .print = bus_print,
    .gen_acpi = bus_gen_acpi,
    .destroy = bus_destroy,
};

static uint64_t rider_read(struct vdev *d, uint64_t offset, unsigned size)
{
    return 0;
}

/* A type that sits on the bus or in memory and does nothing. */
static const struct vdev_type rider_type = {
    .abi_version = VDEV_ABI_VERSION,
    .type_size = sizeof(struct vdev_type),
    .name = "rider",
    .summary = "sits on the fake bus",
    .places = VDEV_PLACE_PCI | VDEV_PLACE_MEM,
    .window_size = 0x10,
    .window = {.read = rider_read, .sizes = 0xf},
    .has_intr = true,
    .intr_optional = true,
};

static struct fake_embedder fe;
static struct fake_bus fb;
static struct vdev_err err;

static void setup(void)
{
    struct vdev_err e;
    if (vdev_register_type(&rider_type, &e))
        ck_abort_msg("%s", e.msg);
    memset(&fb, 0, sizeof(fb));
    fb.next_dev = 3;
    destroyed = NULL;
    memset(&err, 0, sizeof(err));
    fake_machine_new(&fe);
    ck_assert_int_eq(vdev_machine_add_bus_provider(fe.m, &fake_provider, &fb, &err), 0);
}

static void teardown(void)
{
    fake_machine_free(&fe);
    ck_assert_ptr_eq(destroyed, &fb); /* the machine destroys its bus */
}

START_TEST(machine_drives_the_bus_through_its_hooks)
{
    ck_assert_ptr_eq(vdev_machine_bus_provider(fe.m, &fake_provider), &fb);
    ck_assert_int_eq(vdev_machine_add_bus_provider(fe.m, &fake_provider, &fb, &err), -1);
    ck_assert_str_eq(err.msg, "fake bus: the machine already has a bus for its locations");
    /* The PCI host bridge is a provider of the same kind: refused as well. */
    struct vdev_pci_host_desc pci = {.ecam_base = 0xe0000000,
                                     .buses = 1,
                                     .mmio32_base = 0xc0000000,
                                     .mmio32_size = 0x1000000,
                                     .intx_pic = "ioapic",
                                     .intx_lines = {16, 17, 18, 19}};
    ck_assert_int_eq(vdev_machine_add_pci(fe.m, &pci, &err), -1);
    ck_assert_ptr_eq(vdev_machine_bus_provider(fe.m, &fake_provider), &fb);

    ck_assert_int_eq(fake_machine_build_string(&fe,
                                               "ram 1M\nreserve loc pci:0:7\nvdev rider\n"
                                               "vdev rider loc pci:0:5\n",
                                               &err),
                     0);
    ck_assert_str_eq(fb.calls, "reserve 0:7 line 2;claim 0:5 rider #2;alloc 3 rider #1;assign;");
    ck_assert_int_eq(vdev_loc(vdev_machine_device(fe.m, 0))->dev, 3);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    vdev_machine_print(fe.m, out);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "fake bus here\ndevices: 2\n"));
    free(text);

    fb.calls[0] = '\0';
    struct vdev_aml *dsdt = vdev_aml_new();
    ck_assert_int_eq(vdev_machine_gen_acpi(fe.m, dsdt, &err), 0);
    vdev_aml_free(dsdt);
    vdev_machine_reset(fe.m);
    ck_assert_str_eq(fb.calls, "acpi;reset;");
    ck_assert_int_eq(vdev_machine_add_bus_provider(fe.m, &fake_provider, &fb, &err), -1);
}
END_TEST

START_TEST(bus_errors_reach_the_configuration_line)
{
    ck_assert_int_eq(fake_machine_build_string(&fe, "ram 1M\nvdev rider loc pci:0:9\n", &err), -1);
    ck_assert_msg(strstr(err.msg, ":2:") && strstr(err.msg, "rider: slot 9 is broken"), "%s",
                  err.msg);
}
END_TEST

START_TEST(memory_placement_stays_out_of_bus_windows)
{
    ck_assert_int_eq(
        fake_machine_build_string(&fe, "ram 1M\nvdev rider loc 0xc0000800 intr ioapic:5\n", &err),
        -1);
    ck_assert_msg(strstr(err.msg, "overlaps the fake window 0xc0000000-0xc0ffffff"), "%s", err.msg);
}
END_TEST

/* A transport's firmware node that fails names the device and the transport. */
static int failing_transport_fdt(struct vdev *d, void *fdt, int parent, void *opaque)
{
    (void)d, (void)fdt, (void)parent, (void)opaque;
    return -FDT_ERR_BADVALUE;
}

START_TEST(transport_node_errors_name_the_device)
{
    ck_assert_int_eq(
        fake_machine_build_string(&fe, "ram 1M\nvdev rider loc 0x20000000 intr ioapic:5\n", &err),
        0);
    struct vdev *d = vdev_machine_device(fe.m, 0);
    vdev_set_transport_nodes(d, &(struct vdev_transport_nodes){.gen_fdt = failing_transport_fdt});
    static const uint64_t ioapic_reg[2] = {0xfec00000, 0x1000};
    struct vdev_fdt_platform p = {.compatible = "vdevkit,x86",
                                  .model = "test",
                                  .intc = {.name = "interrupt-controller@fec00000",
                                           .compatible = "intel,ce4100-ioapic",
                                           .reg = ioapic_reg,
                                           .nreg = 1,
                                           .interrupt_cells = 2}};
    static uint8_t fdt[0x10000];
    ck_assert_int_eq(vdev_machine_gen_fdt(fe.m, &p, fdt, sizeof(fdt), &err), -1);
    ck_assert_msg(strstr(err.msg, "vdev rider: FDT: transport node: "), "%s", err.msg);
}
END_TEST

START_TEST(provider_checks)
{
    struct vdev_bus_provider no_alloc = fake_provider;
    no_alloc.alloc = NULL;
    no_alloc.kind = VDEV_LOC_MEM;
    ck_assert_int_eq(vdev_machine_add_bus_provider(fe.m, &no_alloc, &fb, &err), -1);
    ck_assert_ptr_null(vdev_machine_bus_provider(fe.m, &no_alloc));
    ck_assert_ptr_null(vdev_machine_bus_provider(NULL, &fake_provider));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("virtio transports");
    tcase_add_test(tc, virtio_transports_by_location_kind);
    suite_add_tcase(s, tc);
    tc = tcase_create("bus provider");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, machine_drives_the_bus_through_its_hooks);
    tcase_add_test(tc, bus_errors_reach_the_configuration_line);
    tcase_add_test(tc, memory_placement_stays_out_of_bus_windows);
    tcase_add_test(tc, provider_checks);
    tcase_add_test(tc, transport_node_errors_name_the_device);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
