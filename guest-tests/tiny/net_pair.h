/* Two tiny guests on a virtio-net peer link (the tier-2 pair tests, run-tiny-tests.sh runs
 * NAME.conf and NAME.peer.conf at once). Both VMs load the same ELF; the MAC from the
 * device's configuration picks the role: NET_MAC_A (…:01) is the tester, NET_MAC_B (…:02)
 * the echo peer, which sends every frame back with the MACs swapped until a "bye" frame.
 *
 * On top of virtio_pci_drv or virtio_mmio_drv (the few transport calls go through small
 * helpers in net_pair.c that pick one by n->transport): the rx queue with posted buffers,
 * tx, the link status and the configuration-change interrupt. Interrupts: on PCI, MSI-X
 * (entry 0 config, entry 1 rx) or INTx (MSI-X left disabled; the IOAPIC input from the
 * interrupt line register; the handler reads the ISR, which clears it and lowers the line);
 * on MMIO, the level line `intr` names (the handler reads InterruptStatus and ACKs what it
 * read, which lowers the line). Frames are consumed only after an interrupt announced them,
 * so a device that fails to interrupt fails the test (no polling). */
#ifndef TINY_NET_PAIR_H
#define TINY_NET_PAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_mmio_drv.h"
#include "virtio_pci_drv.h"

#define NET_ETHERTYPE 0x88b5 /* local experimental */
#define NET_HDR_LEN   12     /* virtio_net_hdr_v1 */
#define NET_FRAME_MAX 1514
/* Frame kinds (byte 14, after the Ethernet header); byte 15.. is a sequence number. */
#define NET_KIND_HELLO 'H' /* handshake: the peer's driver is up and echoing */
#define NET_KIND_DATA  'D'
#define NET_KIND_BYE   'B' /* the echo peer echoes it, then ends its VM with status 0 */
#define NET_KIND_WAIT  'W' /* the echo peer echoes it, then waits to be killed (runner) */

enum net_transport { NET_PCI, NET_MMIO };

struct net_dev {
    enum net_transport transport;
    struct vpd pci;     /* NET_PCI */
    struct vmd mmio;    /* NET_MMIO */
    bool intx;          /* PCI INTx (MSI-X disabled) */
    unsigned intx_line; /* the IOAPIC input of INTx or of the MMIO line */
    uint8_t mac[6];
    struct vpd_queue rxq, txq;
    uint16_t rx_next;  /* next used entry to consume */
    uint16_t rx_known; /* used index seen by the last interrupt we consumed */
    uint32_t rx_irqs_consumed;
};

/* Interrupts taken: rx (MSI-X rx vector, or a line interrupt with status bit 0),
 * configuration changes (MSI-X config vector, or status bit 1), line interrupts with status
 * 0 (INTx or the MMIO line raised without a reason). */
extern volatile uint32_t net_rx_irqs, net_config_irqs, net_isr_zero;
/* The link status read by the handler of configuration interrupt i (i < 16). */
extern volatile uint16_t net_config_status[16];

/* Finds the card, puts BAR 0 at `bar_addr`, negotiates VERSION_1|MAC|STATUS, sets up rx
 * (all buffers posted) and tx, and the interrupts (MSI-X or INTx). Checks as it goes. */
void net_init(struct net_dev *n, bool msix, uint32_t bar_addr);
/* The same for a card on virtio-mmio at `base` (found there: magic, version 2, net) whose
 * level line is IOAPIC input `gsi` (active high, as its ACPI node says). */
void net_init_mmio(struct net_dev *n, uint32_t base, unsigned gsi);
bool net_link_up(struct net_dev *n);
/* A receive slice of an echo peer's wait: between slices it checks that the link is still up. */
#define NET_SLICE_TICKS (RT_WAIT_TICKS / 10)
/* Waits until LINK_UP shows `up` (up to about `rounds` RT_HANG_TICKS); true if it did. */
bool net_wait_link(struct net_dev *n, bool up, unsigned rounds);
/* Waits for a configuration interrupt beyond `seen` whose handler read LINK_UP == `up`;
 * returns the number of configuration interrupts by then, 0 on timeout. */
uint32_t net_wait_config_irq(uint32_t seen, bool up, unsigned rounds);
/* Sends one frame (Ethernet header included, 60..NET_FRAME_MAX bytes) and waits until the
 * device gives the buffer back. */
void net_send(struct net_dev *n, const uint8_t *frame, unsigned len);
/* Receives one frame into buf (Ethernet header on, virtio header checked and stripped);
 * waits at most `ticks` TSC ticks for the interrupt announcing it. -1 on timeout. */
int net_recv(struct net_dev *n, uint8_t *buf, unsigned cap, uint64_t ticks);

/* Builds a frame to `dst` from us: kind, sequence number, then a pattern of `len` bytes. */
void net_frame(struct net_dev *n, uint8_t *f, const uint8_t *dst, uint8_t kind, uint32_t seq,
               unsigned len);
/* True if f (len bytes) is exactly what net_frame built with these arguments, sent by `src`
 * to us (the echo swaps the MACs). */
bool net_frame_is(struct net_dev *n, const uint8_t *f, unsigned len, const uint8_t *src,
                  uint8_t kind, uint32_t seq, unsigned want_len);

extern const uint8_t NET_MAC_A[6], NET_MAC_B[6];
/* True in the echo peer's VM (our MAC is NET_MAC_B). */
bool net_is_echo_peer(const struct net_dev *n);
/* The echo peer's life after net_init: waits for the link, echoes until "bye", prints
 * "TEST: echo peer: echoed N data frames, H hellos, then bye" and returns 0. After a
 * "wait" frame it prints "TEST: echo peer: echoed N data frames, waiting to be killed"
 * and spins (failing if it is still alive some 15 s later). */
int net_echo_serve(struct net_dev *n, const char *test);
/* Tester: sends hellos until one comes back (round `round` numbers them). */
void net_handshake(struct net_dev *n, uint32_t round);
/* Tester: `count` data frames of varied sizes (60..1514 bytes), `window` (1..7) at a time,
 * each echo checked in order, byte for byte. */
void net_exchange(struct net_dev *n, uint32_t first_seq, unsigned count, unsigned window);
/* Tester: sends a NET_KIND_BYE or NET_KIND_WAIT frame and waits for its echo. */
void net_request(struct net_dev *n, uint8_t kind);
/* Tester: tells the peer to end; waits for the echo of "bye". */
static inline void net_bye(struct net_dev *n)
{
    net_request(n, NET_KIND_BYE);
}

#endif
