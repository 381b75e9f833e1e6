/* The smallest embedder: a machine with one interrupt controller, guest RAM from malloc,
 * a configuration, and a fake "guest" that talks to testdev through port I/O dispatch.
 * A real VMM does the same with KVM exits (see vmm/). docs/embedding.md walks through it. */
#include <stdio.h>
#include <stdlib.h>

#include <vdev/vdev.h>

static int set_irq_line(void *ctx, uint32_t gsi, bool level)
{
    (void)ctx;
    printf("irq: GSI %u -> %d\n", gsi, level);
    return 0;
}

static void request_stop(void *ctx, int status)
{
    (void)ctx;
    printf("stop requested: %d\n", status);
}

static void back_ram(const struct vdev_region_info *r, void *arg)
{
    if (r->kind == VDEV_REGION_RAM)
        vdev_region_set_host(vdev_bus_find(arg, r->space, r->base), calloc(1, r->size));
}

int main(void)
{
    static const struct vdev_embedder_ops ops = {.size = sizeof(struct vdev_embedder_ops),
                                                 .set_irq_line = set_irq_line,
                                                 .request_stop = request_stop};
    struct vdev_err err;
    struct vdev_machine *m = vdev_machine_new(&ops, NULL);
    if (!m || vdev_machine_add_pic(m, "ioapic", 24, 0, &err) ||
        vdev_machine_parse_string(m, "minimal.conf", "ram 16M vdev testdev", &err) ||
        vdev_machine_build(m, &err)) {
        fprintf(stderr, "%s\n", m ? err.msg : "out of memory");
        return 2;
    }
    vdev_bus_foreach(vdev_machine_bus(m), VDEV_SPACE_MEM, back_ram, vdev_machine_bus(m));

    /* What a vCPU exit handler does: dispatch each port write. */
    for (const char *s = "hello from the guest\n"; *s; s++) {
        uint64_t v = (uint8_t)*s;
        vdev_machine_access(m, VDEV_SPACE_IO, 0xf5, 1, true, &v);
    }
    uint64_t status = 7;
    vdev_machine_access(m, VDEV_SPACE_IO, 0xf4, 1, true, &status);
    fflush(stdout);
    int rc = vdev_machine_stop_status(m);
    vdev_machine_free(m);
    return rc == 7 ? 0 : 1;
}
