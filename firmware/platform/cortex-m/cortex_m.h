/*
 * Cortex-M platform internals shared by startup, retarget and the platform API. A board is
 * one UART driver (cmsdk_uart.c, stm32f4_usart.c, nrf51_uart.c) and one tick source
 * (systick.c, or the nRF51's TIMER0 in nrf51_uart.c), chosen by the target's toolchain file
 * (cmake/toolchain-<target>.cmake: TRIX_UART_DRIVER, TRIX_TICKS) from the target table.
 */
#ifndef TRIX_CORTEX_M_H
#define TRIX_CORTEX_M_H

#include <stdint.h>

#ifndef TRIX_UART_BASE
#error "TRIX_UART_BASE (the board's UART) comes from the target's toolchain file"
#endif
#ifndef TRIX_CPU_HZ
#error "TRIX_CPU_HZ (the clock the UART divisor and the ticks derive from) comes from the toolchain file"
#endif
#define TRIX_UART_BAUD 115200u

/* The board's UART, polled: clocks/pins/baud at TRIX_UART_BAUD, TX and RX enabled. */
void trix_uart_init(void);
void trix_uart_putc(uint8_t c);
int  trix_uart_getc(void);                  /* -1 when no byte is waiting */

/* The tick source: started before main; a free-running 64-bit count at trix_tick_hz(). */
void     trix_ticks_start(void);
uint64_t trix_ticks64(void);
uint32_t trix_tick_hz(void);

/* End the program: prints "\r\n*** trixcfc: exit <code>\r\n" (decimal) on the UART, then
 * requests a system reset (SCB AIRCR SYSRESETREQ). QEMU started with -no-reboot then exits,
 * and host/qemu_run.py exits with <code>; a chip starts again. No semihosting. Does not return. */
void trix_exit(int code) __attribute__((noreturn));

#endif /* TRIX_CORTEX_M_H */
