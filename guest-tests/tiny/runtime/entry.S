/* Entry, segment loading, the drop to CPL3 and the interrupt stubs. */
#include "rt.h"

    .code64
    .section .text.entry, "ax"

/* Every vCPU starts here at CPL0, interrupts off: rdi = vCPU index, rsi = vCPU count, rsp =
 * a 4 KiB boot stack below 0x20000. Move to this vCPU's kernel stack, which later serves as
 * the TSS's RSP0, and let C do the rest. */
    .globl _start
_start:
    cli
    cmp $RT_MAX_CPUS, %rdi
    jae 1f
    lea 1(%rdi), %rax
    imul $RT_STACK_SIZE, %rax
    lea rt_kstacks(%rax), %rsp
    call rt_cpu_start               /* (cpu, ncpus); does not return */
1:  mov $RT_EXIT_SETUP, %al
    out %al, $RT_TESTDEV
2:  hlt
    jmp 2b

    .text

/* void rt_load_gdt(const void *gdtr, unsigned tss_sel): loads the GDT, reloads every segment
 * register (CS through a far return) and the task register. */
    .globl rt_load_gdt
rt_load_gdt:
    lgdt (%rdi)
    mov $RT_KDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    pushq $RT_KCODE
    lea 1f(%rip), %rax
    push %rax
    lretq
1:  ltr %si
    ret

/* void rt_enter_user(void *rip, void *rsp, uint64_t a0, uint64_t a1): iretq to CPL3 with
 * IF=1 and IOPL=3, calling rip(a0, a1) on the stack rsp. */
    .globl rt_enter_user
rt_enter_user:
    pushq $RT_UDATA                 /* ss */
    pushq %rsi                      /* rsp */
    pushq $0x3202                   /* rflags: IOPL 3, IF, reserved bit 1 */
    pushq $RT_UCODE                 /* cs */
    pushq %rdi                      /* rip */
    mov $RT_UDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %rdx, %rdi
    mov %rcx, %rsi
    iretq

/* 256 stubs, 16 bytes apart (rt.c computes their addresses): each pushes a dummy error code
 * where the CPU pushes none, then the vector. */
    .altmacro
    .macro isr_stub v
    .balign 16
    .if (\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    .else
    pushq $0
    .endif
    pushq $\v
    jmp rt_isr_common
    .endm

    .balign 16
    .globl rt_isr_stubs
rt_isr_stubs:
    .set vec, 0
    .rept 256
    isr_stub %vec
    .set vec, vec + 1
    .endr
    .balign 16
    .globl rt_isr_stubs_end
rt_isr_stubs_end:                   /* link.ld checks the size */

/* Saves the registers as struct rt_frame, calls rt_trap(frame), restores, returns. The stack
 * is 16-byte aligned at the call: the CPU aligns it before pushing its 5-word frame, and
 * 2 + 15 words follow. */
rt_isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    call rt_trap
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp                   /* vector, error code */
    iretq

    .section .note.GNU-stack, "", @progbits
