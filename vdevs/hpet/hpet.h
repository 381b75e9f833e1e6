/* hpet internals shared by the device, its ACPI description and the tests (not part of the
 * public module API: nothing outside vdevs/hpet and tests/ includes this). */
#ifndef VDEV_HPET_H
#define VDEV_HPET_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct vdev;
struct vdev_aml;
struct vdev_acpi_tables;

/* ---- Register map (IA-PC HPET 1.0a, 2.3) ---- */
#define HPET_WINDOW     0x400
#define HPET_CAP        0x000 /* General Capabilities and ID */
#define HPET_CFG        0x010 /* General Configuration */
#define HPET_ISR        0x020 /* General Interrupt Status */
#define HPET_COUNTER    0x0f0 /* Main Counter Value */
#define HPET_TN(n)      (0x100 + 0x20 * (n))
#define HPET_TN_CFG     0x00 /* Timer N Configuration and Capabilities */
#define HPET_TN_CMP     0x08 /* Timer N Comparator Value */
#define HPET_TN_FSB     0x10 /* Timer N FSB Interrupt Route (not supported: reads 0) */
#define HPET_TIMERS     3
#define HPET_FS         1000000000000000ull /* femtoseconds per second */
#define HPET_DEFAULT_HZ 100000000ull        /* 10 ns COUNTER_CLK_PERIOD, as QEMU */
#define HPET_MIN_HZ     10000000ull         /* the spec's longest period: 100 ns */
#define HPET_MAX_HZ     1000000000ull
#define HPET_VENDOR     0x8086u

#define HPET_CAP_REV_ID     0x01u
#define HPET_CAP_COUNT_SIZE (1u << 13) /* 64-bit main counter */
#define HPET_CAP_LEG_RT     (1u << 15)
/* The low 32 bits of General Capabilities: also the ACPI table's Event Timer Block ID. */
#define HPET_BLOCK_ID                                                                              \
    (HPET_CAP_REV_ID | (HPET_TIMERS - 1) << 8 | HPET_CAP_COUNT_SIZE | HPET_CAP_LEG_RT |            \
     HPET_VENDOR << 16)

static inline uint32_t hpet_block_id(bool legacy_free)
{
    return legacy_free ? HPET_BLOCK_ID & ~HPET_CAP_LEG_RT : HPET_BLOCK_ID;
}

/* Main-counter ticks in ns nanoseconds at hz (no overflow for any ns and hz here). */
static inline uint64_t hpet_ns_to_ticks(uint64_t hz, int64_t ns)
{
    return (uint64_t)((unsigned __int128)(uint64_t)ns * hz / 1000000000u);
}

#define HPET_CFG_ENABLE 1u
#define HPET_CFG_LEG_RT 2u

#define HPET_TN_INT_TYPE    (1u << 1) /* 1 = level */
#define HPET_TN_INT_ENB     (1u << 2)
#define HPET_TN_PERIODIC    (1u << 3)
#define HPET_TN_PER_CAP     (1u << 4)
#define HPET_TN_SIZE_CAP    (1u << 5)
#define HPET_TN_VAL_SET     (1u << 6)
#define HPET_TN_32BIT       (1u << 8)
#define HPET_TN_ROUTE_SHIFT 9
#define HPET_TN_ROUTE       (31u << HPET_TN_ROUTE_SHIFT)
#define HPET_TN_FSB_EN      (1u << 14)
#define HPET_TN_FSB_CAP     (1u << 15)

/* Legacy replacement routes: timer 0 to ISA IRQ 0, timer 1 to IRQ 8 (lines of "ioapic"). */
#define HPET_LEGACY_LINE0 0
#define HPET_LEGACY_LINE1 8
#define HPET_MAX_LINE     31 /* INT_ROUTE_CNF has 5 bits */

/* ---- Between hpet.c and hpet_acpi.c ---- */

/* Which HPET of the machine this is: 0 for the first (the ACPI table's HPET Number). */
unsigned hpet_number(struct vdev *d);
/* `legacy-free` was given: the ACPI table's block ID says so too. */
bool hpet_legacy_free(struct vdev *d);
int hpet_gen_acpi(struct vdev *d, struct vdev_aml *dsdt);
int hpet_gen_acpi_tables(struct vdev *d, struct vdev_acpi_tables *tables);

/* ---- Test seams (tests/unit/test_hpet.c, tests/fuzz/fuzz_hpet.c) ---- */

/* The host clock an instance reads (default: CLOCK_MONOTONIC). A running counter keeps its
 * value across the change and counts on from the new clock's now. */
typedef void (*hpet_clock_fn)(void *opaque, struct timespec *now);
void hpet_set_clock(struct vdev *d, hpet_clock_fn fn, void *opaque);
/* Runs what the device's timer runs: catches up with the clock, drives the lines, re-arms. */
void hpet_timer_run(struct vdev *d);

#endif
