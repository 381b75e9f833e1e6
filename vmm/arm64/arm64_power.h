/* The arm64 platform's power button, as QEMU virt has it: a PL061 GPIO controller whose pin 3
 * is a gpio-keys KEY_POWER in the device tree. vdevkit presses it on the first SIGINT/SIGTERM
 * (the x86 platform pulses its ACPI power button there); a guest with gpio_keys and a
 * userspace that listens (systemd-logind, acpid's input layer) powers off. No KVM here. */
#ifndef VMM_ARM64_POWER_H
#define VMM_ARM64_POWER_H

#include <stdbool.h>
#include <stdint.h>
#include <vdev/machine.h>

#define ARM64_GPIO_BASE      0x09030000ull
#define ARM64_GPIO_SIZE      0x1000ull
#define ARM64_GPIO_SPI       7u
#define ARM64_POWER_GPIO_PIN 3u
#define ARM64_KEY_POWER      116u /* <linux/input-event-codes.h> KEY_POWER */

/* The PL061 on the machine's bus and its line claimed (before vdev_machine_build). */
int arm64_power_add(struct vdev_machine *m, struct vdev_err *err);
/* Its nodes (pl061@9030000, gpio-keys) in a tree under construction; 0 or a libfdt error. */
int arm64_power_gen_fdt(void *fdt);
/* The button's state: pressed drives pin 3 high, the guest sees an edge (interrupt). */
void arm64_power_set(struct vdev_machine *m, bool pressed);

#endif
