/* net_linkdown (pair test; net_linkdown.peer.conf has "tiny-peer-runs: 2" and
 * "tiny-peer-kill-on: ..."): A and B link up and exchange frames; then A asks B to wait,
 * and the runner kills B's VMM (SIGKILL: no orderly shutdown). A must see LINK_UP clear
 * with a configuration interrupt (MSI-X config vector). A frame A sends while the link is
 * down is given back at once (and must never reach the next peer). The runner starts B
 * again: A must see LINK_UP set with another configuration interrupt, then exchange frames
 * with the new B and end it with "bye". */
#include "net_pair.h"
#include "rt.h"

#define BAR_ADDR 0xc8000000u

static struct net_dev n;
static uint8_t frame[NET_FRAME_MAX];

int test_main(unsigned cpu, unsigned ncpus)
{
    net_init(&n, true, BAR_ADDR);
    if (net_is_echo_peer(&n))
        return net_echo_serve(&n, "net_linkdown");
    RT_CHECK(n.mac[5] == NET_MAC_A[5]);
    RT_CHECK(net_wait_link(&n, true, 3));
    net_handshake(&n, 1);
    net_exchange(&n, 0, 4, 1);

    uint32_t seen = net_config_irqs;
    net_request(&n, NET_KIND_WAIT); /* B says so; the runner kills it */
    uint32_t down = net_wait_config_irq(seen, false, 3);
    RT_CHECK(down != 0);
    RT_CHECK(!net_link_up(&n));
    rt_printf("net_linkdown: peer killed: LINK_UP clear, config interrupt %u\n", down);
    /* A data frame while down: given back at once; were it queued, the new peer would echo
     * it and the handshake below would fail on a data frame. */
    net_frame(&n, frame, NET_MAC_B, NET_KIND_DATA, 1000, 200);
    net_send(&n, frame, 200);

    uint32_t up = net_wait_config_irq(down, true, 3);
    RT_CHECK(up != 0);
    RT_CHECK(net_link_up(&n));
    rt_printf("net_linkdown: peer back: LINK_UP set, config interrupt %u\n", up);
    net_handshake(&n, 2);
    net_exchange(&n, 100, 8, 4);
    rt_printf("net_linkdown: 8 frames echoed intact by the restarted peer\n");
    net_bye(&n);
    rt_printf("PASS net_linkdown\n");
    return 0;
}
