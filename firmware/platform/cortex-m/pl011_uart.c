/*
 * ARM PrimeCell UART (PL011, ARM DDI0183), polled, FIFOs off (one byte each way): UART0 of the
 * TI Stellaris LM3S6965 at 0x40004000 + 0x8000 = 0x4000C000 (TRIX_UART_BASE from the toolchain
 * file), on PA0 (U0Rx) / PA1 (U0Tx).
 * Registers: DR 0x000, FR 0x018 (bit 4 RXFE, bit 5 TXFF), IBRD 0x024, FBRD 0x028, LCRH 0x02C
 * (bits 5-6 WLEN = 0b11: 8 bits; bit 4 FEN = 0: no FIFO), CR 0x030 (bit 0 UARTEN, bit 8 TXE,
 * bit 9 RXE), ICR 0x044. Baud divisor: TRIX_CPU_HZ / (16 x baud) as 16.6 fixed point (IBRD,
 * FBRD), latched by the LCRH write.
 * The Stellaris part gates the clocks of the UART and of its pins: SYSCTL RCGC1 (0x400FE104)
 * bit 0 UART0, RCGC2 (0x400FE108) bit 0 GPIOA, then GPIOA AFSEL (0x40004420) and DEN
 * (0x4000451C) bits 0-1 hand PA0/PA1 to the UART. Another chip with a PL011 changes those
 * lines (its clock and pin set-up) and keeps the rest.
 */
#include "cortex_m.h"

#define REG(off)        (*(volatile uint32_t *)(TRIX_UART_BASE + (off)))
#define UART_DR         0x000u
#define UART_FR         0x018u
#define UART_IBRD       0x024u
#define UART_FBRD       0x028u
#define UART_LCRH       0x02Cu
#define UART_CR         0x030u
#define UART_ICR        0x044u
#define FR_RXFE         0x10u
#define FR_TXFF         0x20u
#define LCRH_WLEN_8     0x60u
#define CR_UARTEN       0x001u
#define CR_TXE          0x100u
#define CR_RXE          0x200u

#define SYSCTL_RCGC1    (*(volatile uint32_t *)0x400FE104u)
#define SYSCTL_RCGC2    (*(volatile uint32_t *)0x400FE108u)
#define GPIOA_AFSEL     (*(volatile uint32_t *)0x40004420u)
#define GPIOA_DEN       (*(volatile uint32_t *)0x4000451Cu)

void trix_uart_init(void)
{
    /* 64 x the divisor, rounded: 12 MHz -> 417 = 6 + 33/64 (115,108 baud, 0.08 % slow) */
    const uint32_t div64 = (4u * TRIX_CPU_HZ + TRIX_UART_BAUD / 2u) / TRIX_UART_BAUD;
    SYSCTL_RCGC1 |= 0x1u;
    SYSCTL_RCGC2 |= 0x1u;
    (void)SYSCTL_RCGC2;                        /* a few cycles before the GPIO port is usable */
    GPIOA_AFSEL |= 0x3u;
    GPIOA_DEN |= 0x3u;
    REG(UART_CR) = 0;
    REG(UART_IBRD) = div64 >> 6;
    REG(UART_FBRD) = div64 & 0x3Fu;
    REG(UART_LCRH) = LCRH_WLEN_8;
    REG(UART_ICR) = 0x7FFu;
    REG(UART_CR) = CR_UARTEN | CR_TXE | CR_RXE;
}

void trix_uart_putc(uint8_t c)
{
    while (REG(UART_FR) & FR_TXFF) {
    }
    REG(UART_DR) = c;
}

int trix_uart_getc(void)
{
    if (REG(UART_FR) & FR_RXFE) return -1;
    return (int)(REG(UART_DR) & 0xFFu);
}
