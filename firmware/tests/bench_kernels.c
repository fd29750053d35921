/*
 * Instruction counts of the matvec kernels and the whole cell step on the test models with
 * H = 16, 32, 64 (not a test: prints figures). Cortex-M only: SysTick (an ARMv7-M
 * architectural timer at 0xE000E010, core clock source) measures REPS calls; under QEMU with
 * -icount shift=0 every instruction takes 1 ns of virtual time and SysTick on mps2 runs at
 * 25 MHz, so one tick is 40 instructions (calibrated with a loop of known length); on mps3-an547
 * (Cortex-M55) 32 MHz, 31.25. Elsewhere it prints that there is no tick counter.
 */
#include <stdio.h>
#include <string.h>

#include "trix_cell.h"
#include "test_vectors.h"

/* SysTick reference in instructions per tick x 100 (QEMU -icount shift=0: 1 insn = 1 ns):
 * mps2 (M3/M4) 25 MHz -> 40 insns per tick; mps3-an547 (M55) 32 MHz -> 31.25. */
#ifndef TRIX_BENCH_INSNS_PER_TICK_X100
#if defined(__ARM_ARCH_8_1M_MAIN__)
#define TRIX_BENCH_INSNS_PER_TICK_X100 3125
#else
#define TRIX_BENCH_INSNS_PER_TICK_X100 4000
#endif
#endif
#define REPS 200

#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) \
    || defined(__ARM_ARCH_8_1M_MAIN__)
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static int32_t z_words[256];
static int32_t acc[512];

typedef struct { const char *name; trix_matvec_fn fn; } kernel_t;
static const kernel_t kernels[] = {
    { "ref", trix_matvec_ref },
#if TRIX_HAVE_DSP
    { "dsp", trix_matvec_dsp },
#endif
#if TRIX_HAVE_MVE
    { "mve", trix_matvec_mve },
#endif
};

static uint32_t start(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5;                    /* enable, processor clock, no interrupt */
    while (SYST_CVR == 0) {}
    return SYST_CVR;
}

static long insns(uint32_t t0, uint32_t t1) { return (long)(t0 - t1) * TRIX_BENCH_INSNS_PER_TICK_X100 / (100L * REPS); }

int main(void)
{
    int mi, k, i;
    const int16_t x = 8192;
    for (mi = 0; mi < TRIX_TEST_MODELS; mi++) {
        const trix_test_model_t *t = &trix_test_models[mi];
        const trix_model_t *m = &t->model;
        const long weights = 2L * m->hidden * (m->inputs + m->hidden);
        if (m->hidden != 16 && m->hidden != 32 && m->hidden != 64) continue;
        if (m->inputs != 1 && m->hidden != 64) continue;
        for (k = 0; k < (int)(sizeof kernels / sizeof kernels[0]); k++) {
            uint32_t t0, t1;
            long mv, step;
            memset(z_words, 0, sizeof z_words);
            t0 = start();
            for (i = 0; i < REPS; i++) kernels[k].fn(m->trits, 2 * m->hidden, m->row_bytes, (int16_t *)(void *)z_words, acc);
            t1 = SYST_CVR;
            mv = insns(t0, t1);
            t0 = start();
            for (i = 0; i < REPS; i++) trix_cell_step_q14(m, kernels[k].fn, (int16_t *)(void *)z_words, acc, &x);
            t1 = SYST_CVR;
            step = insns(t0, t1);
            printf("bench %s I=%d H=%d kernel=%s: matvec %ld insns (%ld.%02ld per weight), cell step %ld insns\n",
                   t->name, m->inputs, m->hidden, kernels[k].name, mv, mv / weights, (mv * 100 / weights) % 100, step);
        }
    }
    return 0;
}
#else
int main(void)
{
    printf("bench_kernels: no tick counter on this target (Cortex-M only)\n");
    return 0;
}
#endif
