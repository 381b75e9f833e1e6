/* pair_soak (pair test, issue 13 item 4): the survivor A keeps a virtio-net NIC linked to B's
 * and a `vdev shmem` region ("soak", created by A's `create`) that B attaches, while the runner
 * SIGKILLs B's VMM and starts it again SOAK_CYCLES times (pair_soak.peer.conf: "tiny-peer-runs"
 * is SOAK_CYCLES + 1, "tiny-peer-kill-on", "tiny-peer-restart-on", "tiny-peer-sample-main").
 *
 * Every run of B: its NIC and shmem device come up (both MSI-X), it attaches "soak" with
 * `find` and notifies A; A sees B's attach bit set (interrupt) and the notification, notifies
 * B back; A then sends hellos until one is echoed, and a 60-byte and a 1514-byte data frame
 * that must come back intact (frames both ways after every restart). Then A asks B to wait
 * (B echoes and says "waiting to be killed"), the runner samples A's VMM (RSS, open fds) and
 * kills B. A must see LINK_UP
 * clear with a configuration interrupt and B's attach bit clear with a shmem interrupt, then
 * prints "pair_soak: A: peer N gone", which lets the runner start run N + 1, whose link must
 * come up with another configuration interrupt. The last run ends with "bye" (status 0) and A
 * sees its VM end as a detach. Any wait that times out fails A (RT_CHECK, rt_wait bounds). */
#include "net_pair.h"
#include "rt.h"
#include "shmem_drv.h"

#define SOAK_CYCLES   100
#define NET_BAR       0xc8000000u
#define VEC_SHM       0x60
#define REGION        "soak"
#define REGION_PAGES  16 /* A's `create soak,0x10000` */
#define FIND_TRIES    200
#define FIND_PAUSE    50000000ull /* TSC ticks between tries */
#define ROUNDS_LINK   3           /* net_wait_*: about 3 RT_HANG_TICKS */
#define SEQ_PER_CYCLE 16
#define VEC_TICK      0x61
#define TICK_COUNT    312500 /* LAPIC timer counts: 5 ms (62500 = 1 ms, see rt.h) */
#define NET_S_LINK_UP 1

static struct net_dev n;
static struct shm_dev d;
static struct shm_region r;

static void attach(bool find)
{
    unsigned st = shm_attach(&d, REGION, 1, find, &r);
    for (unsigned i = 0; find && st == SHM_ST_DOES_NOT_EXIST && i < FIND_TRIES; i++) {
        rt_delay(FIND_PAUSE);
        st = shm_attach(&d, REGION, 1, true, &r);
    }
    if (st != SHM_ST_OK)
        rt_printf("pair_soak: attaching %s: status %u\n", REGION, st);
    RT_CHECK(st == SHM_ST_OK);
    RT_CHECK(r.pages == REGION_PAGES);
    uint32_t s = shm_read_status(&r); /* before the handler owns it */
    r.attached = s >> 16;
    RT_CHECK(r.idx < 16 && (s >> 16 & 1u << r.idx));
    shm_irq_add(&r);
    RT_CHECK(shm_irq_setup(&d, VEC_SHM, true));
}

/* The waits below halt the vCPU between interrupts instead of spinning, leaving the outer
 * machine's CPUs to the VMMs' threads, the other VM and the runner (a spinning survivor made
 * each restart cycle several times slower); the periodic tick (VEC_TICK) bounds every halt,
 * so the TSC deadlines still hold. */
static void tick_start(void)
{
    rt_on_irq(VEC_TICK, NULL);
    rt_timer_start(VEC_TICK, TICK_COUNT, true);
}

/* Halts until an interrupt changes *counter from `seen` (or a tick). */
static void idle(volatile uint32_t *counter, uint32_t seen)
{
    rt_halt_while(counter, seen);
}

/* Waits until another client shows in the attach bitmap (the interrupt handler's reading);
 * returns its idx, 16 on timeout. */
static unsigned wait_other(void)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t irqs = shm_irqs;
        uint32_t others = __atomic_load_n(&r.attached, __ATOMIC_SEQ_CST) & ~(1u << r.idx);
        if (others)
            return (unsigned)__builtin_ctz(others);
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return 16;
        idle(&shm_irqs, irqs);
    }
}

/* Until (attach bitmap & mask) == want; false on timeout. */
static bool wait_attached(uint32_t mask, uint32_t want)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t irqs = shm_irqs;
        if ((__atomic_load_n(&r.attached, __ATOMIC_SEQ_CST) & mask) == want)
            return true;
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return false;
        idle(&shm_irqs, irqs);
    }
}

/* Until a notification from one of `bits`; takes and returns the pending bits, 0 on timeout. */
static uint32_t wait_notify(uint32_t bits)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t irqs = shm_irqs;
        if (__atomic_load_n(&r.pending, __ATOMIC_SEQ_CST) & bits)
            return shm_take_pending(&r);
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            return 0;
        idle(&shm_irqs, irqs);
    }
}

/* net_wait_config_irq, halting: a configuration interrupt beyond `seen` whose handler read
 * LINK_UP == up; returns the interrupt count by then, 0 on timeout. */
static uint32_t wait_config(uint32_t seen, bool up)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t now = net_config_irqs;
        for (; seen < now; seen++)
            if (((net_config_status[seen % 16] & NET_S_LINK_UP) != 0) == up)
                return seen + 1;
        if (rt_rdtsc() - t0 > ROUNDS_LINK * RT_HANG_TICKS)
            return 0;
        idle(&net_config_irqs, now);
    }
}

/* B's echo loop (net_echo_serve, but halting while it waits to be killed): echoes every frame
 * with the MACs swapped; after "wait" it says so and halts until the runner kills it (failing
 * if it is still alive some RT_HANG_TICKS later); after "bye" it returns. */
static void serve(void)
{
    static uint8_t f[NET_FRAME_MAX];
    unsigned data = 0;
    for (;;) {
        int len = -1;
        for (unsigned slice = 0; len < 0 && slice < RT_HANG_TICKS / NET_SLICE_TICKS; slice++) {
            len = net_recv(&n, f, sizeof(f), NET_SLICE_TICKS);
            if (len < 0 && !net_link_up(&n))
                rt_fail(__FILE__, __LINE__, "B: link down before bye");
        }
        if (len < 0)
            rt_fail(__FILE__, __LINE__, "B: nothing received (no bye)");
        RT_CHECK(len >= 21);
        for (unsigned i = 0; i < 6; i++) {
            RT_CHECK(f[i] == n.mac[i] && f[6 + i] == NET_MAC_A[i]);
            f[i] = NET_MAC_A[i];
            f[6 + i] = n.mac[i];
        }
        net_send(&n, f, (unsigned)len);
        if (f[14] == NET_KIND_DATA) {
            data++;
        } else if (f[14] == NET_KIND_BYE) {
            break;
        } else if (f[14] == NET_KIND_WAIT) {
            /* Short: every character is a VM exit, and this is printed 100 times. */
            rt_printf("pair_soak: B: idx %u, waiting to be killed\n", r.idx);
            uint64_t t0 = rt_rdtsc();
            while (rt_rdtsc() - t0 < RT_HANG_TICKS)
                idle(&rt_irq_count[VEC_TICK], rt_irq_count[VEC_TICK]);
            rt_fail(__FILE__, __LINE__, "B: not killed");
        } else {
            RT_CHECK(f[14] == NET_KIND_HELLO);
        }
    }
    rt_delay(RT_WAIT_TICKS / 50); /* let the echo of "bye" cross before the VM ends */
    rt_printf("pair_soak: B: echoed %u data frames, then bye\n", data);
}

/* B: one life, from boot to being killed (or to "bye" in the last run). */
static int run_b(void)
{
    attach(true);
    unsigned a = wait_other();
    RT_CHECK(a < 16);
    shm_notify(&r, 1u << a);
    RT_CHECK(wait_notify(1u << a) == 1u << a);
    serve();
    RT_CHECK(net_isr_zero == 0);
    return 0;
}

static int run_a(void)
{
    attach(false);
    RT_CHECK(net_wait_link(&n, true, ROUNDS_LINK));
    uint32_t up = 0, bmax = 0;
    for (unsigned cycle = 1; cycle <= SOAK_CYCLES + 1; cycle++) {
        /* B's run `cycle`: its link came up (cycle 1: checked above; later: a configuration
         * interrupt read LINK_UP set) and it attaches, then notifies us. */
        unsigned b = wait_other();
        if (b >= 16)
            rt_printf("FAIL pair_soak: A: cycle %u: B never attached\n", cycle);
        RT_CHECK(b < 16);
        bmax = b > bmax ? b : bmax;
        RT_CHECK(wait_notify(1u << b) == 1u << b);
        shm_notify(&r, 1u << b);
        net_handshake(&n, cycle);
        net_exchange(&n, cycle * SEQ_PER_CYCLE, 2, 2); /* 60 and 1514 bytes */
        if (cycle == SOAK_CYCLES + 1) {
            net_bye(&n); /* B's VM ends: a detach */
            RT_CHECK(wait_attached(1u << b, 0));
            break;
        }
        uint32_t seen = net_config_irqs;
        net_request(&n, NET_KIND_WAIT); /* the runner samples us and kills B */
        uint32_t down = wait_config(seen, false);
        if (!down)
            rt_printf("FAIL pair_soak: A: cycle %u: LINK_UP still set after B's kill\n", cycle);
        RT_CHECK(down != 0);
        if (!wait_attached(1u << b, 0))
            rt_printf("FAIL pair_soak: A: cycle %u: B (idx %u) still attached after its kill\n",
                      cycle, b);
        RT_CHECK((r.attached & 1u << b) == 0 && (r.attached & 1u << r.idx) != 0);
        rt_printf("pair_soak: A: peer %u gone\n", cycle); /* the runner starts the next B */
        up = wait_config(down, true);
        if (!up)
            rt_printf("FAIL pair_soak: A: cycle %u: LINK_UP never came back\n", cycle);
        RT_CHECK(up != 0 && net_link_up(&n));
    }
    rt_printf("pair_soak: A: %u cycles: link and attachment back every time (%u configuration "
              "interrupts, %u shmem interrupts, %u without news, B's idx at most %u)\n",
              SOAK_CYCLES, net_config_irqs, shm_irqs, shm_irqs_idle, bmax);
    /* MSI-X messages are edges: at most one in two may find nothing new. */
    RT_CHECK(shm_irqs_idle <= shm_irqs - shm_irqs_idle);
    RT_CHECK(net_isr_zero == 0);
    shm_irq_mask(&d);
    shm_irq_remove(&r);
    shm_detach(&r);
    rt_printf("PASS pair_soak\n");
    return 0;
}

int test_main(unsigned cpu, unsigned ncpus)
{
    tick_start();
    net_init(&n, true, NET_BAR);
    RT_CHECK(shm_find_pci(&d) && d.msix_cap != 0);
    RT_CHECK(shm_signature(&d) == SHM_SIGNATURE);
    return net_is_echo_peer(&n) ? run_b() : run_a();
}
