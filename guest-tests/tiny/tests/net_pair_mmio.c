/* net_pair_mmio (pair test: net_pair_mmio.conf + .peer.conf): A's NIC is on virtio-mmio
 * (`loc 0xd0000000 intr ioapic:10`), B's on virtio-pci (MSI-X). A sends 64 frames of
 * 60..1514 bytes with a pattern, one at a time, then 60 more six at a time; B echoes each
 * (MACs swapped); A checks every echo's length and content. A takes rx on its level line
 * through the IOAPIC: the handler reads InterruptStatus and ACKs what it read, and no line
 * interrupt may come without a reason. Then "bye": B ends, and A must see LINK_UP clear
 * with a line interrupt whose status has bit 1. The VM whose window at MMIO_BASE answers
 * with virtio-mmio's magic value drives it; the other looks on PCI. See net_pair.h. */
#include "net_pair.h"
#include "rt.h"
#include "virtio_mmio_drv.h"

#define MMIO_BASE    0xd0000000u /* net_pair_mmio.conf's loc */
#define MMIO_GSI     10          /* and its intr */
#define BAR_ADDR     0xc8000000u
#define FRAMES       64
#define BURST_FRAMES 60

static struct net_dev n;

int test_main(unsigned cpu, unsigned ncpus)
{
    struct vmd probe;
    bool mmio = vmd_find(&probe, MMIO_BASE, 1);
    if (mmio)
        net_init_mmio(&n, MMIO_BASE, MMIO_GSI);
    else
        net_init(&n, true, BAR_ADDR);
    if (net_is_echo_peer(&n)) {
        RT_CHECK(!mmio); /* B is the PCI side */
        return net_echo_serve(&n, "net_pair_mmio");
    }
    RT_CHECK(mmio);
    RT_CHECK(n.mac[5] == NET_MAC_A[5]);
    RT_CHECK(net_wait_link(&n, true, 3));
    net_handshake(&n, 1);
    uint32_t irqs0 = net_rx_irqs;
    net_exchange(&n, 0, FRAMES, 1);
    uint32_t irqs = net_rx_irqs - irqs0;
    rt_printf("net_pair_mmio: %u frames echoed intact, %u rx line interrupts (IOAPIC line %u, "
              "status 0: %u)\n",
              FRAMES, irqs, n.intx_line, net_isr_zero);
    RT_CHECK(irqs >= FRAMES / 2);
    /* Bursts: several frames in flight, several used entries per interrupt. */
    net_exchange(&n, 1000, BURST_FRAMES, 6);
    rt_printf("net_pair_mmio: %u more frames echoed intact, 6 at a time (%u rx interrupts in "
              "all)\n",
              BURST_FRAMES, net_rx_irqs);
    RT_CHECK(net_isr_zero == 0); /* every interrupt had a reason: the ACK lowers the line */

    uint32_t seen = net_config_irqs;
    net_bye(&n);
    uint32_t down = net_wait_config_irq(seen, false, 3);
    RT_CHECK(down != 0);
    RT_CHECK(!net_link_up(&n));
    RT_CHECK(vmd_int_status(&n.mmio) == 0); /* every bit ACKed: the line is low */
    RT_CHECK(net_isr_zero == 0);
    rt_printf("net_pair_mmio: peer gone: LINK_UP clear, config interrupt %u\n", down);
    rt_printf("PASS net_pair_mmio\n");
    return 0;
}
