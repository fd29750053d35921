/* The cell step of docs/fixed_point.md; integer only, no heap, no floating point.
 *
 * trix_cell_step_q14_ref: sections 2-6 as written (requantize_q16, table_q15 per row, then the
 * state update), the reference the tests and the bench compare with. trix_cell_step_q14: the
 * runtime path, the same values through codegen's row_requant (section 3a) and the per-row and
 * per-unit passes of trix_cell_rows.c. */
#include "trix_cell.h"

#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>   /* __usat: ARMv7-M and later */
#endif

/* The rounding rules rely on >> of negative values being an arithmetic (flooring) shift,
 * which GCC and Clang guarantee; refuse to compile where it does not hold. */
typedef char trix_check_arithmetic_shift[((-1 >> 1) == -1 && ((int64_t)-3 >> 1) == -2) ? 1 : -1];

/* High word of the signed 64-bit product a * b, exact. ARMv6-M (Cortex-M0) has no SMULL: GCC
 * would call __aeabi_lmul for the whole 64-bit product; four 16 x 16 -> 32 MULS do it here
 * (Hacker's Delight, mulhs). Elsewhere one SMULL. */
static inline int32_t mul_hi32(int32_t a, int32_t b)
{
#if defined(__ARM_ARCH_6M__)
    const uint32_t a0 = (uint32_t)a & 0xFFFFu, b0 = (uint32_t)b & 0xFFFFu;
    const int32_t a1 = a >> 16, b1 = b >> 16;
    const uint32_t w0 = a0 * b0;
    const int32_t t = a1 * (int32_t)b0 + (int32_t)(w0 >> 16);
    const int32_t w1 = (int32_t)(a0 * (uint32_t)b1) + (t & 0xFFFF);   /* a0 * b1 wraps like the int32 product */
    return a1 * b1 + (t >> 16) + (w1 >> 16);
#else
    return (int32_t)(((int64_t)a * b) >> 32);
#endif
}

static inline int32_t requantize_q16(int32_t acc, int32_t multiplier, int shift, int32_t bias_q16)
{
    /* Spec: ((int64)acc * M + 2^(n-1)) >> n. Scaling acc by 2^L (L = 33 - n when n < 33)
     * and the shift by the same 2^L leaves the value unchanged, and for n' = n + L >= 33 the
     * rounding constant falls entirely into the high word, so
     *     (x + 2^(n'-1)) >> n' == (hi32(x) + 2^(n'-33)) >> (n' - 32)
     * exactly (the low word adds less than one unit of the result's last place).
     * Codegen guarantees acc * 2^L fits int32, so this is one SMULL (mul_hi32) and 32-bit arithmetic;
     * the result is below 2^30 + 2^23 in magnitude (no clamp needed before the table). */
    const int L = shift < 33 ? 33 - shift : 0;                     /* <= 14 (range check) */
    const int k = shift + L - 32;                                   /* 1..30 */
    const int32_t hi = mul_hi32(acc * ((int32_t)1 << L), multiplier);
    return ((hi + ((int32_t)1 << (k - 1))) >> k) + bias_q16;
}

static inline int32_t table_q15(const int16_t *table, int32_t pre_q16)
{
    /* -8.0 maps to 0; clamping to the table's span saturates both ends (the tables are flat
     * there, docs/fixed_point.md section 4) and compiles to one USAT on ARMv7-M. */
    enum { SPAN_MAX = (1 << TRIX_TABLE_SPAN_BITS) - 1, STEP = 1 << TRIX_TABLE_STEP_SHIFT };
    int32_t u = pre_q16 + ((int32_t)1 << (TRIX_TABLE_RANGE_LOG2 + TRIX_PRE_FRAC));
    int32_t i, f, lo;
#if defined(__ARM_FEATURE_SAT)
    u = (int32_t)__usat(u, TRIX_TABLE_SPAN_BITS);
#else
    u = u < 0 ? 0 : (u > SPAN_MAX ? SPAN_MAX : u);
#endif
    i = u >> TRIX_TABLE_STEP_SHIFT;              /* step 1/64 = 2^10 in Q16 */
    f = u & (STEP - 1);
    lo = table[i];
    return lo + (((table[i + 1] - lo) * f + STEP / 2) >> TRIX_TABLE_STEP_SHIFT);
}

int32_t trix_requantize_q16(int32_t acc, int32_t multiplier, int shift, int32_t bias_q16)
{
    return requantize_q16(acc, multiplier, shift, bias_q16);
}

int32_t trix_table_q15(const int16_t *table, int32_t pre_q16)
{
    return table_q15(table, pre_q16);
}

static inline int16_t sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* The input columns' contribution T_x x_q14 to one row. For I <= 2 (the sine tasks: I = 1)
 * both input trits sit in the low nibble of the row's first byte, and a 16-entry table of
 * every trit pair's sum, built once per step, makes it one lookup per row. */
static inline int32_t input_columns(const uint8_t *row, int inputs, const int16_t *x_q14)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < inputs; i++) {
        const int32_t code = (row[i >> 2] >> (2 * (i & 3))) & 3;
        s += ((code & 1) - (code >> 1)) * x_q14[i];   /* 00 -> 0, 01 -> +1, 10 -> -1, 11 -> 0 */
    }
    return s;
}

/* The input columns' contribution W_x x_q14 to one int8 row (CMSIS-NN byte order: column j of a
 * group of four is byte (j & ~3) + {0, 2, 1, 3}[j & 3], docs/fixed_point.md 2a). */
static inline int32_t input_columns_s8(const int8_t *row, int inputs, const int16_t *x_q14)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < inputs; i++) {
        const int j = (i & ~3) + ((i & 1) << 1 | (i & 2) >> 1);
        s += row[j] * x_q14[i];
    }
    return s;
}

/* Head h's rows (0 gate, 1 candidate) in the model's weight arrays: the ternary rows in trits,
 * the int8 rows in weights, each in head order. */
static inline int head_format(const trix_model_t *m, int h)
{
    return h ? m->format_g : m->format_f;
}

static inline const uint8_t *head_trits(const trix_model_t *m, int h)
{
    return m->trits + (h && m->format_f == TRIX_FORMAT_TERNARY ? (long)m->hidden * m->row_bytes : 0);
}

static inline const int8_t *head_weights(const trix_model_t *m, int h)
{
    return m->weights + (h && m->format_f == TRIX_FORMAT_INT8 ? (long)m->hidden * m->row_bytes * 4 : 0);
}

/* acc = W z for both heads (section 2): one call of the format's kernel when both heads share it,
 * else one per head. The kernels read all of h_{t-1} before any unit changes. */
static void heads_matvec(const trix_model_t *m, trix_matvec_fn ternary, trix_matvec_fn int8,
                         const int16_t *z, int32_t *acc)
{
    const int H = m->hidden;
    int h;
    if (m->format_f == m->format_g) {
        if (m->format_f == TRIX_FORMAT_TERNARY) ternary(m->trits, 2 * H, m->row_bytes, z, acc);
        else int8((const uint8_t *)m->weights, 2 * H, m->row_bytes, z, acc);
        return;
    }
    for (h = 0; h < 2; h++) {
        if (head_format(m, h) == TRIX_FORMAT_TERNARY) ternary(head_trits(m, h), H, m->row_bytes, z, acc + h * H);
        else int8((const uint8_t *)head_weights(m, h), H, m->row_bytes, z, acc + h * H);
    }
}

/* Rows of head h: acc (kernel output) -> activation (Q15), in place. Separate passes for the
 * heads and for the state update keep every pointer in a register. */
static void head_activations(const trix_model_t *m, int h, const int16_t *table,
                             int32_t *acc, const int32_t *x_pairs, const int16_t *x_q14)
{
    const int I = m->inputs, rb = m->row_bytes, H = m->hidden;
    const int r0 = h * H, r1 = r0 + H;
    int r;
    if (head_format(m, h) == TRIX_FORMAT_INT8) {
        const int8_t *w = head_weights(m, h);
        for (r = r0; r < r1; r++, w += 4 * rb) {
            const int32_t a = acc[r] + input_columns_s8(w, I, x_q14);
            acc[r] = table_q15(table, requantize_q16(a, m->row_multiplier[r], m->row_shift[r], m->bias_q16[r]));
        }
        return;
    }
    {
        const uint8_t *row = head_trits(m, h);
        for (r = r0; r < r1; r++, row += rb) {
            /* z holds x in Q14 but h in Q15: adding T_x x once more puts x in Q15 too. */
            const int32_t a = acc[r] + (I <= 2 ? x_pairs[row[0] & 15] : input_columns(row, I, x_q14));
            acc[r] = table_q15(table, requantize_q16(a, m->row_multiplier[r], m->row_shift[r], m->bias_q16[r]));
        }
    }
}

int16_t trix_cell_step_q14_ref(const trix_model_t *m, trix_matvec_fn matvec,
                               int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    return trix_cell_step_q14_ref_kernels(m, matvec, TRIX_MATVEC_S8, z, acc, x_q14);
}

int16_t trix_cell_step_q14_ref_kernels(const trix_model_t *m, trix_matvec_fn matvec, trix_matvec_fn int8,
                                       int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    const int I = m->inputs, H = m->hidden;
    int16_t *h = z + I;   /* Q15 */
    const int32_t *gate = acc, *cand = acc + H;
    const int16_t *lam = m->lam_q15;
    const int32_t *w_o = m->w_o;
    int32_t x_pairs[16];
    int64_t acc_y = m->b_o;
    int64_t y;
    int i;

    for (i = 0; i < I; i++) z[i] = x_q14[i];
    heads_matvec(m, matvec, int8, z, acc);

    if (I <= 2) {   /* every pair of input trits (low nibble of byte 0) -> its sum */
        const int32_t x0 = x_q14[0], x1 = I > 1 ? x_q14[1] : 0;
        const int32_t v[4] = { 0, x0, -x0, 0 }, w[4] = { 0, x1, -x1, 0 };
        for (i = 0; i < 16; i++) x_pairs[i] = v[i & 3] + w[i >> 2];
    }
    head_activations(m, 0, m->sigmoid_q15, acc, x_pairs, x_q14);       /* g, Q15 */
    head_activations(m, 1, m->tanh_q15, acc, x_pairs, x_q14);          /* c, Q15 */

    for (i = 0; i < H; i++) {
        const int32_t g = gate[i], c = cand[i];
        const int32_t d = ((int32_t)lam[i] * (32768 - g) + (1 << 14)) >> 15;   /* lam*(1-g), Q15 */
        const int32_t acc30 = d * h[i] + g * c;                               /* Q30, < 2^31 */
        const int16_t hn = sat16((acc30 + (1 << 14)) >> 15);                  /* Q15 */
        h[i] = hn;  /* unit i's old state is not needed any more */
        acc_y += (int64_t)w_o[i] * hn;   /* int32 x int16: one SMLAL */
    }
    y = (acc_y + ((int64_t)1 << m->readout_shift)) >> (m->readout_shift + 1);   /* Q(15+s) -> Q14 */
    return (int16_t)(y > 32767 ? 32767 : (y < -32768 ? -32768 : y));
}

/* The input columns' contribution T_x x_q14 added to every row's kernel sum (the step's slow
 * path, when some 2 x does not fit int16). */
static void add_input_columns(const trix_model_t *m, int32_t *acc, const int16_t *x_q14)
{
    const int H = m->hidden, rb = m->row_bytes, I = m->inputs;
    int h, r;
    for (h = 0; h < 2; h++) {
        int32_t *a = acc + h * H;
        if (head_format(m, h) == TRIX_FORMAT_INT8) {
            const int8_t *w = head_weights(m, h);
            for (r = 0; r < H; r++, w += 4 * rb) a[r] += input_columns_s8(w, I, x_q14);
        } else {
            const uint8_t *row = head_trits(m, h);
            for (r = 0; r < H; r++, row += rb) a[r] += input_columns(row, I, x_q14);
        }
    }
}

int16_t trix_cell_step_q14(const trix_model_t *m, trix_matvec_fn matvec,
                           int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    return trix_cell_step_q14_kernels(m, matvec, TRIX_MATVEC_S8, z, acc, x_q14);
}

int16_t trix_cell_step_q14_kernels(const trix_model_t *m, trix_matvec_fn matvec, trix_matvec_fn int8,
                                   int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    const int I = m->inputs, H = m->hidden;
    int64_t y;
    int i, twice = 1;

    /* acc15 = T [2x ; h] (section 2). When every 2 x_q14 fits int16 (x in [-1, 1)) the kernel
     * gets 2x itself and returns acc15; otherwise x, and T_x x is added to each row after. */
    for (i = 0; i < I; i++) twice &= x_q14[i] >= -16384 && x_q14[i] < 16384;
    for (i = 0; i < I; i++) z[i] = (int16_t)(twice ? 2 * x_q14[i] : x_q14[i]);
    heads_matvec(m, matvec, int8, z, acc);
    if (!twice) add_input_columns(m, acc, x_q14);

    trix_activations_q15(acc, H, m->row_requant, m->pre_shift, m->sigmoid_q15);                        /* g */
    trix_activations_q15(acc + H, H, m->row_requant + TRIX_ROW_REQUANT_WORDS * H, m->pre_shift, m->tanh_q15);  /* c */
    y = trix_update_state(acc, H, z + I, m->lam_q15, m->w_o) + m->b_o;
    y = (y + ((int64_t)1 << m->readout_shift)) >> (m->readout_shift + 1);   /* Q(15+s) -> Q14 */
    return (int16_t)(y > 32767 ? 32767 : (y < -32768 ? -32768 : y));
}
