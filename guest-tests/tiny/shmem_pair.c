/* Two tiny guests sharing shmem regions: see shmem_pair.h. */
#include "shmem_pair.h"

#include "rt.h"

#define VEC_SHM     0x53
#define VEC_INTX    0x54 /* MSI-X on: the INTx line, which must stay low */
#define FIND_TRIES  200
#define FIND_PAUSE  50000000ull /* TSC ticks between tries while A's VM comes up */
#define HALF_WORDS  (SHM_PAIR_PAGES * SHM_PAGE / 2 / 8)
#define ROLE_A_SEED 0xa5a5000000000000ull
#define ROLE_B_SEED 0x5b5b000000000000ull

static struct shm_region data_r, ack_r;
static const char *test_name, *region_name;

static uint64_t pattern(uint64_t seed, uint32_t round, uint64_t i)
{
    return seed ^ (uint64_t)(round + 1) * 0x9e3779b97f4a7c15ull ^ i * 0x100000001b3ull;
}

static void fill(unsigned half, uint64_t seed, uint32_t round)
{
    volatile uint64_t *w = (volatile uint64_t *)data_r.data + half * HALF_WORDS;
    for (uint64_t i = 0; i < HALF_WORDS; i++)
        w[i] = pattern(seed, round, i);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static bool holds(unsigned half, uint64_t seed, uint32_t round)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    volatile uint64_t *w = (volatile uint64_t *)data_r.data + half * HALF_WORDS;
    for (uint64_t i = 0; i < HALF_WORDS; i++)
        if (w[i] != pattern(seed, round, i)) {
            rt_printf("%s: word %lu of half %u is %lx, expected %lx\n", test_name, i, half, w[i],
                      pattern(seed, round, i));
            return false;
        }
    return true;
}

/* Attaches `name`: create-or-attach, or `find` retried while the region does not exist yet. */
static void attach(struct shm_dev *d, const char *name, uint32_t pages, bool find,
                   struct shm_region *r)
{
    unsigned st = shm_attach(d, name, pages, find, r);
    for (unsigned i = 0; find && st == SHM_ST_DOES_NOT_EXIST && i < FIND_TRIES; i++) {
        rt_delay(FIND_PAUSE);
        st = shm_attach(d, name, pages, true, r);
    }
    if (st != SHM_ST_OK)
        rt_printf("%s: attaching %s: status %u\n", test_name, name, st);
    RT_CHECK(st == SHM_ST_OK);
    /* Before the handler owns it: our own bit is in the attach bitmap. */
    uint32_t s = shm_read_status(r);
    r->attached = s >> 16;
    RT_CHECK(r->idx < 16 && (s >> 16 & 1u << r->idx));
}

/* Waits until another client shows in r's attach bitmap; returns its idx. */
static unsigned wait_other(struct shm_region *r)
{
    uint64_t t0 = rt_rdtsc();
    uint32_t others;
    while (!(others = __atomic_load_n(&r->attached, __ATOMIC_SEQ_CST) & ~(1u << r->idx))) {
        RT_CHECK(rt_rdtsc() - t0 < RT_HANG_TICKS);
        rt_pause();
    }
    return (unsigned)__builtin_ctz(others);
}

static int run_a(struct shm_dev *d)
{
    const char *t = test_name;
    unsigned b = wait_other(&data_r), b_ack = wait_other(&ack_r);
    rt_printf("%s: A: B attached as idx %u\n", t, b);
    for (uint32_t k = 0; k < SHM_PAIR_ROUNDS; k++) {
        fill(0, ROLE_A_SEED, k);
        shm_notify(&data_r, ~0u); /* all but me */
        uint32_t got = shm_wait_notify(&data_r, 1u << b);
        RT_CHECK(got == 1u << b);
        RT_CHECK(holds(1, ROLE_B_SEED, k));
    }
    rt_printf("%s: A: %u rounds of %u KiB each way, answers intact\n", t, SHM_PAIR_ROUNDS,
              SHM_PAIR_PAGES * 4 / 2);

    if (d->pci) { /* the guest moves BAR 2: both regions follow, data, control pages and all */
        struct shm_region *rs[] = {&data_r, &ack_r};
        uint64_t from = d->bar2, to = d->bar2 + d->bar2_size; /* the next aligned slot */
        shm_irq_mask(d);
        RT_CHECK(d->bar2_size && shm_move_window(d, to, rs, 2));
        RT_CHECK(*(volatile uint64_t *)(d->factory + SHM_F_SHMEM) == ack_r.gpa); /* last attach */
        RT_CHECK(ack_r.ctl[SHM_C_IDX / 4] == ack_r.idx && data_r.ctl[SHM_C_IDX / 4] == data_r.idx);
        RT_CHECK(holds(1, ROLE_B_SEED, SHM_PAIR_ROUNDS - 1));
        shm_irq_unmask(d);
        rt_printf("%s: A: BAR 2 moved from %lx to %lx: the regions followed\n", t, from, to);
    }

    /* B detaches: its bit clears, ours stays. Only the interrupt handler updates `attached`
     * (it may already have when B was quick), so this is the interrupt's doing. */
    RT_CHECK(shm_wait_attached(&data_r, 1u << b, 0));
    RT_CHECK(data_r.attached & 1u << data_r.idx);
    rt_printf("%s: A: B detached: attach bitmap %x, interrupt seen\n", t, data_r.attached);
    shm_notify(&ack_r, 1u << b_ack);

    /* B is back (find) and notifies; then its VM ends, which detaches it. */
    uint32_t got = shm_wait_notify(&data_r, ~(1u << data_r.idx));
    RT_CHECK(got != 0);
    b = (unsigned)__builtin_ctz(got); /* (B may already be gone again: its VM ends next) */
    rt_printf("%s: A: B attached again as idx %u and notified\n", t, b);
    RT_CHECK(shm_wait_attached(&data_r, 1u << b, 0));
    rt_printf("%s: A: B's VM ended: attach bitmap %x\n", t, data_r.attached);

    shm_irq_mask(d);
    shm_irq_remove(&data_r);
    shm_irq_remove(&ack_r);
    shm_detach(&data_r);
    shm_detach(&ack_r);
    return 0;
}

static int run_b(struct shm_dev *d)
{
    const char *t = test_name;
    unsigned a = wait_other(&data_r), a_ack = wait_other(&ack_r);
    for (uint32_t k = 0; k < SHM_PAIR_ROUNDS; k++) {
        uint32_t got = shm_wait_notify(&data_r, 1u << a);
        RT_CHECK(got == 1u << a);
        RT_CHECK(holds(0, ROLE_A_SEED, k));
        fill(1, ROLE_B_SEED, k);
        shm_notify(&data_r, 1u << a);
    }
    rt_printf("%s: B: %u rounds checked and answered\n", t, SHM_PAIR_ROUNDS);

    /* Detach, wait for A to have seen it, attach again with find: the data are still there. */
    shm_irq_remove(&data_r);
    shm_detach(&data_r);
    RT_CHECK(shm_wait_notify(&ack_r, 1u << a_ack) == 1u << a_ack);
    attach(d, region_name, 1, true, &data_r);
    RT_CHECK(data_r.pages == SHM_PAIR_PAGES);
    RT_CHECK(holds(0, ROLE_A_SEED, SHM_PAIR_ROUNDS - 1) &&
             holds(1, ROLE_B_SEED, SHM_PAIR_ROUNDS - 1));
    shm_irq_add(&data_r);
    rt_printf("%s: B: detached, attached again with find as idx %u, data intact\n", t, data_r.idx);
    shm_notify(&data_r, 1u << a);
    return 0; /* the VM ends: A sees the detach */
}

int shm_pair_run(struct shm_dev *d, const char *test, const char *region, bool msix)
{
    test_name = test;
    region_name = region;
    RT_CHECK(shm_signature(d) == SHM_SIGNATURE);

    /* The role: A's policy denies "role-b"; with B's only the missing region answers. */
    struct shm_region probe;
    unsigned st = shm_attach(d, "role-b", 1, true, &probe);
    RT_CHECK(st == SHM_ST_NO_PERMISSION || st == SHM_ST_DOES_NOT_EXIST);
    bool is_a = st == SHM_ST_NO_PERMISSION;
    if (is_a) /* `allow pair*`: anything else meets the implicit final `deny *` */
        RT_CHECK(shm_attach(d, "other", 1, false, &probe) == SHM_ST_NO_PERMISSION);
    else /* only `deny` lines: the rest is allowed, but a '/' is never a valid name */
        RT_CHECK(shm_attach(d, "bad/name", 1, false, &probe) == SHM_ST_ILLEGAL_NAME);

    /* A: create-or-attach asking for 1 page gets the 16 its `create` option made; B: find. */
    attach(d, region, 1, !is_a, &data_r);
    RT_CHECK(data_r.pages == SHM_PAIR_PAGES);
    char ack[SHM_NAME_MAX];
    unsigned n = 0;
    for (; region[n] && n < SHM_NAME_MAX - 5; n++)
        ack[n] = region[n];
    ack[n++] = '-', ack[n++] = 'a', ack[n++] = 'c', ack[n++] = 'k', ack[n] = 0;
    attach(d, ack, 1, false, &ack_r);
    RT_CHECK(ack_r.pages == 1 && ack_r.gpa != data_r.gpa);
    shm_irq_add(&data_r);
    shm_irq_add(&ack_r);
    RT_CHECK(shm_irq_setup(d, VEC_SHM, msix));
    if (msix) { /* edge-triggered: counts assertions of INTx (a level route could storm) */
        rt_on_irq(VEC_INTX, NULL);
        rt_ioapic_route(d->line, VEC_INTX, 0, RT_IOAPIC_ACTIVE_LOW);
    }
    rt_printf("%s: %s: %s: %u pages at %lx, idx %u; %s: idx %u; interrupt %s (%s %u), factory "
              "vector %u\n",
              test, is_a ? "A" : "B", region, data_r.pages, data_r.gpa, data_r.idx, ack, ack_r.idx,
              shm_irq_mode(d), d->msix ? "entry 0 to LAPIC vector" : "IOAPIC line",
              d->msix ? d->vector : d->line, shm_factory32(d, SHM_F_VECTOR));

    int rc = is_a ? run_a(d) : run_b(d);
    rt_printf("%s: %s: %u %s interrupts, %u without a reason%s\n", test, is_a ? "A" : "B", shm_irqs,
              shm_irq_mode(d), shm_irqs_idle,
              d->msix && !rt_irq_count[VEC_INTX] ? "; INTx never raised" : "");
    /* A level line is high only while there is something to read: never an empty interrupt.
     * MSI-X messages are edges, one per change: changes that came before the handler's read
     * leave the messages after it empty (B's VM end detaches two regions at once), but never
     * more than one per interrupt with a reason. */
    if (d->msix) {
        RT_CHECK(shm_irqs_idle <= shm_irqs - shm_irqs_idle);
        RT_CHECK(rt_irq_count[VEC_INTX] == 0);
        rt_ioapic_mask(d->line);
    } else {
        RT_CHECK(shm_irqs_idle == 0);
    }
    if (rc == 0)
        rt_printf("PASS %s\n", test);
    return rc;
}
