/* The platform API (trix_platform.h) on every Cortex-M board: its UART polled, its tick source. */
#include "trix_platform.h"
#include "cortex_m.h"

int trix_platform_read(uint8_t *buf, int max)
{
    int n = 0, c;
    if (max <= 0) return 0;
    while ((c = trix_uart_getc()) < 0) {   /* wait for the first byte */
    }
    buf[n++] = (uint8_t)c;
    while (n < max && (c = trix_uart_getc()) >= 0) buf[n++] = (uint8_t)c;
    return n;
}

void trix_platform_write(const uint8_t *buf, int len)
{
    int i;
    for (i = 0; i < len; i++) trix_uart_putc(buf[i]);
}

uint32_t trix_platform_ticks(void) { return (uint32_t)trix_ticks64(); }

/* SysTick on the processor clock (25 MHz MPS2, 32 MHz AN547, ...) or the nRF51's 16 MHz TIMER0.
 * Under `qemu-system-arm -icount shift=0` one instruction advances virtual time by 1 ns, so one
 * tick = 1e9 / tick_hz instructions: 40 on MPS2, 31.25 on AN547, 62.5 on the nRF51
 * (docs/firmware.md). */
uint32_t trix_platform_tick_hz(void) { return trix_tick_hz(); }
