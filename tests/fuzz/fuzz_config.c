/* Any text through the configuration language and then the machine build must end in a
 * config or one clean error: never a crash, a leak or an out-of-bounds access. */
#include <stdlib.h>
#include <string.h>

#include <vdev/vdev.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct vdev_config cfg;
    struct vdev_err err;
    vdev_config_init(&cfg);
    vdev_config_parse_string(&cfg, "fuzz.conf", text, &err);
    vdev_config_free(&cfg);

    /* The same text through a whole (module-less) build: options, loc/intr, the memory map. */
    struct vdev_machine *m = vdev_machine_new(NULL, NULL);
    if (m) {
        vdev_machine_add_pic(m, "ioapic", 24, 0, &err);
        if (vdev_machine_parse_string(m, "fuzz.conf", text, &err) == 0)
            vdev_machine_build(m, &err);
        vdev_machine_free(m);
    }
    free(text);
    return 0;
}
