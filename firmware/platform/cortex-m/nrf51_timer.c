/*
 * nRF51 tick source (the nRF51 Series Reference Manual, TIMER chapter).
 *
 * The nRF51 has no SysTick (ARMv6-M makes it optional and Nordic left it out), so time
 * is TIMER0 in 32-bit timer mode, prescaler 0: the 16 MHz HFCLK (TRIX_CPU_HZ), read through
 * TASKS_CAPTURE[0] / CC[0], 32-bit wraps counted on read (a read at least every 268 s, which
 * every BENCH does). Under qemu-system-arm -icount shift=0 QEMU's TIMER counts virtual time:
 * 1 tick = 1e9 / 16 MHz = 62.5 instructions.
 */
#include "cortex_m.h"

#define TIMER0(off)        (*(volatile uint32_t *)(0x40008000u + (off)))
#define TIMER_START        0x000u
#define TIMER_STOP         0x004u
#define TIMER_CLEAR        0x00Cu
#define TIMER_CAPTURE0     0x040u
#define TIMER_MODE         0x504u
#define TIMER_BITMODE      0x508u
#define TIMER_PRESCALER    0x510u
#define TIMER_CC0          0x540u

#if TRIX_CPU_HZ != 16000000u
#error "nRF51: TIMER0 at prescaler 0 counts the 16 MHz HFCLK; TRIX_CPU_HZ must say so"
#endif

static uint32_t timer_last, timer_wraps;

void trix_ticks_start(void)
{
    TIMER0(TIMER_STOP) = 1;
    TIMER0(TIMER_MODE) = 0;                     /* timer */
    TIMER0(TIMER_BITMODE) = 3;                  /* 32 bit */
    TIMER0(TIMER_PRESCALER) = 0;                /* 16 MHz */
    TIMER0(TIMER_CLEAR) = 1;
    TIMER0(TIMER_START) = 1;
    timer_last = 0;
    timer_wraps = 0;
}

uint64_t trix_ticks64(void)
{
    uint32_t now;
    TIMER0(TIMER_CAPTURE0) = 1;
    now = TIMER0(TIMER_CC0);
    if (now < timer_last) timer_wraps++;
    timer_last = now;
    return ((uint64_t)timer_wraps << 32) | now;
}

uint32_t trix_tick_hz(void) { return TRIX_CPU_HZ; }
