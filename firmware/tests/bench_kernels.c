/*
 * Instruction counts of the matvec kernels and the whole cell step on the I = 1 test models with
 * H = 8, 16, 32, 64, 128 (not a test: prints figures). Cortex-M only: SysTick (an ARMv7-M
 * architectural timer at 0xE000E010, core clock source; on ARMv6-M, which may lack it, the
 * platform's tick source, the nRF51's 16 MHz TIMER0) measures REPS calls; under QEMU with
 * -icount shift=0 every instruction takes 1 ns of virtual time and SysTick on mps2 runs at
 * 25 MHz, so one tick is 40 instructions (calibrated with a loop of known length); on mps3-an547
 * (Cortex-M55) 32 MHz, 31.25. Elsewhere it prints that there is no tick counter.
 */
#include <stdio.h>
#include <string.h>

#include "trix_cell.h"
#include "test_vectors.h"
#include "bench_dense.h"
#if defined(TRIX_BENCH_PLATFORM)   /* the top-level build links the board platform */
#include "trix_platform.h"
#endif

/* SysTick counts the processor clock, whose rate the platform reports (25 MHz on mps2, 32 MHz
 * on mps3-an547); under QEMU -icount shift=0 one instruction is 1 ns, so a tick is
 * 1e9 / tick_hz instructions: 40 on mps2, 31.25 on the AN547. The rate comes from the platform
 * (TRIX_CPU_HZ, set per board in CMake), not from compiler predefines, which differ between
 * GCC versions for the M55. */
#define REPS 200

#if (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_8M_MAIN__) \
     || defined(__ARM_ARCH_8_1M_MAIN__)) && defined(TRIX_BENCH_PLATFORM)
#define TRIX_BENCH_SYSTICK 1
#elif defined(__ARM_ARCH_6M__) && defined(TRIX_BENCH_PLATFORM)
/* ARMv6-M (the nRF51 has no SysTick): the platform's tick source (TIMER0 at 16 MHz). */
#define TRIX_BENCH_SYSTICK 0
#endif

#if defined(TRIX_BENCH_SYSTICK)
#if TRIX_BENCH_SYSTICK
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#endif

static int32_t z_words[256];
static int32_t acc[512];
#if TRIX_HAVE_DSP
static int32_t acc2[512];
static int8_t dense_w[2 * 128 * 132];   /* dense int8 copy, 2H x cols4, up to H = 128, I <= 4 */
#endif

typedef struct { const char *name; trix_matvec_fn fn; } kernel_t;
static const kernel_t kernels[] = {
    { "ref", trix_matvec_ref },
    { "lut", trix_matvec_lut },
#if TRIX_HAVE_DSP
    { "dsp", trix_matvec_dsp },
    { "dsp/lut", trix_matvec_dsp_lut },
#endif
#if TRIX_HAVE_MVE
    { "mve", trix_matvec_mve },
#endif
};
/* int8 heads (docs/fixed_point.md, 2a): timed on the models whose heads are both int8 */
static const kernel_t s8_kernels[] = {
    { "s8-ref", trix_matvec_s8_ref },
    { "s8-c", trix_matvec_s8_c },
#if TRIX_HAVE_DSP
    { "s8-smlad", trix_matvec_s8_smlad },
#endif
};

#if TRIX_BENCH_SYSTICK
static uint32_t start(void)
{
    SYST_CSR = 0;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5;                    /* enable, processor clock, no interrupt */
    while (SYST_CVR == 0) {}
    return SYST_CVR;
}
#define now() SYST_CVR
#define elapsed(t0, t1) ((int64_t)(uint32_t)((t0) - (t1)))      /* SysTick counts down */
#else
#define start() trix_platform_ticks()
#define now() trix_platform_ticks()
#define elapsed(t0, t1) ((int64_t)(uint32_t)((t1) - (t0)))
#endif

/* The matvec input: every real column non-zero (the lut kernel's table build takes a short cut
 * for a zero pair of inputs, so all-zero inputs would time the wrong path), padding zero as
 * the firmware has it. */
static void fill_z(const trix_model_t *m)
{
    int16_t *z = (int16_t *)(void *)z_words;
    const int cols = m->inputs + m->hidden;
    int i;
    memset(z_words, 0, sizeof z_words);
    for (i = 0; i < cols; i++) z[i] = (int16_t)((i * 7919 + 13) % 16384 - 8192);
}

static long insns(uint32_t t0, uint32_t t1)
{
    return (long)(elapsed(t0, t1) * 1000000000 / ((int64_t)trix_platform_tick_hz() * REPS));
}

int main(void)
{
    int mi, k, i;
    const int16_t x = 8192;
    for (mi = 0; mi < TRIX_TEST_MODELS; mi++) {
        const trix_test_model_t *t = &trix_test_models[mi];
        const trix_model_t *m = &t->model;
        const long weights = 2L * m->hidden * (m->inputs + m->hidden);
        if (m->inputs != 1 || (m->hidden != 4 && m->hidden != 8 && m->hidden != 16 && m->hidden != 32
                                && m->hidden != 64 && m->hidden != 128)) continue;
        if (m->format_f == TRIX_FORMAT_INT8 && m->format_g == TRIX_FORMAT_INT8) {   /* an int8 model */
            for (k = 0; k < (int)(sizeof s8_kernels / sizeof s8_kernels[0]); k++) {
                const kernel_t *kk = &s8_kernels[k];
                uint32_t t0, t1;
                long mv, step, step_ref;
                fill_z(m);
                t0 = start();
                for (i = 0; i < REPS; i++)
                    kk->fn((const uint8_t *)m->weights, 2 * m->hidden, m->row_bytes, (int16_t *)(void *)z_words, acc);
                t1 = now();
                mv = insns(t0, t1);
                memset(z_words, 0, sizeof z_words);
                t0 = start();
                for (i = 0; i < REPS; i++)
                    trix_cell_step_q14_kernels(m, trix_matvec_ref, kk->fn, (int16_t *)(void *)z_words, acc, &x);
                t1 = now();
                step = insns(t0, t1);
                memset(z_words, 0, sizeof z_words);
                t0 = start();
                for (i = 0; i < REPS; i++)
                    trix_cell_step_q14_ref_kernels(m, trix_matvec_ref, kk->fn, (int16_t *)(void *)z_words, acc, &x);
                t1 = now();
                step_ref = insns(t0, t1);
                printf("bench %s I=%d H=%d kernel=%s: matvec %ld insns (%ld.%02ld per weight), cell step %ld insns, "
                       "reference cell step %ld insns, int8 bytes %ld\n", t->name, m->inputs, m->hidden, kk->name, mv,
                       mv / weights, (mv * 100 / weights) % 100, step, step_ref, 2L * m->hidden * 4 * m->row_bytes);
            }
            continue;
        }
        for (k = 0; k <= (int)(sizeof kernels / sizeof kernels[0]); k++) {   /* + the model's code kernel */
            const kernel_t code = { "code", t->code };
            const kernel_t *kk = k < (int)(sizeof kernels / sizeof kernels[0]) ? &kernels[k] : &code;
            uint32_t t0, t1;
            long mv, step, step_ref;
            if (kk->fn == 0) continue;
            fill_z(m);
            t0 = start();
            for (i = 0; i < REPS; i++) kk->fn(m->trits, 2 * m->hidden, m->row_bytes, (int16_t *)(void *)z_words, acc);
            t1 = now();
            mv = insns(t0, t1);
            memset(z_words, 0, sizeof z_words);   /* the step runs from h = 0 */
            t0 = start();
            for (i = 0; i < REPS; i++) trix_cell_step_q14(m, kk->fn, (int16_t *)(void *)z_words, acc, &x);
            t1 = now();
            step = insns(t0, t1);
            memset(z_words, 0, sizeof z_words);
            t0 = start();
            for (i = 0; i < REPS; i++) trix_cell_step_q14_ref(m, kk->fn, (int16_t *)(void *)z_words, acc, &x);
            t1 = now();
            step_ref = insns(t0, t1);
            printf("bench %s I=%d H=%d kernel=%s: matvec %ld insns (%ld.%02ld per weight), cell step %ld insns, "
                   "reference cell step %ld insns", t->name, m->inputs, m->hidden, kk->name, mv, mv / weights,
                   (mv * 100 / weights) % 100, step, step_ref);
            if (kk == &code) printf(", function %s", t->code_name);
            printf("\n");
        }
        {   /* the lut kernel with 0 rows: its table build (and call overhead) alone */
            uint32_t t0, t1;
            long n;
            fill_z(m);
            t0 = start();
            for (i = 0; i < REPS; i++) trix_matvec_lut(m->trits, 0, m->row_bytes, (int16_t *)(void *)z_words, acc);
            t1 = now();
            n = insns(t0, t1);
            printf("bench %s I=%d H=%d lut tables only: %ld insns (%d tables)\n", t->name, m->inputs, m->hidden, n,
                   m->row_bytes);
        }
#if TRIX_HAVE_DSP
        {   /* dense int8 SMLAD baseline of the same shape (bench image only) */
            const int rows = 2 * m->hidden, cols = m->inputs + m->hidden;
            const int cols4 = (cols + 3) & ~3;
            const int16_t *z = (const int16_t *)(const void *)z_words;
            uint32_t t0, t1;
            long mv;
            int ok = 1;
            if ((long)rows * cols4 > (long)sizeof dense_w || cols4 > 4 * m->row_bytes) continue;
            dense_from_trits(m->trits, rows, m->row_bytes, cols, dense_w);
            fill_z(m);
            trix_matvec_ref(m->trits, rows, m->row_bytes, z, acc);
            dense_matvec_s8_smlad(dense_w, rows, cols4, z, acc2);
            for (i = 0; i < rows; i++) ok &= acc[i] == acc2[i];
            dense_matvec_s8_c(dense_w, rows, cols4, z, acc2);
            for (i = 0; i < rows; i++) ok &= acc[i] == acc2[i];
            memset(z_words, 0, sizeof z_words);
            t0 = start();
            for (i = 0; i < REPS; i++) dense_matvec_s8_smlad(dense_w, rows, cols4, z, acc);
            t1 = now();
            mv = insns(t0, t1);
            printf("bench %s I=%d H=%d kernel=dense-s8-smlad: matvec %ld insns (%ld.%02ld per weight), %s\n",
                   t->name, m->inputs, m->hidden, mv, mv / weights, (mv * 100 / weights) % 100,
                   ok ? "matches ref" : "MISMATCH vs ref");
            printf("bench %s I=%d H=%d weight bytes: ternary %ld (2 bits/trit, rows padded to %d bytes), "
                   "int8 %ld (%ld padded to %d columns)\n",
                   t->name, m->inputs, m->hidden, (long)rows * m->row_bytes, m->row_bytes,
                   weights, (long)rows * cols4, cols4);
        }
#endif
    }
    return 0;
}
#else
int main(void)
{
    printf("bench_kernels: no tick counter on this target (bare-metal Cortex-M only)\n");
    return 0;
}
#endif
