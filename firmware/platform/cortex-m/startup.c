/*
 * Cortex-M3/M4/M55 startup for the MPS2/MPS3 boards (QEMU mps2-an385 / mps2-an386 /
 * mps3-an547; on the AN547 the core runs in Secure state, QEMU lets it reach UART0 at its
 * 0x49303000 address).
 * Reset: copy .data from its load address, zero .bss, bring up UART0 (stdout of the test
 * programs, the protocol link of trix_fw) and SysTick, run main(); main's return value goes
 * through exit() (flushes newlib stdio when a program used it) to _exit() -> semihosting
 * SYS_EXIT_EXTENDED, so QEMU exits with main's return code.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cmsdk_uart.h"
#include "cortex_m.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);

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
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* FPU / Helium code may be generated (M55 softfp): grant CP10 and CP11 full access. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    cmsdk_uart_init(CMSDK_UART0_BASE, TRIX_CPU_HZ, TRIX_UART_BAUD);
    trix_systick_start();
    exit(main());
}

/* A fault must not hang a test run: report where it happened and exit QEMU with code 125.
 * The naked entry hands the exception stack frame (r0-r3, r12, lr, pc, xPSR) to C. */
static void put_str(const char *s)
{
    for (; *s; s++) cmsdk_uart_putc(CMSDK_UART0_BASE, (uint8_t)*s);
}

static void put_hex(const char *label, uint32_t v)
{
    int i;
    put_str(label);
    for (i = 28; i >= 0; i -= 4) cmsdk_uart_putc(CMSDK_UART0_BASE, (uint8_t)"0123456789abcdef"[(v >> i) & 0xFu]);
}

void trix_fault_report(const uint32_t *frame) __attribute__((noreturn, used));
void trix_fault_report(const uint32_t *frame)
{
    put_str("\r\n*** trixcfc: HardFault");
    put_hex(" pc=0x", frame[6]);
    put_hex(" lr=0x", frame[5]);
    put_hex(" cfsr=0x", *(volatile uint32_t *)0xE000ED28u);
    put_hex(" bfar=0x", *(volatile uint32_t *)0xE000ED38u);
    put_str("\r\n");
    trix_semihost_exit(125);
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "b trix_fault_report\n\t");
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    put_hex("\r\n*** trixcfc: unexpected exception ", ipsr & 0x1FFu);
    put_str("\r\n");
    trix_semihost_exit(126);
}

/* ---- SysTick: 24-bit down-counter on the processor clock, wraps counted in software ---- */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE    0x1u
#define SYST_CSR_TICKINT   0x2u
#define SYST_CSR_CLKSOURCE 0x4u    /* processor clock (25 MHz on MPS2, 32 MHz on AN547) */
#define SYST_RELOAD        0x00FFFFFFu

static volatile uint32_t systick_wraps;

void trix_systick_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

void SysTick_Handler(void) { systick_wraps++; }

uint64_t trix_systick_ticks64(void)
{
    uint32_t w0, w1, cvr;
    do {   /* re-read when a wrap was taken in between */
        w0 = systick_wraps;
        cvr = SYST_CVR;
        w1 = systick_wraps;
    } while (w0 != w1);
    return (uint64_t)w0 * (SYST_RELOAD + 1u) + (SYST_RELOAD - cvr);
}

/* ---- semihosting ---- */
#define SEMIHOST_SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void trix_semihost_exit(int code)
{
    /* Parameter block {reason, subcode}: QEMU exits with the subcode (plain SYS_EXIT on
     * AArch32 cannot carry an exit status). */
    volatile uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    {
        register uint32_t r0 __asm__("r0") = SEMIHOST_SYS_EXIT_EXTENDED;
        register uint32_t r1 __asm__("r1") = (uint32_t)(uintptr_t)block;
        __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    }
    for (;;) {   /* no debugger/semihosting: stop here */
    }
}
