/*
 * STM32F4 USART1, polled, register level (RM0090: RCC, GPIO, USART chapters); no vendor HAL.
 * Used by the stm32f405 target (QEMU -M netduinoplus2; any STM32F405/407 board with USART1 on
 * PA9 (TX) / PA10 (RX), e.g. through an ST-Link's virtual COM port or a USB-serial adapter).
 *
 * Clock: the reset clock, HSI 16 MHz (TRIX_CPU_HZ), so the image needs no PLL set-up and the
 * baud rate is right on a real chip: USARTDIV = 16 MHz / (16 x 115200) = 8.68 -> BRR = 139
 * (mantissa 8, fraction 11/16), 115 108 baud, -0.08 %.
 * Pins: GPIOA clock on (RCC_AHB1ENR.GPIOAEN), PA9/PA10 alternate function 7 (USART1).
 * USART: clock on (RCC_APB2ENR.USART1EN), BRR, then CR1 = UE | TE | RE. The USART (real and
 * QEMU's model) drops bytes that arrive before UE and RE are set; the host therefore waits for
 * the firmware to answer HELLO before it streams (docs/host.md).
 */
#include "cortex_m.h"

#define RCC_AHB1ENR   (*(volatile uint32_t *)0x40023830u)
#define RCC_APB2ENR   (*(volatile uint32_t *)0x40023844u)
#define GPIOA_MODER   (*(volatile uint32_t *)0x40020000u)
#define GPIOA_AFRH    (*(volatile uint32_t *)0x40020024u)
#define USART(off)    (*(volatile uint32_t *)(TRIX_UART_BASE + (off)))
#define USART_SR      0x00u
#define USART_DR      0x04u
#define USART_BRR     0x08u
#define USART_CR1     0x0Cu
#define USART_CR2     0x10u
#define USART_CR3     0x14u
#define SR_RXNE       (1u << 5)
#define SR_TXE        (1u << 7)
#define SR_ORE        (1u << 3)
#define CR1_UE        (1u << 13)
#define CR1_TE        (1u << 3)
#define CR1_RE        (1u << 2)

void trix_uart_init(void)
{
    RCC_AHB1ENR |= 1u << 0;                                           /* GPIOAEN */
    RCC_APB2ENR |= 1u << 4;                                           /* USART1EN */
    (void)RCC_APB2ENR;                                                /* the clock is on before the USART is touched */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 18)) | (0xAu << 18);       /* PA9, PA10: alternate function */
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x77u << 4);         /* AF7 = USART1 */
    USART(USART_CR1) = 0;
    USART(USART_CR2) = 0;                                             /* 1 stop bit */
    USART(USART_CR3) = 0;                                             /* no flow control */
    USART(USART_BRR) = (TRIX_CPU_HZ + TRIX_UART_BAUD / 2u) / TRIX_UART_BAUD;   /* 16x oversampling */
    USART(USART_CR1) = CR1_UE | CR1_TE | CR1_RE;                      /* 8N1 */
}

void trix_uart_putc(uint8_t c)
{
    while (!(USART(USART_SR) & SR_TXE)) {
    }
    USART(USART_DR) = c;
}

int trix_uart_getc(void)
{
    const uint32_t sr = USART(USART_SR);
    if (!(sr & (SR_RXNE | SR_ORE))) return -1;
    /* Reading DR clears RXNE (and, after the SR read, an overrun); a byte lost to an overrun
     * shows up as a damaged frame, which the protocol answers with an error. */
    if (!(sr & SR_RXNE)) {
        (void)USART(USART_DR);
        return -1;
    }
    return (int)(USART(USART_DR) & 0xFFu);
}
