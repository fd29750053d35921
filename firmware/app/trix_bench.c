/*
 * trix_bench: cost of one cell step with the runtime kernel, measured with the platform tick
 * counter, the same loop as the protocol's BENCH request (n steps on input 0 from h = 0).
 *
 * Cortex-M: SysTick on the 25 MHz processor clock. Under `qemu-system-arm -icount shift=0`
 * every instruction advances virtual time by 1 ns, so ticks convert to instructions; the
 * conversion is measured here first with a loop of known length (2 instructions per
 * iteration: subs + bne) and reported. Elsewhere ticks are wall-clock nanoseconds.
 * `cmake --build <build> --target bench` runs it (Cortex-M: under QEMU with -icount shift=0).
 */
#include <stdio.h>

#include "trix_cfc.h"
#include "trix_platform.h"

#define STEPS 2000u
#define CAL_ITERS 1000000u

#if defined(__arm__) && defined(__thumb__)
#define HAVE_KNOWN_LOOP 1
static void known_loop(uint32_t n)
{
#if defined(__ARM_ARCH_6M__)   /* Thumb-1, divided syntax: SUB #imm8 sets the flags */
    __asm__ volatile("1: sub %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#else
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#endif
}
#else
#define HAVE_KNOWN_LOOP 0
#endif

/* value * 100 / div, printed with two decimals (newlib-nano printf has no float) */
static void print_ratio(const char *label, unsigned long long num, unsigned long long div)
{
    const unsigned long long x = div ? (num * 100u + div / 2u) / div : 0u;
    printf("%s%lu.%02lu", label, (unsigned long)(x / 100u), (unsigned long)(x % 100u));
}

int main(void)
{
    static int16_t x[64];
    const uint32_t hz = trix_platform_tick_hz();
    const uint64_t hash = trix_model_hash();
    uint32_t t0, t1, i, step_ticks;
    printf("bench: model %08lx%08lx, I=%d H=%d, kernel %s, tick_hz %lu\n", (unsigned long)(hash >> 32),
           (unsigned long)(hash & 0xFFFFFFFFu), trix_inputs(), trix_hidden(), trix_kernel_name(),
           (unsigned long)hz);
    trix_reset();
    t0 = trix_platform_ticks();
    for (i = 0; i < STEPS; i++) (void)trix_step(x);
    t1 = trix_platform_ticks();
    step_ticks = t1 - t0;
    trix_reset();
    printf("bench: %lu cell steps = %lu ticks", (unsigned long)STEPS, (unsigned long)step_ticks);
    print_ratio(" = ", step_ticks, STEPS);
    printf(" ticks/step\n");
#if HAVE_KNOWN_LOOP
    {
        uint32_t cal;
        t0 = trix_platform_ticks();
        known_loop(CAL_ITERS);
        t1 = trix_platform_ticks();
        cal = t1 - t0;
        printf("bench: calibration: %lu instructions (known loop) = %lu ticks", (unsigned long)(2u * CAL_ITERS),
               (unsigned long)cal);
        print_ratio(" -> ", 2ull * CAL_ITERS, cal);
        print_ratio(" instructions/tick (", 1000000000ull, hz);
        printf(" = 1e9 / tick_hz expected under -icount shift=0)\n");
        print_ratio("bench: instructions per cell step: ", (unsigned long long)step_ticks * 2u * CAL_ITERS,
                    (unsigned long long)cal * STEPS);
        printf(" (kernel %s)\n", trix_kernel_name());
    }
#else
    print_ratio("bench: nanoseconds per cell step: ", (unsigned long long)step_ticks * 1000000000ull,
                (unsigned long long)hz * STEPS);
    printf(" (kernel %s, wall clock)\n", trix_kernel_name());
#endif
    return 0;
}
