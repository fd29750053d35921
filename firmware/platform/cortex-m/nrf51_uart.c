/*
 * nRF51 (nRF51822, Cortex-M0; QEMU -M microbit) UART, polled, register level (nRF51 Series
 * Reference Manual, UART chapter). Ticks: nrf51_timer.c.
 *
 * UART at TRIX_UART_BASE (0x40002000): pins TXD P0.24 / RXD P0.25 (the micro:bit's interface
 * chip serial), BAUDRATE 0x01D7E000 = 115200, ENABLE = 4, then STARTTX / STARTRX. A byte goes
 * out through TXD and is done at EVENTS_TXDRDY; one comes in at EVENTS_RXDRDY (cleared before
 * RXD is read: reading RXD may raise the event again for the next byte waiting).
 *
 */
#include "cortex_m.h"

#define UART(off)          (*(volatile uint32_t *)(TRIX_UART_BASE + (off)))
#define UART_STARTRX       0x000u
#define UART_STARTTX       0x008u
#define UART_RXDRDY        0x108u
#define UART_TXDRDY        0x11Cu
#define UART_ERROR         0x124u
#define UART_ENABLE        0x500u
#define UART_PSELTXD       0x50Cu
#define UART_PSELRXD       0x514u
#define UART_RXD           0x518u
#define UART_TXD           0x51Cu
#define UART_BAUDRATE      0x524u
#define UART_CONFIG        0x56Cu
#define UART_BAUD_115200   0x01D7E000u
#define UART_ENABLE_ON     4u


void trix_uart_init(void)
{
    UART(UART_ENABLE) = 0;
    UART(UART_PSELTXD) = 24u;
    UART(UART_PSELRXD) = 25u;
    UART(UART_BAUDRATE) = UART_BAUD_115200;
    UART(UART_CONFIG) = 0;                      /* no parity, no flow control */
    UART(UART_ENABLE) = UART_ENABLE_ON;
    UART(UART_TXDRDY) = 0;
    UART(UART_RXDRDY) = 0;
    UART(UART_ERROR) = 0;
    UART(UART_STARTTX) = 1;
    UART(UART_STARTRX) = 1;
}

void trix_uart_putc(uint8_t c)
{
    UART(UART_TXD) = c;
    while (!UART(UART_TXDRDY)) {
    }
    UART(UART_TXDRDY) = 0;
}

int trix_uart_getc(void)
{
    if (!UART(UART_RXDRDY)) return -1;
    UART(UART_RXDRDY) = 0;
    return (int)(UART(UART_RXD) & 0xFFu);
}
