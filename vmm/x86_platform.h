/* The x86 platform the reference VMM emulates (with KVM's in-kernel irqchip). */
#ifndef VMM_X86_PLATFORM_H
#define VMM_X86_PLATFORM_H

#include <vdev/vdev.h>

#define X86_IOAPIC_BASE 0xfec00000u
#define X86_IOAPIC_LINES 24
#define X86_LAPIC_BASE 0xfee00000u

/* Registers the interrupt controllers and platform windows with the machine. */
int x86_platform_describe(struct vdev_machine *m, struct vdev_err *err);

#endif
