/*
 * Ticks from SysTick (ARMv7-M and later; the nRF51's Cortex-M0 has none, see nrf51_uart.c):
 * the 24-bit down-counter on the processor clock (CLKSOURCE = 1), reload 0xFFFFFF, the wrap
 * interrupt counted in software -> a 64-bit count at TRIX_CPU_HZ. Under qemu-system-arm
 * -icount shift=0 one instruction is 1 ns of virtual time, so one tick is 1e9 / TRIX_CPU_HZ
 * instructions (docs/firmware.md). DWT_CYCCNT is not modelled by QEMU (reads 0).
 */
#include "cortex_m.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE    0x1u
#define SYST_CSR_TICKINT   0x2u
#define SYST_CSR_CLKSOURCE 0x4u    /* processor clock */
#define SYST_RELOAD        0x00FFFFFFu

static volatile uint32_t systick_wraps;

void SysTick_Handler(void);
void SysTick_Handler(void) { systick_wraps++; }

void trix_ticks_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
}

uint64_t trix_ticks64(void)
{
    uint32_t w0, w1, cvr;
    do {   /* re-read when a wrap was taken in between */
        w0 = systick_wraps;
        cvr = SYST_CVR;
        w1 = systick_wraps;
    } while (w0 != w1);
    return (uint64_t)w0 * (SYST_RELOAD + 1u) + (SYST_RELOAD - cvr);
}

uint32_t trix_tick_hz(void) { return TRIX_CPU_HZ; }
