/* The HPET's ACPI description: Linux finds the block through the "HPET" table (IA-PC HPET
 * 1.0a, 3.2.4) and its char driver through Device (HPET) { _HID PNP0103 } in the DSDT. */
#include <stdio.h>
#include <string.h>
#include <vdev/acpi.h>
#include <vdev/module.h>

#include "hpet.h"

/* The table's body, after the 36-byte header. */
#define BODY_LEN 20
#define MIN_TICK 10000 /* periodic ticks below 100 us coalesce (hpet.c MIN_WAKE_NS) */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int hpet_gen_acpi_tables(struct vdev *d, struct vdev_acpi_tables *tables)
{
    uint8_t body[BODY_LEN] = {0};
    put_le(body, hpet_block_id(hpet_legacy_free(d)), 4); /* Event Timer Block ID */
    /* Base address: a Generic Address Structure in system memory (bit width, offset and
     * access size 0, as QEMU and firmware write it). */
    body[4] = 0; /* address space: system memory */
    put_le(body + 8, vdev_loc(d)->addr, 8);
    body[16] = (uint8_t)hpet_number(d);
    put_le(body + 17, MIN_TICK, 2);
    body[19] = 0; /* page protection: none guaranteed */
    return vdev_acpi_table_add(tables, "HPET", 1, body, sizeof(body), 0);
}

/* Device (HPET) { _HID PNP0103, _UID N, _CRS { Memory32Fixed } }: a second block (unusual)
 * is HPE1, and so on. */
int hpet_gen_acpi(struct vdev *d, struct vdev_aml *dsdt)
{
    unsigned nth = hpet_number(d);
    if (nth > 9)
        return vdev_error(d, vdev_pos(d), NULL, "ACPI: too many HPETs to name");
    char name[8] = "HPET";
    if (nth)
        snprintf(name, sizeof(name), "HPE%u", nth);
    const struct vdev_loc *loc = vdev_loc(d);
    vdev_aml_device_begin(dsdt, name);
    vdev_aml_name_eisaid(dsdt, "_HID", "PNP0103");
    vdev_aml_name_int(dsdt, "_UID", nth);
    vdev_aml_name_begin(dsdt, "_CRS");
    vdev_aml_crs_begin(dsdt);
    if (loc->addr + HPET_WINDOW <= 0x100000000ull)
        vdev_aml_res_mem32(dsdt, loc->addr, HPET_WINDOW);
    else
        vdev_aml_res_qword_mem_consumer(dsdt, loc->addr, HPET_WINDOW, false);
    vdev_aml_crs_end(dsdt);
    vdev_aml_end(dsdt);
    return vdev_aml_error(dsdt) ? -1 : 0;
}
