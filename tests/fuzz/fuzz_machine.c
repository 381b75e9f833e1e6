/* The whole machine, as a hostile guest drives it (in the spirit of QEMU's generic fuzzer):
 * every device module on both transports in one machine (virtio-net on PCI and on
 * virtio-mmio, linked to each other; shmem on PCI and MMIO sharing a region; ser8250;
 * testdev; the mc146818 RTC with its timer), and the input a program of port, MMIO and PCI
 * configuration accesses, guest-RAM writes, machine resets and event-loop steps. The NICs' data
 * threads and the shmem watchers run for real meanwhile, so map changes (BAR moves, COMMAND
 * toggles, shmem attach/detach) race the devices' DMA as they would in a VM: lifetimes across
 * devices. Invariants: no crash, leak, out-of-bounds access or hang; unmapped reads give all ones;
 * the machine comes apart cleanly after every input.
 * FUZZ_ARGS: -max_len=4096 -timeout=20
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fz_transport.h"

extern const struct vdev_type vdev_module_virtio_net;
extern const struct vdev_type vdev_module_shmem;
extern const struct vdev_type vdev_module_ser8250;
extern const struct vdev_type vdev_module_testdev;
extern const struct vdev_type vdev_module_mc146818;

#define NET_MMIO   0xd0000000ull
#define SHMEM_MMIO 0xd0100000ull
#define MAX_OPS    192

static char config[1024];
static char rundir[64];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_rundir(void)
{
    nftw(rundir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup_once(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    struct vdev_err err;
    const struct vdev_type *types[] = {&vdev_module_virtio_net, &vdev_module_shmem,
                                       &vdev_module_ser8250, &vdev_module_testdev,
                                       &vdev_module_mc146818};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (vdev_register_type(types[i], &err)) {
            fprintf(stderr, "fuzz_machine: %s\n", err.msg);
            abort();
        }
    /* Peer-link endpoints and the shmem objects stay private to this process. */
    char tmpl[] = "/tmp/vdevkit-fuzz-machine.XXXXXX";
    const char *rt = mkdtemp(tmpl);
    if (!rt)
        abort();
    snprintf(rundir, sizeof(rundir), "%s", rt);
    atexit(remove_rundir);
    setenv("VDEVKIT_RUNTIME_DIR", rundir, 1);
    unsigned id = (unsigned)getpid();
    snprintf(config, sizeof(config),
             "system fzm%u ram 0,16M "
             "vdev ser8250 hostdev /dev/null "
             "vdev testdev results /dev/null "
             "vdev mc146818 "
             "vdev virtio-net name a peer %s/fzm%u/b mac 52:54:00:00:00:0a "
             "vdev virtio-net loc 0x%llx intr ioapic:10 name b peer %s/fzm%u/a "
             "mac 52:54:00:00:00:0b "
             "vdev shmem allow fzm%u* create fzm%ux,64K "
             "vdev shmem loc 0x%llx intr ioapic:11 allow fzm%u* ",
             id, rundir, id, (unsigned long long)NET_MMIO, rundir, id, id, id,
             (unsigned long long)SHMEM_MMIO, id);
}

/* Where MMIO accesses go: the windows a guest would find (ECAM, both MMIO devices, the
 * PCI windows the BARs are assigned in, the shmem window high up). */
static uint64_t mmio_target(struct fz_in *in)
{
    static const struct {
        uint64_t base, span;
    } win[] = {{FZT_ECAM, 0x100000},           {NET_MMIO, 0x1000},      {SHMEM_MMIO, 0x100000},
               {FZT_MMIO32, 0x200000},         {FZT_MMIO64, 0x4000000}, {0xfec00000, 0x2000},
               {0, 0x1000000 /* RAM itself */}};
    unsigned w = fz_u8(in) % (sizeof(win) / sizeof(win[0]));
    return win[w].base + fz_u32(in) % win[w].span;
}

static uint64_t port_target(struct fz_in *in)
{
    static const uint16_t base[] = {0x3f8, 0xcf8, 0xcfc, 0xf4, FZT_IOWIN, 0x70};
    unsigned b = fz_u8(in) % (sizeof(base) / sizeof(base[0]));
    return base[b] + fz_u16(in) % (base[b] == FZT_IOWIN ? FZT_IOWIN_SIZE : 8);
}

static unsigned access_size(struct fz_in *in)
{
    static const unsigned sizes[] = {1, 2, 4, 8, 4, 4, 3};
    return sizes[fz_u8(in) % (sizeof(sizes) / sizeof(sizes[0]))];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    static struct fzt t;
    fzt_build(&t, config, true);
    struct fz_machine *fm = &t.fm;
    struct fz_in in = {data, size};
    for (unsigned op = 0; op < MAX_OPS && fz_left(&in); op++) {
        uint8_t kind = fz_u8(&in);
        switch (kind % 8) {
        case 0:
        case 1: { /* MMIO */
            uint64_t a = mmio_target(&in);
            unsigned sz = access_size(&in);
            bool wr = kind & 0x80;
            fzt_io(&t, VDEV_SPACE_MEM, a, sz, wr, fz_u64(&in), NULL);
            break;
        }
        case 2: { /* port I/O, CF8/CFC included */
            uint64_t p = port_target(&in);
            unsigned sz = access_size(&in);
            fzt_io(&t, VDEV_SPACE_IO, p, sz, kind & 0x80, fz_u32(&in), NULL);
            break;
        }
        case 3: { /* configuration space of one of the first 8 slots, through ECAM */
            uint64_t a = FZT_ECAM + ((uint64_t)(fz_u8(&in) % 8) << 15) + fz_u16(&in) % 0x1000;
            unsigned sz = access_size(&in);
            fzt_io(&t, VDEV_SPACE_MEM, a, sz, kind & 0x80, fz_u32(&in), NULL);
            break;
        }
        case 4:
        case 5: { /* guest RAM: rings, descriptors, buffers */
            uint32_t off = fz_u32(&in) % (uint32_t)fm->ram[0].size;
            size_t len = fz_u8(&in);
            if (len > fm->ram[0].size - off)
                len = fm->ram[0].size - off;
            fz_take(&in, fm->ram[0].host + off, len);
            break;
        }
        case 6: /* the devices' threads and the event loop get to run */
            vdev_machine_poll(fm->m, 0);
            usleep(fz_u8(&in) % 64);
            break;
        case 7:
            if (kind & 0x80)
                vdev_machine_reset(fm->m);
            else
                vdev_machine_poll(fm->m, 0);
            break;
        }
    }
    if (getenv("FZ_VERBOSE")) { /* how deep an input got: the MMIO NIC's status, interrupts */
        uint64_t st = fzt_io(&t, VDEV_SPACE_MEM, NET_MMIO + 0x70, 4, false, 0, NULL);
        usleep(20000);
        fprintf(stderr,
                "fuzz_machine: net mmio status 0x%llx, %lu line raises, %lu MSIs, %lu log lines\n",
                (unsigned long long)st, fm->irq_raises, fm->msis, fm->log_lines);
    }
    fzt_free(&t);
    return 0;
}
