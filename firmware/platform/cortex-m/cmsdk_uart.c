/*
 * CMSDK APB UART (ARM DDI0479C), polled (no interrupts, no FIFO: one byte each way): UART0 of
 * the MPS2/MPS3 FPGA boards (0x40004000 on mps2-an385/an386/an500, 0x50200000 secure alias on
 * mps2-an505, 0x49303000 on mps3-an547; TRIX_UART_BASE from the toolchain file).
 * Registers: DATA 0x00, STATE 0x04 (bit0 TX full, bit1 RX full), CTRL 0x08 (bit0 TX enable,
 * bit1 RX enable), INTSTATUS/INTCLEAR 0x0C, BAUDDIV 0x10 (clock / baud, at least 16).
 * QEMU's model drops bytes written while TX is disabled and accepts input only while RX is
 * enabled; its chardev back end holds further input until DATA has been read (no overrun).
 */
#include "cortex_m.h"

#define REG(off)       (*(volatile uint32_t *)(TRIX_UART_BASE + (off)))
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

void trix_uart_init(void)
{
    const uint32_t div = TRIX_CPU_HZ / TRIX_UART_BAUD;
    REG(UART_CTRL) = 0;
    REG(UART_BAUDDIV) = div < 16u ? 16u : div;
    REG(UART_STATE) = STATE_OVERRUNS;   /* write 1 to clear overrun flags */
    REG(UART_INTCLEAR) = 0xFu;
    REG(UART_CTRL) = CTRL_TX_EN | CTRL_RX_EN;
}

void trix_uart_putc(uint8_t c)
{
    while (REG(UART_STATE) & STATE_TX_FULL) {
    }
    REG(UART_DATA) = c;
}

int trix_uart_getc(void)
{
    if (!(REG(UART_STATE) & STATE_RX_FULL)) return -1;
    return (int)(REG(UART_DATA) & 0xFFu);
}
