/* CMSDK APB UART (ARM DDI0479C), polled: UART0 of the MPS2 boards at 0x40004000 (MPS3 AN547:
 * 0x49303000). The build passes the board's TRIX_UART0_BASE and TRIX_CPU_HZ. */
#ifndef CMSDK_UART_H
#define CMSDK_UART_H

#include <stdint.h>

#ifndef TRIX_UART0_BASE
#define TRIX_UART0_BASE  0x40004000u
#endif
#ifndef TRIX_CPU_HZ
#define TRIX_CPU_HZ      25000000u    /* MPS2 AN385/AN386 processor and peripheral clock (AN547: 32 MHz) */
#endif
#define CMSDK_UART0_BASE TRIX_UART0_BASE
#define TRIX_UART_BAUD   115200u

void cmsdk_uart_init(uint32_t base, uint32_t clock_hz, uint32_t baud);
void cmsdk_uart_putc(uint32_t base, uint8_t c);
int  cmsdk_uart_getc(uint32_t base);          /* -1 when no byte is waiting */

#endif /* CMSDK_UART_H */
