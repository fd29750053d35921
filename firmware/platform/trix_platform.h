/*
 * The platform layer under the firmware app (docs/firmware.md): a byte link to the host and a
 * tick counter. One implementation per target family:
 *   posix/     native and aarch64 (Linux): stdin/stdout, CLOCK_MONOTONIC in ns
 *   cortex-m/  every bare-metal target: the board's UART (polled; CMSDK, STM32F4 USART, nRF51
 *              UART) and tick source (SysTick, or the nRF51's TIMER0), chosen by the target's
 *              toolchain file (cortex_m.h)
 * Test programs do not use this header: on Cortex-M the startup code brings up the UART and
 * the ticks before main() and the newlib retarget sends printf to the UART.
 */
#ifndef TRIX_PLATFORM_H
#define TRIX_PLATFORM_H

#include <stdint.h>

/* Blocks until at least one byte arrived; returns how many were stored (1..max), or 0 when
 * the input has ended (EOF on stdin; never on a board). */
int      trix_platform_read(uint8_t *buf, int max);
/* Sends all len bytes (blocking). */
void     trix_platform_write(const uint8_t *buf, int len);
/* Free-running tick counter (wraps modulo 2^32) and its rate; rate 0 = no counter. */
uint32_t trix_platform_ticks(void);
uint32_t trix_platform_tick_hz(void);

#endif /* TRIX_PLATFORM_H */
