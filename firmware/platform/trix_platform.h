/*
 * The platform layer under the firmware app (docs/firmware.md): a byte link to the host and a
 * tick counter. One implementation per target family:
 *   posix/     native and aarch64 (Linux): stdin/stdout, CLOCK_MONOTONIC in ns
 *   cortex-m/  mps2-an385/an386: CMSDK UART0 (polled), SysTick on the 25 MHz CPU clock
 * Test programs do not use this header: on Cortex-M the startup code brings up UART0 and
 * SysTick before main() and the newlib retarget sends printf to UART0.
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
