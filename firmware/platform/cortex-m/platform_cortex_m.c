/* The platform API (trix_platform.h) on the MPS2 boards: UART0 polled, SysTick ticks. */
#include "trix_platform.h"
#include "cmsdk_uart.h"
#include "cortex_m.h"

int trix_platform_read(uint8_t *buf, int max)
{
    int n = 0, c;
    if (max <= 0) return 0;
    while ((c = cmsdk_uart_getc(CMSDK_UART0_BASE)) < 0) {   /* wait for the first byte */
    }
    buf[n++] = (uint8_t)c;
    while (n < max && (c = cmsdk_uart_getc(CMSDK_UART0_BASE)) >= 0) buf[n++] = (uint8_t)c;
    return n;
}

void trix_platform_write(const uint8_t *buf, int len)
{
    int i;
    for (i = 0; i < len; i++) cmsdk_uart_putc(CMSDK_UART0_BASE, buf[i]);
}

uint32_t trix_platform_ticks(void) { return (uint32_t)trix_systick_ticks64(); }

/* SysTick counts the processor clock (25 MHz MPS2, 32 MHz AN547). Under `qemu-system-arm
 * -icount shift=0` one instruction advances virtual time by 1 ns, so one tick = 1e9 / tick_hz
 * instructions: 40 on MPS2, 31.25 on AN547 (docs/firmware.md). */
uint32_t trix_platform_tick_hz(void) { return TRIX_CPU_HZ; }
