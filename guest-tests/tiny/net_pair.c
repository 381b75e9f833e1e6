/* Two tiny guests on a virtio-net peer link: see net_pair.h. */
#include "net_pair.h"

#include "rt.h"

#define VEC_CONFIG           0x50 /* MSI-X entry 0 */
#define VEC_RX               0x51 /* MSI-X entry 1 */
#define VEC_INTX             0x52 /* the IOAPIC input of INTA# or of the MMIO line */
#define NET_S_LINK_UP        1
#define NET_CFG_STATUS       6
#define F_MAC                (1ull << 5)
#define F_STATUS             (1ull << 16)
#define F_VERSION_1          (1ull << 32)
#define AVAIL_F_NO_INTERRUPT 1
#define BUF_SIZE             1536 /* header + the largest frame, rounded up */

const uint8_t NET_MAC_A[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x01};
const uint8_t NET_MAC_B[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x02};

volatile uint32_t net_rx_irqs, net_config_irqs, net_isr_zero;
volatile uint16_t net_config_status[16];

static struct net_dev *the_dev; /* for the interrupt handlers */
static uint8_t rx_bufs[VPD_QSIZE][BUF_SIZE] __attribute__((aligned(64)));
static uint8_t tx_buf[BUF_SIZE] __attribute__((aligned(64)));

/* ---- the transport calls net_pair needs, PCI or MMIO ---- */
static uint8_t dev_status(struct net_dev *n)
{
    return n->transport == NET_MMIO ? vmd_status(&n->mmio) : vpd_status(&n->pci);
}

static void dev_set_status(struct net_dev *n, uint8_t s)
{
    if (n->transport == NET_MMIO)
        vmd_set_status(&n->mmio, s);
    else
        vpd_set_status(&n->pci, s);
}

static uint64_t dev_features(struct net_dev *n)
{
    return n->transport == NET_MMIO ? vmd_device_features(&n->mmio) : vpd_device_features(&n->pci);
}

static void dev_set_features(struct net_dev *n, uint64_t f)
{
    if (n->transport == NET_MMIO)
        vmd_set_driver_features(&n->mmio, f);
    else
        vpd_set_driver_features(&n->pci, f);
}

static uint8_t dev_config8(struct net_dev *n, unsigned off)
{
    return n->transport == NET_MMIO ? vmd_config8(&n->mmio, off) : vpd_config8(&n->pci, off);
}

static uint16_t dev_config16(struct net_dev *n, unsigned off)
{
    return n->transport == NET_MMIO ? vmd_config16(&n->mmio, off) : vpd_config16(&n->pci, off);
}

/* MSI-X vector `vector` on PCI (0xffff: none); MMIO has only its line. */
static bool dev_queue_setup(struct net_dev *n, struct vpd_queue *q, unsigned index, uint16_t vector)
{
    return n->transport == NET_MMIO ? vmd_queue_setup(&n->mmio, q, index)
                                    : vpd_queue_setup(&n->pci, q, index, vector);
}

static void dev_queue_kick(struct net_dev *n, struct vpd_queue *q, uint16_t head)
{
    if (n->transport == NET_MMIO)
        vmd_queue_kick(&n->mmio, q, head);
    else
        vpd_queue_kick(q, head);
}

/* ---- interrupt handlers ---- */
static void note_config(void)
{
    uint16_t st = dev_config16(the_dev, NET_CFG_STATUS);
    net_config_status[net_config_irqs % 16] = st;
    net_config_irqs = net_config_irqs + 1;
}

static void on_rx(struct rt_frame *f)
{
    net_rx_irqs = net_rx_irqs + 1;
}

static void on_config(struct rt_frame *f)
{
    note_config();
}

/* A line interrupt's reason: bit 0 used buffers, bit 1 configuration change. */
static void count_line_irq(uint32_t why)
{
    if (why & 1)
        net_rx_irqs = net_rx_irqs + 1;
    if (why & 2)
        note_config();
    if (!why)
        net_isr_zero = net_isr_zero + 1;
}

/* Level-triggered: reading the ISR lowers the line before the runtime's EOI. */
static void on_intx(struct rt_frame *f)
{
    count_line_irq(vpd_isr_read(&the_dev->pci));
}

/* Level-triggered too, but reading InterruptStatus does not clear it: the ACK of what was
 * read does, and lowers the line unless a bit was raised since (then the line, still up
 * at the EOI, interrupts again). */
static void on_mmio_line(struct rt_frame *f)
{
    uint32_t why = vmd_int_status(&the_dev->mmio);
    if (why)
        vmd_int_ack(&the_dev->mmio, why);
    count_line_irq(why);
}

static void post_rx(struct net_dev *n, uint16_t d)
{
    n->rxq.desc[d] = (struct vpd_desc){
        .addr = (uintptr_t)rx_bufs[d], .len = BUF_SIZE, .flags = VPD_DESC_F_WRITE};
    dev_queue_kick(n, &n->rxq, d);
}

/* The virtio handshake, the queues and the MAC, the same on both transports (virtio 1.2
 * §3.1.1); `msix`: PCI with the rx queue on MSI-X entry 1. */
static void net_start(struct net_dev *n, bool msix)
{
    dev_set_status(n, 0);
    RT_CHECK(dev_status(n) == 0);
    if (n->transport == NET_MMIO)
        RT_CHECK(vmd_int_status(&n->mmio) == 0); /* a reset clears InterruptStatus */
    dev_set_status(n, 1 | 2);
    uint64_t feats = dev_features(n);
    RT_CHECK((feats & (F_VERSION_1 | F_MAC | F_STATUS)) == (F_VERSION_1 | F_MAC | F_STATUS));
    dev_set_features(n, F_VERSION_1 | F_MAC | F_STATUS);
    dev_set_status(n, 1 | 2 | 8);
    RT_CHECK(dev_status(n) == (1 | 2 | 8));
    if (n->transport == NET_PCI) {
        volatile uint16_t *msix_cfg = (volatile uint16_t *)(n->pci.common + VPD_MSIX_CFG);
        *msix_cfg = msix ? 0 : 0xffff;
        RT_CHECK(*msix_cfg == (msix ? 0 : 0xffff));
    }
    RT_CHECK(dev_queue_setup(n, &n->rxq, 0, msix ? 1 : 0xffff));
    RT_CHECK(dev_queue_setup(n, &n->txq, 1, 0xffff)); /* tx completions are polled */
    n->txq.avail.flags = AVAIL_F_NO_INTERRUPT;
    for (unsigned i = 0; i < 6; i++)
        n->mac[i] = dev_config8(n, i);
    n->rx_next = n->rx_known = 0;
    n->rx_irqs_consumed = 0;
    dev_set_status(n, 1 | 2 | 8 | 4);
    RT_CHECK(dev_status(n) == (1 | 2 | 8 | 4));
    for (uint16_t d = 0; d < VPD_QSIZE; d++)
        post_rx(n, d);
}

void net_init(struct net_dev *n, bool msix, uint32_t bar_addr)
{
    the_dev = n;
    n->transport = NET_PCI;
    n->intx = !msix;
    RT_CHECK(vpd_find(&n->pci, 1, bar_addr));
    RT_CHECK(n->pci.msix != 0);
    if (msix) {
        rt_on_irq(VEC_CONFIG, on_config);
        rt_on_irq(VEC_RX, on_rx);
        vpd_msix_route(&n->pci, 0, VEC_CONFIG, 0);
        vpd_msix_route(&n->pci, 1, VEC_RX, 0);
        vpd_msix_enable(&n->pci);
    } else {
        /* pci.md: slot S raises IOAPIC input 16 + S % 4 (INTA), which the interrupt
         * line register names; MSI-X stays disabled. */
        n->intx_line = vpd_intx_line(&n->pci);
        RT_CHECK(n->intx_line == 16 + (n->pci.bdf >> 3) % 4);
        rt_on_irq(VEC_INTX, on_intx);
        rt_ioapic_route(n->intx_line, VEC_INTX, 0, RT_IOAPIC_LEVEL | RT_IOAPIC_ACTIVE_LOW);
    }
    net_start(n, msix);
}

void net_init_mmio(struct net_dev *n, uint32_t base, unsigned gsi)
{
    the_dev = n;
    n->transport = NET_MMIO;
    RT_CHECK(vmd_find(&n->mmio, base, 1));
    n->intx_line = gsi; /* active high, as the DSDT's Interrupt() descriptor says */
    rt_on_irq(VEC_INTX, on_mmio_line);
    rt_ioapic_route(gsi, VEC_INTX, 0, RT_IOAPIC_LEVEL);
    net_start(n, false);
}

bool net_link_up(struct net_dev *n)
{
    return dev_config16(n, NET_CFG_STATUS) & NET_S_LINK_UP;
}

bool net_wait_link(struct net_dev *n, bool up, unsigned rounds)
{
    uint64_t t0 = rt_rdtsc();
    while (net_link_up(n) != up) {
        if (rt_rdtsc() - t0 > rounds * RT_HANG_TICKS)
            return false;
        rt_delay(1000000);
    }
    return true;
}

uint32_t net_wait_config_irq(uint32_t seen, bool up, unsigned rounds)
{
    uint64_t t0 = rt_rdtsc();
    for (;;) {
        uint32_t now = net_config_irqs;
        for (; seen < now; seen++)
            if (((net_config_status[seen % 16] & NET_S_LINK_UP) != 0) == up)
                return seen + 1;
        if (rt_rdtsc() - t0 > rounds * RT_HANG_TICKS)
            return 0;
        rt_pause();
    }
}

void net_send(struct net_dev *n, const uint8_t *frame, unsigned len)
{
    RT_CHECK(len >= 60 && len <= NET_FRAME_MAX);
    for (unsigned i = 0; i < NET_HDR_LEN; i++)
        tx_buf[i] = 0; /* no offloads */
    for (unsigned i = 0; i < len; i++)
        tx_buf[NET_HDR_LEN + i] = frame[i];
    uint16_t want = (uint16_t)(n->txq.avail.idx + 1);
    n->txq.desc[0] = (struct vpd_desc){.addr = (uintptr_t)tx_buf, .len = NET_HDR_LEN + len};
    dev_queue_kick(n, &n->txq, 0);
    uint64_t t0 = rt_rdtsc();
    while (vpd_used_idx(&n->txq) != want) {
        if (rt_rdtsc() - t0 > RT_HANG_TICKS)
            rt_fail(__FILE__, __LINE__, "tx buffer not given back");
        rt_pause();
    }
    RT_CHECK(n->txq.used.ring[(uint16_t)(want - 1) % VPD_QSIZE].id == 0);
}

int net_recv(struct net_dev *n, uint8_t *buf, unsigned cap, uint64_t ticks)
{
    uint64_t t0 = rt_rdtsc();
    while (n->rx_next == n->rx_known) {
        /* Only entries an interrupt announced: the used index is read after the count. */
        uint32_t irqs = net_rx_irqs;
        if (irqs != n->rx_irqs_consumed) {
            n->rx_irqs_consumed = irqs;
            n->rx_known = vpd_used_idx(&n->rxq);
            continue;
        }
        if (rt_rdtsc() - t0 > ticks)
            return -1;
        rt_pause();
    }
    uint16_t slot = n->rx_next % VPD_QSIZE;
    uint32_t id = n->rxq.used.ring[slot].id, len = n->rxq.used.ring[slot].len;
    RT_CHECK(id < VPD_QSIZE);
    RT_CHECK(len >= NET_HDR_LEN + 14 && len <= NET_HDR_LEN + NET_FRAME_MAX);
    const uint8_t *b = rx_bufs[id];
    /* virtio_net_hdr_v1: no offloads negotiated, so flags, gso_type 0; num_buffers 1. */
    RT_CHECK(b[0] == 0 && b[1] == 0);
    RT_CHECK(b[10] == 1 && b[11] == 0);
    len -= NET_HDR_LEN;
    RT_CHECK(len <= cap);
    for (unsigned i = 0; i < len; i++)
        buf[i] = b[NET_HDR_LEN + i];
    n->rx_next++;
    post_rx(n, (uint16_t)id);
    return (int)len;
}

static uint8_t pattern(uint32_t seq, unsigned i)
{
    return (uint8_t)((seq * 31u + i * 7u) ^ 0x5a);
}

void net_frame(struct net_dev *n, uint8_t *f, const uint8_t *dst, uint8_t kind, uint32_t seq,
               unsigned len)
{
    for (unsigned i = 0; i < 6; i++) {
        f[i] = dst[i];
        f[6 + i] = n->mac[i];
    }
    f[12] = NET_ETHERTYPE >> 8;
    f[13] = NET_ETHERTYPE & 0xff;
    f[14] = kind;
    for (unsigned i = 0; i < 4; i++)
        f[15 + i] = (uint8_t)(seq >> (8 * i));
    f[19] = (uint8_t)len;
    f[20] = (uint8_t)(len >> 8);
    for (unsigned i = 21; i < len; i++)
        f[i] = pattern(seq, i);
}

bool net_frame_is(struct net_dev *n, const uint8_t *f, unsigned len, const uint8_t *src,
                  uint8_t kind, uint32_t seq, unsigned want_len)
{
    if (len != want_len)
        return false;
    for (unsigned i = 0; i < 6; i++)
        if (f[i] != n->mac[i] || f[6 + i] != src[i])
            return false;
    if (f[12] != NET_ETHERTYPE >> 8 || f[13] != (NET_ETHERTYPE & 0xff) || f[14] != kind)
        return false;
    for (unsigned i = 0; i < 4; i++)
        if (f[15 + i] != (uint8_t)(seq >> (8 * i)))
            return false;
    if (f[19] != (uint8_t)len || f[20] != (uint8_t)(len >> 8))
        return false;
    for (unsigned i = 21; i < len; i++)
        if (f[i] != pattern(seq, i))
            return false;
    return true;
}

static bool mac_is(const uint8_t *a, const uint8_t *b)
{
    for (unsigned i = 0; i < 6; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

bool net_is_echo_peer(const struct net_dev *n)
{
    return mac_is(n->mac, NET_MAC_B);
}

static uint8_t frame_buf[NET_FRAME_MAX], echo_buf[NET_FRAME_MAX];

int net_echo_serve(struct net_dev *n, const char *test)
{
    RT_CHECK(net_wait_link(n, true, 3));
    unsigned data = 0, hello = 0;
    for (;;) {
        /* In slices, so that a tester gone without "bye" (link down) fails us at once. */
        int len = -1;
        for (unsigned slice = 0; len < 0 && slice < RT_HANG_TICKS / NET_SLICE_TICKS; slice++) {
            len = net_recv(n, frame_buf, sizeof(frame_buf), NET_SLICE_TICKS);
            if (len < 0 && !net_link_up(n))
                rt_fail(__FILE__, __LINE__, "echo peer: link down before bye");
        }
        if (len < 0)
            rt_fail(__FILE__, __LINE__, "echo peer: nothing received (no bye)");
        RT_CHECK(len >= 21);
        RT_CHECK(mac_is(frame_buf, n->mac) && mac_is(frame_buf + 6, NET_MAC_A));
        RT_CHECK(frame_buf[12] == NET_ETHERTYPE >> 8 && frame_buf[13] == (NET_ETHERTYPE & 0xff));
        for (unsigned i = 0; i < 6; i++) {
            frame_buf[i] = NET_MAC_A[i];
            frame_buf[6 + i] = n->mac[i];
        }
        net_send(n, frame_buf, (unsigned)len);
        if (frame_buf[14] == NET_KIND_DATA)
            data++;
        else if (frame_buf[14] == NET_KIND_HELLO)
            hello++;
        else if (frame_buf[14] == NET_KIND_BYE)
            break;
        else if (frame_buf[14] == NET_KIND_WAIT) {
            rt_printf("%s: echo peer: echoed %u data frames, waiting to be killed\n", test, data);
            rt_delay(RT_HANG_TICKS);
            rt_fail(__FILE__, __LINE__, "echo peer: not killed");
        } else
            rt_fail(__FILE__, __LINE__, "echo peer: unknown frame kind");
    }
    /* Let the echo of "bye" cross before this end of the link goes away with the VM. */
    rt_delay(RT_WAIT_TICKS / 50);
    rt_printf("%s: echo peer: echoed %u data frames, %u hellos, then bye (%u rx interrupts, %u "
              "with ISR 0)\n",
              test, data, hello, net_rx_irqs, net_isr_zero);
    /* A line left asserted, or raised without a reason, interrupts again at every EOI: that
     * is hundreds. One or two have been seen in about one ASan run of five, on code that
     * raises ISR and INTx under one lock and clears both under it (virtio_pci_irq.c), in the
     * echo peer only; the cause is not known (a read-to-clear read repeated by the nested
     * emulation is one guess), so they are tolerated and printed, not hidden. */
    RT_CHECK(net_isr_zero <= 2);
    return 0;
}

void net_handshake(struct net_dev *n, uint32_t round)
{
    for (uint32_t k = 0; k < 80; k++) { /* ~2 RT_WAIT_TICKS in all */
        uint32_t seq = round << 16 | k;
        net_frame(n, frame_buf, NET_MAC_B, NET_KIND_HELLO, seq, 60);
        net_send(n, frame_buf, 60);
        /* The peer's VMM may be up (link up) before its driver posted rx buffers. */
        for (;;) {
            int len = net_recv(n, echo_buf, sizeof(echo_buf), RT_WAIT_TICKS / 40);
            if (len < 0)
                break;
            if (net_frame_is(n, echo_buf, (unsigned)len, NET_MAC_B, NET_KIND_HELLO, seq, 60))
                return;
            RT_CHECK(echo_buf[14] == NET_KIND_HELLO); /* an older hello's echo */
        }
    }
    rt_fail(__FILE__, __LINE__, "handshake: no hello came back");
}

static unsigned data_len(unsigned i)
{
    return i == 0 ? 60 : i == 1 ? NET_FRAME_MAX : 60 + (i * 389u) % (NET_FRAME_MAX - 59);
}

/* Receives the echo of data frame `seq` (`len` bytes), skipping late hello echoes. */
static void expect_echo(struct net_dev *n, uint32_t seq, unsigned len)
{
    for (;;) {
        int got = net_recv(n, echo_buf, sizeof(echo_buf), RT_HANG_TICKS);
        if (got < 0) {
            rt_printf("FAIL exchange: no echo of data frame %u (%u bytes)\n", seq, len);
            rt_exit(RT_EXIT_FAIL);
        }
        if (echo_buf[14] == NET_KIND_HELLO && got == 60)
            continue; /* a late echo of a handshake retry */
        if (!net_frame_is(n, echo_buf, (unsigned)got, NET_MAC_B, NET_KIND_DATA, seq, len)) {
            rt_printf("FAIL exchange: echo of data frame %u (%u bytes) differs: %d bytes, kind "
                      "%c\n",
                      seq, len, got, echo_buf[14]);
            rt_exit(RT_EXIT_FAIL);
        }
        return;
    }
}

void net_exchange(struct net_dev *n, uint32_t first_seq, unsigned count, unsigned window)
{
    RT_CHECK(window >= 1 && window < VPD_QSIZE);
    for (unsigned i = 0; i < count; i += window) {
        unsigned k = count - i < window ? count - i : window;
        for (unsigned j = 0; j < k; j++) {
            net_frame(n, frame_buf, NET_MAC_B, NET_KIND_DATA, first_seq + i + j, data_len(i + j));
            net_send(n, frame_buf, data_len(i + j));
        }
        for (unsigned j = 0; j < k; j++) /* in order: one link, one echo peer */
            expect_echo(n, first_seq + i + j, data_len(i + j));
    }
}

void net_request(struct net_dev *n, uint8_t kind)
{
    net_frame(n, frame_buf, NET_MAC_B, kind, 0, 60);
    net_send(n, frame_buf, 60);
    for (;;) {
        int got = net_recv(n, echo_buf, sizeof(echo_buf), RT_HANG_TICKS);
        RT_CHECK(got >= 0);
        if (net_frame_is(n, echo_buf, (unsigned)got, NET_MAC_B, kind, 0, 60))
            return;
        RT_CHECK(echo_buf[14] == NET_KIND_HELLO);
    }
}
