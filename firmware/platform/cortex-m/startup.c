/*
 * Cortex-M startup for every Cortex-M target (ARMv6-M to ARMv8.1-M: the MPS2/MPS3 boards, the
 * STM32F405, the nRF51; on mps2-an505 and mps3-an547 the core runs in Secure state and uses
 * the secure alias of UART0).
 * Reset: copy .data from its load address, zero .bss, bring up the board's UART (stdout of the
 * test programs, the protocol link of trix_fw) and tick source, run main(); main's return value goes
 * through exit() (flushes newlib stdio when a program used it) to _exit() -> trix_exit(): the
 * exit marker with the code on the UART, then a system reset. No semihosting: under QEMU (started
 * with -no-reboot by host/qemu_run.py) the reset ends QEMU and the runner reads the code from the
 * marker (docs/firmware.md, "Exit codes and fault reports").
 */
#include <stdint.h>
#include <stdlib.h>

#include "cortex_m.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;

/* The reserved stack below Reset_Handler's frame is painted with this word at reset, so its
 * high-water mark can be read from outside (the host reads it through QEMU's monitor:
 * docs/host.md, "Soak"). */
#define TRIX_STACK_PAINT 0xC5C5C5C5u
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));   /* systick.c */

/* Exceptions 1..15 and the first external interrupts of the boards (all unused: default). */
typedef void (*vector_t)(void);
__attribute__((section(".isr_vector"), used))
const vector_t trix_vectors[16 + 32] = {
    (vector_t)(uintptr_t)&_estack,   /* initial main stack pointer */
    Reset_Handler,
    Default_Handler,                 /* NMI */
    HardFault_Handler,
    HardFault_Handler,               /* MemManage */
    HardFault_Handler,               /* BusFault */
    HardFault_Handler,               /* UsageFault */
    0, 0, 0, 0,
    Default_Handler,                 /* SVCall */
    Default_Handler,                 /* DebugMon */
    0,
    Default_Handler,                 /* PendSV */
    SysTick_Handler,
    [16 ... 47] = Default_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
    {
        uint32_t *sp;
        __asm__ volatile("mov %0, sp" : "=r"(sp));
        for (dst = &_sstack; dst < sp - 16; dst++) *dst = TRIX_STACK_PAINT;   /* 64 B below the frame */
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* FPU / Helium code may be generated (M55 softfp): grant CP10 and CP11 full access. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    trix_uart_init();
    trix_ticks_start();
    exit(main());
}

/* A fault must not hang a test run: report where it happened and exit with code 125.
 * The naked entry hands the exception stack frame (r0-r3, r12, lr, pc, xPSR) to C. */
static void put_str(const char *s)
{
    for (; *s; s++) trix_uart_putc((uint8_t)*s);
}

static void put_hex(const char *label, uint32_t v)
{
    int i;
    put_str(label);
    for (i = 28; i >= 0; i -= 4) trix_uart_putc((uint8_t)"0123456789abcdef"[(v >> i) & 0xFu]);
}

void trix_fault_report(const uint32_t *frame) __attribute__((noreturn, used));
void trix_fault_report(const uint32_t *frame)
{
    put_str("\r\n*** trixcfc: HardFault");
    put_hex(" pc=0x", frame[6]);
    put_hex(" lr=0x", frame[5]);
#if !defined(__ARM_ARCH_6M__)   /* ARMv6-M has no CFSR/BFAR */
    put_hex(" cfsr=0x", *(volatile uint32_t *)0xE000ED28u);
    put_hex(" bfar=0x", *(volatile uint32_t *)0xE000ED38u);
#endif
    put_str("\r\n");
    trix_exit(125);
}

__attribute__((naked)) void HardFault_Handler(void)
{
#if defined(__ARM_ARCH_6M__)   /* Thumb-1: no IT blocks, TST on low registers only */
    __asm__ volatile(
        "movs r0, #4\n\t"
        "mov r1, lr\n\t"
        "tst r0, r1\n\t"
        "bne 1f\n\t"
        "mrs r0, msp\n\t"
        "b trix_fault_report\n"
        "1:\n\t"
        "mrs r0, psp\n\t"
        "b trix_fault_report\n\t");
#else
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "b trix_fault_report\n\t");
#endif
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    put_hex("\r\n*** trixcfc: unexpected exception ", ipsr & 0x1FFu);
    put_str("\r\n");
    trix_exit(126);
}

/* ---- exit: the end marker on the UART, then a system reset ---- */
#define SCB_AIRCR              (*(volatile uint32_t *)0xE000ED0Cu)
#define AIRCR_VECTKEY          (0x05FAu << 16)
#define AIRCR_PRIGROUP_MASK    (0x7u << 8)     /* kept as it is (RAZ on ARMv6-M) */
#define AIRCR_SYSRESETREQ      (1u << 2)

static void put_dec(int v)
{
    char digits[10];
    int n = 0;
    uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
    if (v < 0) trix_uart_putc('-');
    do {
        digits[n++] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u);
    while (n) trix_uart_putc((uint8_t)digits[--n]);
}

void trix_exit(int code)
{
    /* The one exit path (main's return, exit(), the fault handlers): the fixed line
     * "*** trixcfc: exit <code>" tells whoever reads the UART how the program ended ... */
    __asm__ volatile("cpsid i" ::: "memory");
    put_str("\r\n*** trixcfc: exit ");
    put_dec(code);
    put_str("\r\n");
    /* ... and a system reset request ends the run: QEMU started with -no-reboot exits (every
     * board of the target table, measured on QEMU 7.2), otherwise the guest starts again, as a
     * chip does. */
    __asm__ volatile("dsb" ::: "memory");
    SCB_AIRCR = AIRCR_VECTKEY | (SCB_AIRCR & AIRCR_PRIGROUP_MASK) | AIRCR_SYSRESETREQ;
    __asm__ volatile("dsb" ::: "memory");
    for (;;) {   /* the reset takes effect */
    }
}
