/* virtio_net_tx: sets up virtio-net's queues through virtio-pci, sends one frame on the tx
 * queue (the doorbell: an ioeventfd under KVM) and takes the used-buffer interrupt as an
 * MSI-X message on the tx queue's vector. Without a peer the card drops the frame, but
 * still gives the buffer back. */
#include "rt.h"
#include "virtio_pci_drv.h"

#define BAR_ADDR   0xc8000000u /* inside the host bridge's 32-bit window */
#define VEC_CONFIG 0x50
#define VEC_TX     0x51

static struct vpd_queue rxq, txq;
static uint8_t frame[12 + 60]; /* virtio_net_hdr_v1 (all zero: no offloads), then Ethernet */

int test_main(unsigned cpu, unsigned ncpus)
{
    struct vpd v;
    RT_CHECK(vpd_find(&v, 1, BAR_ADDR));
    RT_CHECK(v.msix != 0);
    rt_on_irq(VEC_CONFIG, NULL);
    rt_on_irq(VEC_TX, NULL);
    vpd_msix_route(&v, 0, VEC_CONFIG, 0);
    vpd_msix_route(&v, 1, VEC_TX, 0);
    vpd_msix_enable(&v);

    vpd_set_status(&v, 0);
    vpd_set_status(&v, 1 | 2);
    RT_CHECK(vpd_device_features(&v) >> 32 & 1);
    vpd_set_driver_features(&v, 1ull << 32 | 1ull << 5); /* VERSION_1, MAC */
    vpd_set_status(&v, 1 | 2 | 8);
    RT_CHECK(vpd_status(&v) == (1 | 2 | 8));
    *(volatile uint16_t *)(v.common + VPD_MSIX_CFG) = 0;
    RT_CHECK(*(volatile uint16_t *)(v.common + VPD_MSIX_CFG) == 0);
    RT_CHECK(vpd_queue_setup(&v, &rxq, 0, 0xffff));
    RT_CHECK(vpd_queue_setup(&v, &txq, 1, 1));
    vpd_set_status(&v, 1 | 2 | 8 | 4);
    RT_CHECK(vpd_status(&v) == (1 | 2 | 8 | 4));

    for (unsigned i = 0; i < 6; i++) {
        frame[12 + i] = 0xff;                            /* broadcast */
        frame[12 + 6 + i] = (uint8_t)vpd_config8(&v, i); /* from us */
    }
    frame[12 + 12] = 0x88; /* EtherType 0x88b5: local experimental */
    frame[12 + 13] = 0xb5;
    txq.desc[0] = (struct vpd_desc){.addr = (uintptr_t)frame, .len = sizeof(frame)};
    vpd_queue_kick(&txq, 0);
    RT_CHECK(rt_wait_irq(VEC_TX, 1));
    RT_CHECK(vpd_used_idx(&txq) == 1);
    RT_CHECK(txq.used.ring[0].id == 0);
    RT_CHECK((*v.isr & 1) == 0); /* MSI-X: the queue bit stays clear */
    rt_printf("virtio_net_tx: frame sent, used 1, MSI-X vector 0x%x taken %u time(s)\n", VEC_TX,
              rt_irq_count[VEC_TX]);

    vpd_set_status(&v, 0);
    RT_CHECK(vpd_status(&v) == 0);
    rt_printf("PASS virtio_net_tx\n");
    return 0;
}
