/* The PL061 GPIO controller (ARM DDI 0190) behind the power button: eight pins, pin 3 an
 * input wired to the button, the others read 0 unless the guest drives them as outputs.
 * Interrupts per pin: edge (one or both) or level sensing, masked by GPIOIE; one
 * level-triggered SPI while any masked status bit is set. Linux's gpio-pl061 and gpio-keys
 * (IRQ_TYPE_EDGE_BOTH) drive it; the PrimeCell ID registers let the AMBA bus match it. */
#include "arm64_power.h"

#include <libfdt.h>
#include <pthread.h>
#include <string.h>
#include <vdev/bus.h>

#include "arm64_platform.h"

enum {
    GPIODATA_END = 0x400, /* 0x000-0x3fc: data, address bits 9:2 mask the pins touched */
    GPIODIR = 0x400,
    GPIOIS = 0x404,  /* 1: level sensing */
    GPIOIBE = 0x408, /* 1: both edges */
    GPIOIEV = 0x40c, /* 1: rising edge / high level */
    GPIOIE = 0x410,
    GPIORIS = 0x414,
    GPIOMIS = 0x418,
    GPIOIC = 0x41c,
    GPIOAFSEL = 0x420,
    GPIO_ID = 0xfe0, /* PeriphID0-3, PCellID0-3 */
};

static const uint8_t pl061_id[8] = {0x61, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1};

struct pl061 {
    pthread_mutex_t lock;
    struct vdev_machine *m;
    uint8_t out, dir, is, ibe, iev, ie, ris, afsel;
    uint8_t in; /* the input pins' levels (the button) */
    bool line;  /* the SPI as last driven */
};

/* One per process, like the machine the VMM runs. */
static struct pl061 gpio = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint8_t pins(const struct pl061 *g)
{
    return (uint8_t)((g->out & g->dir) | (g->in & ~g->dir));
}

/* Level-sensed pins follow their level; then the line follows GPIOMIS. Lock held. */
static void update(struct pl061 *g)
{
    uint8_t p = pins(g);
    uint8_t high = (uint8_t)(p & g->iev), low = (uint8_t)(~p & ~g->iev);
    g->ris = (uint8_t)((g->ris & ~g->is) | (g->is & (high | low)));
    bool want = (g->ris & g->ie) != 0;
    if (want != g->line) {
        g->line = want;
        vdev_machine_set_gsi(g->m, ARM64_SPI_BASE + ARM64_GPIO_SPI, want);
    }
}

/* Pins that went from `before` to now latch their edge status. Lock held. */
static void edges(struct pl061 *g, uint8_t before)
{
    uint8_t now = pins(g), changed = (uint8_t)(before ^ now);
    uint8_t rising = (uint8_t)(changed & now), falling = (uint8_t)(changed & ~now);
    uint8_t hit =
        (uint8_t)((changed & g->ibe) | (~g->ibe & ((rising & g->iev) | (falling & ~g->iev))));
    g->ris |= (uint8_t)(hit & ~g->is);
    update(g);
}

static uint64_t gpio_read(void *opaque, uint64_t off, unsigned size)
{
    struct pl061 *g = opaque;
    (void)size;
    uint64_t v = 0;
    pthread_mutex_lock(&g->lock);
    if (off < GPIODATA_END)
        v = pins(g) & (off >> 2);
    else if (off >= GPIO_ID && off < GPIO_ID + 32 && (off & 3) == 0)
        v = pl061_id[(off - GPIO_ID) / 4];
    else
        switch (off) {
        case GPIODIR:
            v = g->dir;
            break;
        case GPIOIS:
            v = g->is;
            break;
        case GPIOIBE:
            v = g->ibe;
            break;
        case GPIOIEV:
            v = g->iev;
            break;
        case GPIOIE:
            v = g->ie;
            break;
        case GPIORIS:
            v = g->ris;
            break;
        case GPIOMIS:
            v = g->ris & g->ie;
            break;
        case GPIOAFSEL:
            v = g->afsel;
            break;
        default:
            break; /* reserved: reads as zero */
        }
    pthread_mutex_unlock(&g->lock);
    return v;
}

static void gpio_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct pl061 *g = opaque;
    (void)size;
    uint8_t b = (uint8_t)v;
    pthread_mutex_lock(&g->lock);
    uint8_t before = pins(g);
    if (off < GPIODATA_END) {
        uint8_t mask = (uint8_t)(off >> 2);
        g->out = (uint8_t)((g->out & ~mask) | (b & mask));
    } else {
        switch (off) {
        case GPIODIR:
            g->dir = b;
            break;
        case GPIOIS:
            g->is = b;
            break;
        case GPIOIBE:
            g->ibe = b;
            break;
        case GPIOIEV:
            g->iev = b;
            break;
        case GPIOIE:
            g->ie = b;
            break;
        case GPIOIC:
            g->ris &= (uint8_t) ~(b & ~g->is);
            break; /* level status is not latched */
        case GPIOAFSEL:
            g->afsel = b;
            break;
        default:
            break; /* read-only or reserved: ignored */
        }
    }
    edges(g, before);
    pthread_mutex_unlock(&g->lock);
}

static const struct vdev_region_ops gpio_ops = {sizeof(struct vdev_region_ops), gpio_read,
                                                gpio_write, 0x7};

int arm64_power_add(struct vdev_machine *m, struct vdev_err *err)
{
    pthread_mutex_lock(&gpio.lock);
    gpio.m = m;
    gpio.out = gpio.dir = gpio.is = gpio.ibe = gpio.iev = gpio.ie = gpio.ris = gpio.afsel = 0;
    gpio.in = 0;
    gpio.line = false;
    pthread_mutex_unlock(&gpio.lock);
    struct vdev_region_desc desc = {.owner = "pl061 gpio, power button (platform)",
                                    .space = VDEV_SPACE_MEM,
                                    .kind = VDEV_REGION_DEVICE,
                                    .base = ARM64_GPIO_BASE,
                                    .size = ARM64_GPIO_SIZE,
                                    .ops = &gpio_ops,
                                    .opaque = &gpio};
    return vdev_machine_reserve_line(m, ARM64_GIC_NAME, ARM64_GPIO_SPI, "power button (platform)",
                                     err) ||
           vdev_bus_add(vdev_machine_bus(m), &desc, NULL, err);
}

void arm64_power_set(struct vdev_machine *m, bool pressed)
{
    (void)m;
    pthread_mutex_lock(&gpio.lock);
    uint8_t before = pins(&gpio);
    const uint8_t bit = 1u << ARM64_POWER_GPIO_PIN;
    gpio.in = (uint8_t)(pressed ? gpio.in | bit : gpio.in & ~bit);
    edges(&gpio, before);
    pthread_mutex_unlock(&gpio.lock);
}

/* The AMBA bus wants a clock for apb_pclk: the tree's fixed 24 MHz one (a pl011 may have made
 * it already), else a new one. Returns its phandle, or a negative libfdt error. */
static int apb_clock(void *fdt)
{
    int node = fdt_node_offset_by_compatible(fdt, -1, "fixed-clock");
    if (node >= 0) {
        uint32_t ph = fdt_get_phandle(fdt, node);
        if (ph)
            return (int)ph;
    }
    uint32_t ph;
    int rc = fdt_find_max_phandle(fdt, &ph);
    if (rc)
        return rc;
    ph++;
    node = fdt_add_subnode(fdt, 0, "apb-pclk");
    if (node < 0)
        return node;
    if ((rc = fdt_setprop_string(fdt, node, "compatible", "fixed-clock")) ||
        (rc = fdt_setprop_u32(fdt, node, "#clock-cells", 0)) ||
        (rc = fdt_setprop_u32(fdt, node, "clock-frequency", 24000000)) ||
        (rc = fdt_setprop_string(fdt, node, "clock-output-names", "clk24mhz")) ||
        (rc = fdt_setprop_u32(fdt, node, "phandle", ph)))
        return rc;
    return (int)ph;
}

int arm64_power_gen_fdt(void *fdt)
{
    int clk = apb_clock(fdt);
    if (clk < 0)
        return clk;
    uint32_t gic = 0, gpio_ph;
    int intc = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
    if (intc >= 0)
        gic = fdt_get_phandle(fdt, intc);
    int rc = fdt_find_max_phandle(fdt, &gpio_ph);
    if (rc)
        return rc;
    gpio_ph++;
    char name[32];
    snprintf(name, sizeof(name), "pl061@%llx", (unsigned long long)ARM64_GPIO_BASE);
    int node = fdt_add_subnode(fdt, 0, name);
    if (node < 0)
        return node;
    static const char compat[] = "arm,pl061\0arm,primecell";
    const fdt64_t reg[2] = {cpu_to_fdt64(ARM64_GPIO_BASE), cpu_to_fdt64(ARM64_GPIO_SIZE)};
    const fdt32_t irq[3] = {0, cpu_to_fdt32(ARM64_GPIO_SPI), cpu_to_fdt32(4)}; /* level high */
    if ((rc = fdt_setprop(fdt, node, "compatible", compat, sizeof(compat))) ||
        (rc = fdt_setprop(fdt, node, "reg", reg, sizeof(reg))) ||
        (gic && (rc = fdt_setprop_u32(fdt, node, "interrupt-parent", gic))) ||
        (rc = fdt_setprop(fdt, node, "interrupts", irq, sizeof(irq))) ||
        (rc = fdt_setprop_empty(fdt, node, "gpio-controller")) ||
        (rc = fdt_setprop_u32(fdt, node, "#gpio-cells", 2)) ||
        (rc = fdt_setprop_u32(fdt, node, "clocks", (uint32_t)clk)) ||
        (rc = fdt_setprop_string(fdt, node, "clock-names", "apb_pclk")) ||
        (rc = fdt_setprop_u32(fdt, node, "phandle", gpio_ph)))
        return rc;
    int keys = fdt_add_subnode(fdt, 0, "gpio-keys");
    if (keys < 0)
        return keys;
    if ((rc = fdt_setprop_string(fdt, keys, "compatible", "gpio-keys")))
        return rc;
    int key = fdt_add_subnode(fdt, keys, "poweroff");
    if (key < 0)
        return key;
    const fdt32_t gpios[3] = {cpu_to_fdt32(gpio_ph), cpu_to_fdt32(ARM64_POWER_GPIO_PIN), 0};
    if ((rc = fdt_setprop_string(fdt, key, "label", "GPIO Key Poweroff")) ||
        (rc = fdt_setprop_u32(fdt, key, "linux,code", ARM64_KEY_POWER)) ||
        (rc = fdt_setprop(fdt, key, "gpios", gpios, sizeof(gpios))))
        return rc;
    return 0;
}
