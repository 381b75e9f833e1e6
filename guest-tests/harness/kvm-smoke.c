/* kvm-smoke: proves a /dev/kvm works, with the classic KVM "hello world".
 *
 * One VM, one 4 KiB memory slot at guest-physical 0x1000, one vCPU in 16-bit
 * real mode (CS base/selector 0, RIP 0x1000) running code that writes bytes to
 * I/O port 0x3f8 (one of them computed by the guest, to show it really executes)
 * and halts. Prints the bytes it sees in KVM_EXIT_IO and "kvm-smoke: ok" on
 * KVM_EXIT_HLT. Exit 0 on success; otherwise prints the failing ioctl and errno.
 *
 * Build static (gcc -static) so it runs in a bare initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_ADDR 0x1000
#define OUT_PORT   0x3f8

static void die(const char *what)
{
    fprintf(stderr, "kvm-smoke: %s failed: %s (errno %d)\n", what, strerror(errno), errno);
    exit(1);
}

static void fail(const char *msg)
{
    fprintf(stderr, "kvm-smoke: %s\n", msg);
    exit(1);
}

int main(void)
{
    /* 16-bit real mode code. */
    static const uint8_t code[] = {
        0xba, 0xf8, 0x03,       /* mov  $0x3f8, %dx              */
        0xb0, 'h',  0xee,       /* mov  $'h', %al ; out %al, (%dx) */
        0xb0, 'i',  0xee,       /* mov  $'i', %al ; out %al, (%dx) */
        0xb0, ' ',  0xee,       /* mov  $' ', %al ; out %al, (%dx) */
        0xb0, '2',  0x04, 0x05, /* mov  $'2', %al ; add $5, %al    */
        0xee,                   /* out  %al, (%dx)   -> '7'        */
        0xb0, '\n', 0xee,       /* mov  $'\n', %al ; out %al, (%dx) */
        0xf4,                   /* hlt                             */
    };
    static const char expect[] = "hi 7\n";

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("open /dev/kvm");

    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api < 0)
        die("KVM_GET_API_VERSION");
    if (api != KVM_API_VERSION) {
        fprintf(stderr, "kvm-smoke: KVM_GET_API_VERSION = %d, expected %d\n", api, KVM_API_VERSION);
        return 1;
    }
    printf("kvm-smoke: KVM API version %d\n", api);

    int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm < 0)
        die("KVM_CREATE_VM");

    uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap guest memory");
    memcpy(mem, code, sizeof(code));

    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = GUEST_ADDR,
        .memory_size = 0x1000,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");

    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");

    struct kvm_regs regs = {
        .rip = GUEST_ADDR, .rflags = 0x2, /* bit 1 is reserved and must be set */
    };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");

    char got[64];
    size_t ngot = 0;
    for (int exits = 0; exits < 1000; exits++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            die("KVM_RUN");
        }
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != OUT_PORT ||
                run->io.size != 1) {
                fprintf(stderr, "kvm-smoke: unexpected I/O exit: dir %u port 0x%x size %u\n",
                        run->io.direction, run->io.port, run->io.size);
                return 1;
            }
            for (uint32_t i = 0; i < run->io.count; i++) {
                char c = ((char *)run)[run->io.data_offset + i];
                if (ngot < sizeof(got) - 1)
                    got[ngot++] = c;
                printf("kvm-smoke: out 0x%x <- 0x%02x", OUT_PORT, (unsigned char)c);
                if (c >= 0x20 && c < 0x7f)
                    printf(" '%c'", c);
                printf("\n");
            }
            break;
        case KVM_EXIT_HLT:
            got[ngot] = '\0';
            if (strcmp(got, expect) != 0)
                fail("guest wrote unexpected bytes");
            printf("kvm-smoke: guest halted after %zu bytes\n", ngot);
            printf("kvm-smoke: ok\n");
            return 0;
        case KVM_EXIT_FAIL_ENTRY:
            fprintf(stderr, "kvm-smoke: KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx\n",
                    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
            return 1;
        case KVM_EXIT_INTERNAL_ERROR:
            fprintf(stderr, "kvm-smoke: KVM_EXIT_INTERNAL_ERROR, suberror %u\n",
                    run->internal.suberror);
            return 1;
        default:
            fprintf(stderr, "kvm-smoke: unexpected exit reason %u\n", run->exit_reason);
            return 1;
        }
    }
    fail("no KVM_EXIT_HLT after 1000 exits");
    return 1;
}
