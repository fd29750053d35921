/*
 * Every kernel compiled for this target, bit for bit against the golden model
 * (codegen/golden.py), on the models in test_vectors.h (`python -m codegen vectors`):
 *   kernel level: acc = T z for fixed and random z, including full-scale inputs;
 *   cell level:   whole sequences from h = 0 through trix_cell_step_q14 with each kernel,
 *                 every output y and the final state h.
 * Prints the first mismatches (model, kernel, index, expected, got); returns nonzero on any.
 */
#include <stdio.h>
#include <string.h>

#include "trix_cell.h"
#include "test_vectors.h"

/* The generated tables must have the geometry the cell step indexes them with. */
typedef char tv_check_table_size[(sizeof tv_sigmoid_q15 / sizeof tv_sigmoid_q15[0] == TRIX_TABLE_SIZE_Q15) ? 1 : -1];

typedef struct {
    const char *name;
    trix_matvec_fn fn;
} kernel_t;

static const kernel_t kernels[] = {
    { "ref", trix_matvec_ref },
    { "lut", trix_matvec_lut },
#if TRIX_HAVE_NEON
    { "neon", trix_matvec_neon },
#endif
#if TRIX_HAVE_DSP
    { "dsp", trix_matvec_dsp },
    { "dsp/lut", trix_matvec_dsp_lut },
#endif
#if TRIX_HAVE_MVE
    { "mve", trix_matvec_mve },
#endif
};
#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

#define MAX_Z 512
#define MAX_ROWS 512
#define MAX_REPORTS 10

static int32_t z_words[MAX_Z / 2 + 2];   /* int32 storage: 4-byte aligned int16 view */
static int32_t acc[MAX_ROWS + 1];
static long failures;

static void report(const char *model, const char *kernel, const char *what, long index, long expected, long got)
{
    failures++;
    if (failures <= MAX_REPORTS)
        printf("FAIL %s kernel=%s %s index=%ld expected=%ld got=%ld\n", model, kernel, what, index, expected, got);
}

static void check_kernel(const trix_test_model_t *t, const kernel_t *k)
{
    const trix_model_t *m = &t->model;
    const int zlen = TRIX_Z_LEN(m), rows = 2 * m->hidden;
    int16_t *z = (int16_t *)(void *)z_words;
    int v, r;
    for (v = 0; v < t->kernel_vectors; v++) {
        memcpy(z, t->kernel_z + (long)v * zlen, (size_t)zlen * sizeof *z);
        acc[rows] = 0x5A5A5A5A;   /* canary: a kernel must not write past its rows */
        k->fn(m->trits, rows, m->row_bytes, z, acc);
        for (r = 0; r < rows; r++)
            if (acc[r] != t->kernel_acc[(long)v * rows + r])
                report(t->name, k->name, "acc", (long)v * rows + r, t->kernel_acc[(long)v * rows + r], acc[r]);
        if (acc[rows] != 0x5A5A5A5A) report(t->name, k->name, "acc canary", rows, 0x5A5A5A5A, acc[rows]);
    }
}

static void check_cell(const trix_test_model_t *t, const kernel_t *k)
{
    const trix_model_t *m = &t->model;
    const int zlen = TRIX_Z_LEN(m);
    int16_t *z = (int16_t *)(void *)z_words;
    int s, step, i;
    for (s = 0; s < t->sequences; s++) {
        memset(z, 0, (size_t)zlen * sizeof *z);
        for (step = 0; step < t->steps; step++) {
            const long at = (long)s * t->steps + step;
            int16_t y = trix_cell_step_q14(m, k->fn, z, acc, t->cell_x + at * m->inputs);
            if (y != t->cell_y[at]) report(t->name, k->name, "y", at, t->cell_y[at], y);
        }
        for (i = 0; i < m->hidden; i++)
            if (z[m->inputs + i] != t->cell_h[(long)s * m->hidden + i])
                report(t->name, k->name, "h", (long)s * m->hidden + i, t->cell_h[(long)s * m->hidden + i],
                       z[m->inputs + i]);
        for (i = m->inputs + m->hidden; i < zlen; i++)
            if (z[i] != 0) report(t->name, k->name, "z padding", i, 0, z[i]);
    }
}

int main(void)
{
    int mi, ki;
    long checked_models = 0;
    for (mi = 0; mi < TRIX_TEST_MODELS; mi++) {
        const trix_test_model_t *t = &trix_test_models[mi];
        if (TRIX_Z_LEN(&t->model) > MAX_Z || 2 * t->model.hidden > MAX_ROWS) {
            printf("FAIL %s: model too large for the test buffers\n", t->name);
            failures++;
            continue;
        }
        for (ki = 0; ki < N_KERNELS; ki++) {
            check_kernel(t, &kernels[ki]);
            check_cell(t, &kernels[ki]);
        }
        checked_models++;
    }
    printf("test_kernels: %ld models x %d kernels (", checked_models, N_KERNELS);
    for (ki = 0; ki < N_KERNELS; ki++) printf("%s%s", ki ? " " : "", kernels[ki].name);
    printf("), runtime kernel %s: %s (%ld mismatches)\n", TRIX_KERNEL_NAME, failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
