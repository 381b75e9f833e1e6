/* The ACPI hardware-reduced power registers: sleep control/status and reset, in I/O space
 * at X86_PM_PORT. The FADT points Linux at them (acpi_tables.c). */
#ifndef VMM_ACPI_PM_H
#define VMM_ACPI_PM_H

#include <vdev/vdev.h>

enum x86_pm_event { X86_PM_POWEROFF, X86_PM_RESET };

#define X86_PM_SLEEP_CONTROL 0 /* offset: write SLP_TYP (bits 4:2) | SLP_EN (bit 5) */
#define X86_PM_SLEEP_STATUS  1 /* offset: reads 0 */
#define X86_PM_RESET         4 /* offset: write X86_PM_RESET_VALUE to reset */
#define X86_PM_RESET_VALUE   0x1
#define X86_PM_S5_TYPE       5 /* the SLP_TYP our _S5_ package names */

/* Adds the registers to the machine's I/O map; `on_event` runs on the vCPU thread. */
int x86_pm_add(struct vdev_machine *m, void (*on_event)(void *arg, enum x86_pm_event ev), void *arg,
               struct vdev_err *err);

#endif
