/* pl011: the device-tree node Linux's amba-pl011 driver binds to, and the fixed clock it
 * names (one at the root, shared by every PL011 of the machine). */
#include <libfdt.h>
#include <stdio.h>
#include <string.h>
#include <vdev/fdt.h>

#include "pl011.h"

#define CLOCK_NODE "apb-pclk" /* QEMU virt's name for the same clock */
#define CLOCK_HZ   24000000

/* The phandle of the clock node an earlier PL011 made (*exists true), or of the one to make:
 * the largest phandle in the tree plus one. 0 after vdev_error. */
static uint32_t clock_phandle(struct vdev *d, void *fdt, bool *exists)
{
    int clk = fdt_subnode_offset(fdt, 0, CLOCK_NODE);
    *exists = clk >= 0;
    if (clk >= 0) {
        uint32_t ph = fdt_get_phandle(fdt, clk);
        if (fdt_node_check_compatible(fdt, clk, "fixed-clock") != 0 || ph == 0) {
            vdev_error(d, vdev_pos(d), NULL, "FDT: /%s exists and is not a fixed clock",
                       CLOCK_NODE);
            return 0;
        }
        return ph;
    }
    uint32_t max = 0;
    if (fdt_find_max_phandle(fdt, &max) < 0 || max >= 0xfffffffeu) {
        vdev_error(d, vdev_pos(d), NULL, "FDT: no phandle left for /%s", CLOCK_NODE);
        return 0;
    }
    return max + 1;
}

/* /apb-pclk { compatible "fixed-clock"; #clock-cells 0; 24 MHz; clk24mhz; phandle }. */
static int add_clock(void *fdt, uint32_t phandle)
{
    int clk = fdt_add_subnode(fdt, 0, CLOCK_NODE);
    if (clk < 0)
        return clk;
    int rc = fdt_setprop_string(fdt, clk, "compatible", "fixed-clock");
    if (!rc)
        rc = fdt_setprop_u32(fdt, clk, "#clock-cells", 0);
    if (!rc)
        rc = fdt_setprop_u32(fdt, clk, "clock-frequency", CLOCK_HZ);
    if (!rc)
        rc = fdt_setprop_string(fdt, clk, "clock-output-names", "clk24mhz");
    if (!rc)
        rc = fdt_setprop_u32(fdt, clk, "phandle", phandle);
    return rc;
}

/* pl011@ADDR { compatible "arm,pl011", "arm,primecell"; reg; interrupts (level); clocks
 * <&clk &clk>; clock-names "uartclk", "apb_pclk" }. The UART's node is written before the
 * clock's: the core takes the first node a device writes for /chosen stdout-path. */
int pl011_gen_fdt(struct vdev *d, void *fdt, int parent)
{
    bool have_clock;
    uint32_t ph = clock_phandle(d, fdt, &have_clock);
    if (!ph)
        return -1;
    const struct vdev_loc *loc = vdev_loc(d);
    char name[32];
    snprintf(name, sizeof(name), "pl011@%llx", (unsigned long long)loc->addr);
    int node = fdt_add_subnode(fdt, parent, name);
    if (node < 0)
        return node;
    static const char compatible[] = "arm,pl011\0arm,primecell";
    static const char clock_names[] = "uartclk\0apb_pclk";
    fdt64_t reg[2] = {cpu_to_fdt64(loc->addr), cpu_to_fdt64(PL011_WINDOW)};
    fdt32_t clocks[2] = {cpu_to_fdt32(ph), cpu_to_fdt32(ph)};
    int rc = fdt_setprop(fdt, node, "compatible", compatible, sizeof(compatible));
    if (!rc)
        rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
    if (!rc)
        rc = vdev_fdt_set_interrupt(d, fdt, node, true);
    if (!rc)
        rc = fdt_setprop(fdt, node, "clocks", clocks, sizeof(clocks));
    if (!rc)
        rc = fdt_setprop(fdt, node, "clock-names", clock_names, sizeof(clock_names));
    if (!rc && !have_clock)
        rc = add_clock(fdt, ph);
    return rc;
}
