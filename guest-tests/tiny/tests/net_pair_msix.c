/* net_pair_msix (pair test: net_pair_msix.conf + .peer.conf): two VMs on a virtio-net peer
 * link. A sends 64 frames of 60..1514 bytes with a pattern, one at a time, then 60 more six at a
 * time; B echoes each (MACs swapped); A checks every echo's length and content, taking rx as MSI-X
 * interrupts. Then "bye": B ends, and A must see LINK_UP clear with a configuration interrupt
 * (MSI-X config vector). See net_pair.h for the roles and the driver. */
#include "net_pair.h"
#include "rt.h"

#define BAR_ADDR     0xc8000000u
#define FRAMES       64
#define BURST_FRAMES 60

static struct net_dev n;

int test_main(unsigned cpu, unsigned ncpus)
{
    net_init(&n, true, BAR_ADDR);
    if (net_is_echo_peer(&n))
        return net_echo_serve(&n, "net_pair_msix");
    RT_CHECK(n.mac[5] == NET_MAC_A[5]);
    RT_CHECK(net_wait_link(&n, true, 3));
    net_handshake(&n, 1);
    uint32_t irqs0 = net_rx_irqs;
    net_exchange(&n, 0, FRAMES, 1);
    uint32_t irqs = net_rx_irqs - irqs0;
    rt_printf("net_pair_msix: %u frames echoed intact, %u rx MSI-X interrupts\n", FRAMES, irqs);
    RT_CHECK(irqs >= FRAMES / 2);
    /* Bursts: several frames in flight, several used entries per interrupt. */
    net_exchange(&n, 1000, BURST_FRAMES, 6);
    rt_printf("net_pair_msix: %u more frames echoed intact, 6 at a time\n", BURST_FRAMES);

    uint32_t seen = net_config_irqs;
    net_bye(&n);
    uint32_t down = net_wait_config_irq(seen, false, 3);
    RT_CHECK(down != 0);
    RT_CHECK(!net_link_up(&n));
    rt_printf("net_pair_msix: peer gone: LINK_UP clear, config interrupt %u\n", down);
    rt_printf("PASS net_pair_msix\n");
    return 0;
}
