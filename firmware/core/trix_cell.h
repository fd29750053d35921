/*
 * The cell step of docs/fixed_point.md on an explicit model-parameter struct, so one binary
 * can run many models (the kernel/cell tests) while trix_step() runs the generated default.
 */
#ifndef TRIX_CELL_H
#define TRIX_CELL_H

#include <stdint.h>
#include "trix_kernels.h"

/* Activation table geometry (docs/fixed_point.md, section 4): sigmoid and tanh at
 * -8 + i/64, i = 0..1024, indexed by Q16 pre-activations. The generated model header's
 * TRIX_TABLE_SIZE must equal TRIX_TABLE_SIZE_Q15 (checked where both are included). */
#define TRIX_PRE_FRAC         16                                   /* pre-activations: Q16 */
#define TRIX_TABLE_RANGE_LOG2 3                                    /* tables span [-8, +8] */
#define TRIX_TABLE_STEP_LOG2  6                                    /* step 1/64 */
#define TRIX_TABLE_SIZE_Q15   ((2 << (TRIX_TABLE_RANGE_LOG2 + TRIX_TABLE_STEP_LOG2)) + 1)   /* 1025 */
#define TRIX_TABLE_STEP_SHIFT (TRIX_PRE_FRAC - TRIX_TABLE_STEP_LOG2)                   /* 10 */
#define TRIX_TABLE_SPAN_BITS  (TRIX_TABLE_RANGE_LOG2 + 1 + TRIX_PRE_FRAC)             /* 20 */

typedef struct {
    int inputs;                      /* I */
    int hidden;                      /* H */
    int row_bytes;                   /* bytes per packed row, ceil((I + H) / 4) */
    const uint8_t *trits;            /* [2H][row_bytes]: gate rows, then candidate rows */
    const int32_t *row_multiplier;   /* [2H] M in [2^30, 2^31) */
    const int8_t  *row_shift;        /* [2H] n in [1, 62] */
    const int32_t *bias_q16;         /* [2H] pre-activation bias, Q16 */
    const int16_t *lam_q15;          /* [H] exp(-dt / tau) */
    const int32_t *w_o;              /* [H] readout weights, Q(readout_shift) */
    int64_t b_o;                     /* readout bias, Q(15 + readout_shift) */
    int readout_shift;               /* s in [1, 40] */
    const int16_t *sigmoid_q15;      /* [TRIX_TABLE_SIZE_Q15] */
    const int16_t *tanh_q15;         /* [TRIX_TABLE_SIZE_Q15] */
    /* Derived by codegen (codegen.golden.row_requant / pre_shift; docs/fixed_point.md, 3a): the
     * requantisation as trix_cell_step_q14 evaluates it. */
    const int32_t *row_requant;      /* [2H][TRIX_ROW_REQUANT_WORDS]: M, K = 2 (bias + 8.0) + 1, s */
    int pre_shift;                   /* Lg: acc15 << Lg fits int32 */
    /* Weight format per head (docs/fixed_point.md, 2a). trits then holds the ternary heads' rows
     * only (0 when none), weights the int8 heads' rows, in head order. */
    int format_f, format_g;          /* TRIX_FORMAT_TERNARY or TRIX_FORMAT_INT8 */
    const int8_t *weights;           /* [int8 rows][row_bytes * 4], CMSIS-NN byte order; 0 when none */
} trix_model_t;

#define TRIX_ROW_REQUANT_WORDS 3
#define TRIX_FORMAT_TERNARY    0
#define TRIX_FORMAT_INT8       1

/* Length of the z buffer of a model: [x ; h ; zero padding]. */
#define TRIX_Z_LEN(model) ((model)->row_bytes * 4)

/*
 * One cell step. z (TRIX_Z_LEN int16, 4-byte aligned) holds the state: z[I..I+H) = h (Q15),
 * z[I+H..) = 0 (the caller zeroes it once; the step never writes there); z[0..I) is scratch.
 * acc is scratch of 2H int32. x_q14 holds I inputs. Returns y (Q14); the new state is left in z.
 *
 * trix_cell_step_q14 is the runtime path (the requantisation and table lookup fused per row
 * from row_requant, in assembly on Cortex-M, docs/fixed_point.md 3a); trix_cell_step_q14_ref
 * is the per-row path as written in docs/fixed_point.md 2-6 (kept as the reference the
 * tests and `python -m host bench` compare with). Both give the golden model's values.
 */
int16_t trix_cell_step_q14(const trix_model_t *model, trix_matvec_fn matvec,
                           int16_t *z, int32_t *acc, const int16_t *x_q14);
int16_t trix_cell_step_q14_ref(const trix_model_t *model, trix_matvec_fn matvec,
                               int16_t *z, int32_t *acc, const int16_t *x_q14);

/* The same two steps with the kernel of each format named: `ternary` for ternary heads, `int8`
 * for int8 heads (a trix_matvec_s8 kernel). trix_cell_step_q14(m, k, ...) is
 * trix_cell_step_q14_kernels(m, k, TRIX_MATVEC_S8, ...). */
int16_t trix_cell_step_q14_kernels(const trix_model_t *model, trix_matvec_fn ternary, trix_matvec_fn int8,
                                   int16_t *z, int32_t *acc, const int16_t *x_q14);
int16_t trix_cell_step_q14_ref_kernels(const trix_model_t *model, trix_matvec_fn ternary, trix_matvec_fn int8,
                                       int16_t *z, int32_t *acc, const int16_t *x_q14);

/* The runtime path's per-row pass: acc[r] (acc15, |acc15| <= (C + I) * 32768) -> the activation
 * (Q15) through table, in place, for r < rows, with requant = those rows' records. */
void trix_activations_q15(int32_t *acc, int rows, const int32_t *requant, int pre_shift, const int16_t *table);

/* Its per-unit pass (docs/fixed_point.md 5, 6): g = acc[0..H), c = acc[H..2H) (Q15), h (Q15)
 * updated in place; returns sum_i w_o[i] * h_new[i] (the readout without its bias). */
int64_t trix_update_state(const int32_t *acc, int hidden, int16_t *h, const int16_t *lam_q15, const int32_t *w_o);

/* ---- the classification head (docs/fixed_point.md, section 12) ---- */
#define TRIX_POOL_LAST 0             /* the state after the window's last step */
#define TRIX_POOL_MEAN 1             /* the mean state over the window's steps */
#define TRIX_MAX_WINDOW 65535        /* steps a window pools; a full window ignores further steps */

typedef struct {
    int classes;                     /* K */
    int pooling;                     /* TRIX_POOL_LAST | TRIX_POOL_MEAN */
    const int32_t *w;                /* [K][H] head weights, Q(shift) */
    const int64_t *b;                /* [K] head biases, Q(15 + shift) */
    int shift;                       /* s in [2, 40] */
} trix_head_t;

/* Mean pooling's running sum: sum[i] += h[i] for i < hidden (the caller counts the steps, at
 * most TRIX_MAX_WINDOW, so |sum| < 2^31). */
void trix_pool_add(int32_t *sum, const int16_t *h, int hidden);

/* The pooled state v (Q15) of a window of n steps: h itself (last), or sum / n rounded half up
 * (mean); 0 for n = 0. Then the K logits (Q16) of v; returns the argmax (the first largest). */
void trix_pooled_q15(const trix_head_t *head, int hidden, const int16_t *h, const int32_t *sum, int32_t n,
                     int16_t *v);
int trix_head_logits(const trix_head_t *head, int hidden, const int16_t *v, int32_t *logits);

/* Sigmoid/tanh lookup with linear interpolation (docs/fixed_point.md, section 4). */
int32_t trix_table_q15(const int16_t *table, int32_t pre_q16);

/* Per-row requantisation and bias (section 3): Q15 accumulator -> Q16 pre-activation. */
int32_t trix_requantize_q16(int32_t acc, int32_t multiplier, int shift, int32_t bias_q16);

#endif /* TRIX_CELL_H */
