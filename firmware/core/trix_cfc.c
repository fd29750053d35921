/* Public API (trix_cfc.h) on the compiled-in model from TRIX_MODEL_DIR/trix_model.h. */
#include "trix_model.h"   /* first: TRIX_MODEL_MATVEC_CODE / _REF (export --kernel code / ref) for trix_arch.h */
#include "trix_cfc.h"
#include "trix_cell.h"
#if defined(TRIX_USE_MATVEC_CODE)
#include "trix_matvec_code.h"
#endif

/* The generated tables must have the geometry the cell step indexes them with. */
typedef char trix_check_table_size[(TRIX_TABLE_SIZE == TRIX_TABLE_SIZE_Q15) ? 1 : -1];
typedef char trix_check_requant_words[(TRIX_REQUANT_WORDS == TRIX_ROW_REQUANT_WORDS) ? 1 : -1];

/* Weight formats (docs/fixed_point.md, 2a): a model header with an int8 head defines them and
 * trix_weights; a ternary model's header does not. */
#if defined(TRIX_HAS_INT8)
#if TRIX_FORMAT_F == TRIX_FORMAT_INT8 && TRIX_FORMAT_G == TRIX_FORMAT_INT8
#define TRIX_MODEL_TRITS 0
#define TRIX_MODEL_KERNEL_NAME TRIX_KERNEL_NAME_S8
#define TRIX_MODEL_MATVEC_T TRIX_MATVEC_S8   /* never called: no ternary kernel (and no lookup tables) linked */
#else
#define TRIX_MODEL_TRITS trix_trits
#define TRIX_MODEL_KERNEL_NAME TRIX_KERNEL_NAME "+" TRIX_KERNEL_NAME_S8
#define TRIX_MODEL_MATVEC_T TRIX_MATVEC
#endif
#define TRIX_MODEL_WEIGHTS trix_weights
#define TRIX_MODEL_MATVEC_S8 TRIX_MATVEC_S8
#else
#define TRIX_FORMAT_F TRIX_FORMAT_TERNARY
#define TRIX_FORMAT_G TRIX_FORMAT_TERNARY
#define TRIX_MODEL_TRITS trix_trits
#define TRIX_MODEL_WEIGHTS 0
#define TRIX_MODEL_KERNEL_NAME TRIX_KERNEL_NAME
#define TRIX_MODEL_MATVEC_T TRIX_MATVEC
#define TRIX_MODEL_MATVEC_S8 TRIX_MATVEC      /* never called: no int8 kernel linked */
#endif

static const trix_model_t trix_default_model = {
    TRIX_INPUTS, TRIX_HIDDEN, TRIX_ROW_BYTES, TRIX_MODEL_TRITS,
    trix_row_multiplier, trix_row_shift, trix_bias_q16,
    trix_lam_q15, trix_w_o, TRIX_READOUT_BIAS, TRIX_READOUT_SHIFT,
    trix_sigmoid_q15, trix_tanh_q15, trix_row_requant, TRIX_PRE_SHIFT,
    TRIX_FORMAT_F, TRIX_FORMAT_G, TRIX_MODEL_WEIGHTS,
};

/* z = [x ; h ; zero padding]: the state lives here between steps (static, no heap).
 * int32 storage keeps the int16 view 4-byte aligned for the SIMD kernels. */
static int32_t trix_z_words[(TRIX_COLS_PADDED + 1) / 2];
static int32_t trix_acc[TRIX_ROWS];

int trix_inputs(void) { return TRIX_INPUTS; }
int trix_hidden(void) { return TRIX_HIDDEN; }
uint64_t trix_model_hash(void) { return TRIX_MODEL_HASH; }
const char *trix_kernel_name(void) { return TRIX_MODEL_KERNEL_NAME; }

#if defined(TRIX_CLASSES)
/* A classifier (docs/fixed_point.md, section 12): the window's step count and, for mean pooling,
 * the sum of h per unit since trix_reset(). */
static const trix_head_t trix_default_head = { TRIX_CLASSES, TRIX_POOLING, trix_w_c, trix_b_c, TRIX_HEAD_SHIFT };
static int32_t trix_pool_sum[TRIX_HIDDEN];
static int32_t trix_pool_steps;
#endif

void trix_reset(void)
{
    unsigned i;
    for (i = 0; i < sizeof trix_z_words / sizeof trix_z_words[0]; i++) trix_z_words[i] = 0;
#if defined(TRIX_CLASSES)
    for (i = 0; i < TRIX_HIDDEN; i++) trix_pool_sum[i] = 0;
    trix_pool_steps = 0;
#endif
}

int16_t trix_step(const int16_t *x_q14)
{
#if defined(TRIX_CLASSES)
    int16_t y;
    /* A full window (TRIX_MAX_WINDOW steps) is kept as it is: neither the state nor the pool moves,
     * so the logits are those of its first TRIX_MAX_WINDOW steps, as the golden model's. The
     * readout is zero: y = 0 either way. */
    if (trix_pool_steps >= TRIX_MAX_WINDOW) return 0;
    y = trix_cell_step_q14_kernels(&trix_default_model, TRIX_MODEL_MATVEC_T, TRIX_MODEL_MATVEC_S8,
                                   (int16_t *)(void *)trix_z_words, trix_acc, x_q14);
    trix_pool_steps++;
    if (TRIX_POOLING == TRIX_POOL_MEAN)
        trix_pool_add(trix_pool_sum, (const int16_t *)(const void *)trix_z_words + TRIX_INPUTS, TRIX_HIDDEN);
    return y;
#else
    return trix_cell_step_q14_kernels(&trix_default_model, TRIX_MODEL_MATVEC_T, TRIX_MODEL_MATVEC_S8,
                                      (int16_t *)(void *)trix_z_words, trix_acc, x_q14);
#endif
}

#if defined(TRIX_CLASSES)
int trix_classes(void) { return TRIX_CLASSES; }
int trix_window_steps(void) { return (int)trix_pool_steps; }

int trix_logits(int32_t *logits)
{
    int16_t v[TRIX_HIDDEN];
    trix_pooled_q15(&trix_default_head, TRIX_HIDDEN, (const int16_t *)(const void *)trix_z_words + TRIX_INPUTS,
                    trix_pool_sum, trix_pool_steps, v);
    return trix_head_logits(&trix_default_head, TRIX_HIDDEN, v, logits);
}

int trix_decide(int32_t *logits)
{
    const int cls = trix_logits(logits);
    int i;
    /* the next window: an empty pool; trix_z_words (the state) is left as it is */
    for (i = 0; i < TRIX_HIDDEN; i++) trix_pool_sum[i] = 0;
    trix_pool_steps = 0;
    return cls;
}
#else
int trix_classes(void) { return 0; }
int trix_window_steps(void) { return 0; }
int trix_logits(int32_t *logits) { (void)logits; return -1; }
int trix_decide(int32_t *logits) { (void)logits; return -1; }
#endif
