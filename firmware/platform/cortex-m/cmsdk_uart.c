/*
 * CMSDK APB UART, polled (no interrupts, no FIFO: one byte each way).
 * Registers: DATA 0x00, STATE 0x04 (bit0 TX full, bit1 RX full), CTRL 0x08 (bit0 TX enable,
 * bit1 RX enable), INTSTATUS/INTCLEAR 0x0C, BAUDDIV 0x10 (clock / baud, at least 16).
 * QEMU's model drops bytes written while TX is disabled and accepts input only while RX is
 * enabled; its chardev back end holds further input until DATA has been read (no overrun).
 */
#include "cmsdk_uart.h"

#define REG(base, off) (*(volatile uint32_t *)((base) + (off)))
#define UART_DATA      0x00u
#define UART_STATE     0x04u
#define UART_CTRL      0x08u
#define UART_INTCLEAR  0x0Cu
#define UART_BAUDDIV   0x10u
#define STATE_TX_FULL  0x1u
#define STATE_RX_FULL  0x2u
#define STATE_OVERRUNS 0xCu
#define CTRL_TX_EN     0x1u
#define CTRL_RX_EN     0x2u

void cmsdk_uart_init(uint32_t base, uint32_t clock_hz, uint32_t baud)
{
    uint32_t div = clock_hz / baud;
    REG(base, UART_CTRL) = 0;
    REG(base, UART_BAUDDIV) = div < 16u ? 16u : div;
    REG(base, UART_STATE) = STATE_OVERRUNS;   /* write 1 to clear overrun flags */
    REG(base, UART_INTCLEAR) = 0xFu;
    REG(base, UART_CTRL) = CTRL_TX_EN | CTRL_RX_EN;
}

void cmsdk_uart_putc(uint32_t base, uint8_t c)
{
    while (REG(base, UART_STATE) & STATE_TX_FULL) {
    }
    REG(base, UART_DATA) = c;
}

int cmsdk_uart_getc(uint32_t base)
{
    if (!(REG(base, UART_STATE) & STATE_RX_FULL)) return -1;
    return (int)(REG(base, UART_DATA) & 0xFFu);
}
