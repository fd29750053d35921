/*
 * Every kernel compiled for this target, bit for bit against the golden model
 * (codegen/golden.py), on the models in test_vectors.h (`python -m codegen vectors`):
 *   kernel level: acc = T z for fixed and random z, including full-scale inputs;
 *   unit level:   the runtime path's per-unit pass (trix_update_state) against sections 5, 6
 *                 as written, on random values including saturating ones;
 *   row level:    the runtime path's per-row pass (trix_activations_q15: codegen's row_requant,
 *                 assembly on Cortex-M) against sections 3 and 4 as written (trix_requantize_q16,
 *                 trix_table_q15) on random acc15 over the whole range codegen allows, the
 *                 range whose pre-activations fall inside the tables, and its ends;
 *   (kernels:     every kernel of the target, and each model's weights-as-code kernel when the
 *                 vectors carry one, `python -m codegen vectors`)
 *   cell level:   whole sequences from h = 0 through both cell steps (trix_cell_step_q14, the
 *                 runtime path, and trix_cell_step_q14_ref, sections 2-6 as written) with each
 *                 kernel, every output y and the final state h;
 *   head level:   for the classifiers among the models, each sequence's logits and class
 *                 (section 12: the pooled state, trix_head_logits) after those steps.
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
    int format;                /* the heads it computes: TRIX_FORMAT_TERNARY or TRIX_FORMAT_INT8 */
} kernel_t;

static const kernel_t kernels[] = {
    { "ref", trix_matvec_ref, TRIX_FORMAT_TERNARY },
    { "lut", trix_matvec_lut, TRIX_FORMAT_TERNARY },
#if TRIX_HAVE_NEON
    { "neon", trix_matvec_neon, TRIX_FORMAT_TERNARY },
#endif
#if TRIX_HAVE_DSP
    { "dsp", trix_matvec_dsp, TRIX_FORMAT_TERNARY },
    { "dsp/lut", trix_matvec_dsp_lut, TRIX_FORMAT_TERNARY },
#endif
#if TRIX_HAVE_MVE
    { "mve", trix_matvec_mve, TRIX_FORMAT_TERNARY },
#endif
    /* int8 heads (docs/fixed_point.md, 2a) */
    { "s8-ref", trix_matvec_s8_ref, TRIX_FORMAT_INT8 },
    { "s8-c", trix_matvec_s8_c, TRIX_FORMAT_INT8 },
#if TRIX_HAVE_DSP
    { "s8-smlad", trix_matvec_s8_smlad, TRIX_FORMAT_INT8 },
#endif
#if TRIX_HAVE_NEON
    { "s8-neon", trix_matvec_s8_neon, TRIX_FORMAT_INT8 },
#endif
};
#define N_KERNELS ((int)(sizeof kernels / sizeof kernels[0]))

typedef int16_t (*step_fn)(const trix_model_t *, trix_matvec_fn, trix_matvec_fn, int16_t *, int32_t *,
                           const int16_t *);
static const struct { const char *name; step_fn fn; } steps[] = {
    { "step", trix_cell_step_q14_kernels },
    { "step_ref", trix_cell_step_q14_ref_kernels },
};

/* A model's heads of one format: the rows the format's kernels compute (trits or int8 weights),
 * their count and their first row in acc. A mixed model's heads of that format are its ternary
 * (or int8) rows, one head; a model without such a head has none. */
static int format_rows(const trix_model_t *m, int format, const uint8_t **w, int *first)
{
    const int f = m->format_f == format, g = m->format_g == format;
    *w = format == TRIX_FORMAT_TERNARY ? m->trits : (const uint8_t *)m->weights;
    *first = f ? 0 : m->hidden;
    return (f + g) * m->hidden;
}
#define N_STEPS ((int)(sizeof steps / sizeof steps[0]))

/* random acc15 per row and model: many more natively than under QEMU */
#ifndef TRIX_ROW_CHECK_ROUNDS
#if defined(__arm__) && !defined(__linux__)
#define TRIX_ROW_CHECK_ROUNDS 200
#else
#define TRIX_ROW_CHECK_ROUNDS 20000
#endif
#endif

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
    const int zlen = TRIX_Z_LEN(m), all = 2 * m->hidden;
    const uint8_t *w;
    int first;
    const int rows = format_rows(m, k->format, &w, &first);
    int16_t *z = (int16_t *)(void *)z_words;
    int v, r;
    for (v = 0; v < t->kernel_vectors; v++) {
        memcpy(z, t->kernel_z + (long)v * zlen, (size_t)zlen * sizeof *z);
        acc[rows] = 0x5A5A5A5A;   /* canary: a kernel must not write past its rows */
        k->fn(w, rows, m->row_bytes, z, acc);
        for (r = 0; r < rows; r++)
            if (acc[r] != t->kernel_acc[(long)v * all + first + r])
                report(t->name, k->name, "acc", (long)v * all + first + r, t->kernel_acc[(long)v * all + first + r],
                       acc[r]);
        if (acc[rows] != 0x5A5A5A5A) report(t->name, k->name, "acc canary", rows, 0x5A5A5A5A, acc[rows]);
    }
}

static int32_t pool_sum[MAX_ROWS / 2];
static int16_t pooled[MAX_ROWS / 2];
static int32_t logits[64];

/* A classifier's window: the pooled state and the logits after the sequence (section 12). */
static void check_head(const trix_test_model_t *t, const kernel_t *k, int which, int s, const int16_t *h)
{
    const trix_head_t *hd = t->head;
    char what[24];
    int c, cls;
    trix_pooled_q15(hd, t->model.hidden, h, pool_sum, t->steps, pooled);
    cls = trix_head_logits(hd, t->model.hidden, pooled, logits);
    for (c = 0; c < hd->classes; c++) {
        sprintf(what, "%s logit", steps[which].name);
        if (logits[c] != t->cell_logits[(long)s * hd->classes + c])
            report(t->name, k->name, what, (long)s * hd->classes + c, t->cell_logits[(long)s * hd->classes + c],
                   logits[c]);
    }
    sprintf(what, "%s class", steps[which].name);
    if (cls != t->cell_class[s]) report(t->name, k->name, what, s, t->cell_class[s], cls);
}

static void check_cell(const trix_test_model_t *t, const kernel_t *k, int which)
{
    const trix_model_t *m = &t->model;
    const int zlen = TRIX_Z_LEN(m);
    int16_t *z = (int16_t *)(void *)z_words;
    char what[16];
    int s, step, i;
    for (s = 0; s < t->sequences; s++) {
        memset(z, 0, (size_t)zlen * sizeof *z);
        memset(pool_sum, 0, sizeof pool_sum);
        for (step = 0; step < t->steps; step++) {
            const long at = (long)s * t->steps + step;
            int16_t y = k->format == TRIX_FORMAT_INT8
                      ? steps[which].fn(m, trix_matvec_ref, k->fn, z, acc, t->cell_x + at * m->inputs)
                      : steps[which].fn(m, k->fn, trix_matvec_s8_ref, z, acc, t->cell_x + at * m->inputs);
            sprintf(what, "%s y", steps[which].name);
            if (y != t->cell_y[at]) report(t->name, k->name, what, at, t->cell_y[at], y);
            if (t->head) trix_pool_add(pool_sum, z + m->inputs, m->hidden);
        }
        if (t->head) check_head(t, k, which, s, z + m->inputs);
        for (i = 0; i < m->hidden; i++) {
            sprintf(what, "%s h", steps[which].name);
            if (z[m->inputs + i] != t->cell_h[(long)s * m->hidden + i])
                report(t->name, k->name, what, (long)s * m->hidden + i, t->cell_h[(long)s * m->hidden + i],
                       z[m->inputs + i]);
        }
        for (i = m->inputs + m->hidden; i < zlen; i++)
            if (z[i] != 0) report(t->name, k->name, "z padding", i, 0, z[i]);
    }
}

static uint32_t rng_state = 0x9E3779B9u;
static uint32_t rnd(void)   /* xorshift32 */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* uniform in [-b, b] */
static int32_t rnd_in(int32_t b)
{
    return (int32_t)(rnd() % (2u * (uint32_t)b + 1u)) - b;
}

/* An acc15 whose pre-activation lands near target (Q16), inside [-b, b]: acc ~ target 2^n / M. */
static int32_t acc_near(int32_t target, int32_t M, int n, int32_t b)
{
    int64_t a = n <= 31 ? ((int64_t)target * ((int64_t)1 << n)) / M
                        : (((int64_t)target * ((int64_t)1 << 31)) / M) * ((int64_t)1 << (n > 62 ? 31 : n - 31));
    a += rnd_in(64);
    return (int32_t)(a > b ? b : (a < -b ? -b : a));
}

/* The acc15 of row r in a round of check_rows: drawn from rnd() after seeding it from (round, r),
 * so that it can be drawn again for the expected value instead of being stored (RAM: nRF51). */
static int32_t row_input(const trix_model_t *m, int round, int r, int32_t b)
{
    int kind;
    int32_t target;
    rng_state = 0x9E3779B9u ^ ((uint32_t)round * 0x85EBCA6Bu) ^ ((uint32_t)r * 0xC2B2AE35u);
    if (rng_state == 0) rng_state = 1;
    (void)rnd();
    (void)rnd();   /* nearby seeds: let them spread out */
    kind = round < 3 ? round : (int)(rnd() % 4u);
    target = (int32_t)(rnd() % (20u << 16)) - (10 << 16) - m->bias_q16[r];
    return kind == 0 ? -b : kind == 1 ? b : kind == 2 ? rnd_in(b) >> (rnd() % 24u)
         : acc_near(target, m->row_multiplier[r], m->row_shift[r], b);
}

/* trix_activations_q15 (the runtime per-row pass) against trix_requantize_q16 + trix_table_q15
 * (sections 3 and 4 as written) for every row of the model, on acc15 in the range codegen
 * allows: its ends, 0, uniform over it, and near the tables' range [-8, 8) of pre-activations. */
static void check_rows(const trix_test_model_t *t)
{
    const trix_model_t *m = &t->model;
    const int H = m->hidden, rows = 2 * H;
    const int wmax = m->format_f == TRIX_FORMAT_INT8 || m->format_g == TRIX_FORMAT_INT8 ? 127 : 1;
    const int32_t b = (m->inputs + m->hidden + m->inputs) * 32768 * wmax;   /* codegen's bound on |acc15| */
    int round, r;
    for (round = 0; round < TRIX_ROW_CHECK_ROUNDS; round++) {
        for (r = 0; r < rows; r++) acc[r] = row_input(m, round, r, b);
        trix_activations_q15(acc, H, m->row_requant, m->pre_shift, m->sigmoid_q15);
        trix_activations_q15(acc + H, H - (round & 1), m->row_requant + TRIX_ROW_REQUANT_WORDS * H, m->pre_shift,
                             m->tanh_q15);   /* odd rounds: one row fewer (odd/even counts) */
        for (r = 0; r < rows; r++) {
            const int32_t in = row_input(m, round, r, b);
            const int32_t pre = trix_requantize_q16(in, m->row_multiplier[r], m->row_shift[r], m->bias_q16[r]);
            const int32_t want = (round & 1) && r == rows - 1 ? in   /* past the end: untouched */
                               : trix_table_q15(r < H ? m->sigmoid_q15 : m->tanh_q15, pre);
            if (acc[r] != want) {
                report(t->name, "-", "row", (long)round * rows + r, want, acc[r]);
                if (failures <= MAX_REPORTS) printf("  (acc15 %ld, pre %ld)\n", (long)in, (long)pre);
            }
        }
    }
}

/* trix_update_state (the runtime per-unit pass, assembly on Cortex-M) against sections 5 and 6
 * as written, on random g, c, h, lam, w_o: g in [0, 32767], lam in [0, 32767], h any int16 and
 * c in [-65535, 65535], wider than the tables give (|d h + g c| stays below 2^31), so that the
 * saturation of h_new, which trained models never reach, is taken both ways. */
static void check_units(void)
{
    int32_t *gc = acc;                                           /* 2 x 64 of the test buffers */
    int16_t *h = (int16_t *)(void *)z_words, *h_want = h + 64, *lam = h + 128;
    int32_t *w_o = z_words + 96;
    int round, i;
    long saturated = 0;
    for (round = 0; round < 64; round++) {
        const int H = 1 + (int)(rnd() % 64u);
        int64_t want = 0, got;
        for (i = 0; i < H; i++) {
            const int wide = (rnd() & 3u) == 0;
            gc[i] = (int32_t)(rnd() % 32768u);
            gc[H + i] = wide ? rnd_in(65535) : rnd_in(32767);
            lam[i] = (int16_t)(rnd() % 32768u);
            h[i] = (int16_t)(rnd() & 0xFFFFu);
            w_o[i] = (int32_t)rnd();
            if (round == 0) {   /* the edges */
                gc[i] = i & 1 ? 32767 : 0;
                gc[H + i] = i & 2 ? 65535 : -65535;
                lam[i] = 32767;
                h[i] = (int16_t)(i & 4 ? 32767 : -32768);
            }
        }
        for (i = 0; i < H; i++) {   /* sections 5 and 6 */
            const int32_t g = gc[i], c = gc[H + i];
            const int32_t d = ((int32_t)lam[i] * (32768 - g) + (1 << 14)) >> 15;
            const int32_t v = (d * h[i] + g * c + (1 << 14)) >> 15;
            h_want[i] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
            saturated += v > 32767 || v < -32768;
            want += (int64_t)w_o[i] * h_want[i];
        }
        got = trix_update_state(gc, H, h, lam, w_o);
        for (i = 0; i < H; i++)
            if (h[i] != h_want[i]) report("units", "-", "h_new", (long)round * 64 + i, h_want[i], h[i]);
        if (got != want) report("units", "-", "readout sum, high 32 bits", round, (long)(want >> 32), (long)(got >> 32));
        if ((uint32_t)got != (uint32_t)want)
            report("units", "-", "readout sum low 32 bits", round, (long)(uint32_t)want, (long)(uint32_t)got);
    }
    if (saturated < 20) report("units", "-", "saturated h_new (too few to test)", 0, 20, saturated);
}

int main(void)
{
    int mi, ki;
    long checked_models = 0, code_models = 0, head_models = 0, int8_models = 0;
    check_units();
    for (mi = 0; mi < TRIX_TEST_MODELS; mi++) {
        const trix_test_model_t *t = &trix_test_models[mi];
        if (TRIX_Z_LEN(&t->model) > MAX_Z || 2 * t->model.hidden > MAX_ROWS) {
            printf("FAIL %s: model too large for the test buffers\n", t->name);
            failures++;
            continue;
        }
        check_rows(t);
        for (ki = 0; ki <= N_KERNELS; ki++) {   /* the target's kernels, then the model's own code kernel */
            const kernel_t code = { "code", t->code, TRIX_FORMAT_TERNARY };
            const kernel_t *k = ki < N_KERNELS ? &kernels[ki] : &code;
            const uint8_t *w;
            int si, first;
            if (k->fn == 0 || format_rows(&t->model, k->format, &w, &first) == 0) continue;   /* no such head */
            check_kernel(t, k);
            for (si = 0; si < N_STEPS; si++) check_cell(t, k, si);
        }
        checked_models++;
        code_models += t->code != 0;
        head_models += t->head != 0;
        int8_models += t->model.format_f == TRIX_FORMAT_INT8 || t->model.format_g == TRIX_FORMAT_INT8;
    }
    printf("test_kernels: %ld models x %d kernels x %d cell steps (step step_ref), %d rounds of the row check; ",
           checked_models, N_KERNELS, N_STEPS, TRIX_ROW_CHECK_ROUNDS);
    printf("%ld models x %d kernels (", checked_models, N_KERNELS);
    for (ki = 0; ki < N_KERNELS; ki++) printf("%s%s", ki ? " " : "", kernels[ki].name);
    printf("), runtime kernel %s, int8 runtime kernel %s on %ld models with an int8 head, and weights as code (code) "
           "on %ld models; logits and class of every sequence of %ld classifiers: %s (%ld mismatches)\n",
           TRIX_KERNEL_NAME, TRIX_KERNEL_NAME_S8, int8_models, code_models, head_models,
           failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
