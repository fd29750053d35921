/* The cell step of docs/fixed_point.md; integer only, no heap, no floating point. */
#include "trix_cell.h"

/* The rounding rules rely on >> of negative values being an arithmetic (flooring) shift,
 * which GCC and Clang guarantee; refuse to compile where it does not hold. */
typedef char trix_check_arithmetic_shift[((-1 >> 1) == -1 && ((int64_t)-3 >> 1) == -2) ? 1 : -1];

#define PRE_CLAMP ((int32_t)256 << 16)   /* 256.0 in Q16 */

int32_t trix_requantize_q16(int32_t acc, int32_t multiplier, int shift, int32_t bias_q16)
{
    /* |acc * M| < 2^62: exact in int64; + 2^(n-1) then >> n rounds half up. */
    int64_t p = ((int64_t)acc * multiplier + ((int64_t)1 << (shift - 1))) >> shift;
    p += bias_q16;
    if (p > PRE_CLAMP) p = PRE_CLAMP;
    if (p < -PRE_CLAMP) p = -PRE_CLAMP;
    return (int32_t)p;
}

int32_t trix_table_q15(const int16_t *table, int32_t pre_q16)
{
    int32_t u = pre_q16 + ((int32_t)8 << 16);   /* -8.0 in Q16 maps to 0 */
    int32_t i, f, lo;
    if (u < 0) return table[0];
    if (u >= ((int32_t)16 << 16)) return table[TRIX_TABLE_SIZE_Q15 - 1];
    i = u >> 10;                                 /* step 1/64 = 2^10 in Q16 */
    f = u & 1023;
    lo = table[i];
    return lo + (((table[i + 1] - lo) * f + 512) >> 10);
}

static int16_t sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

/* T_x x for row r: the input columns' trits (bits 0..2I-1 of the row) applied to x_q14. */
static int32_t input_columns(const uint8_t *row, int inputs, const int16_t *x_q14)
{
    int32_t s = 0;
    int i;
    for (i = 0; i < inputs; i++) {
        unsigned code = (row[i >> 2] >> (2 * (i & 3))) & 3u;
        if (code == 1u) s += x_q14[i];
        else if (code == 2u) s -= x_q14[i];
    }
    return s;
}

int16_t trix_cell_step_q14(const trix_model_t *m, trix_matvec_fn matvec,
                           int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    const int I = m->inputs, H = m->hidden, R = 2 * m->hidden;
    int16_t *h = z + I;   /* Q15 */
    int64_t acc_y = m->b_o;
    int64_t y;
    int i, r;

    for (i = 0; i < I; i++) z[i] = x_q14[i];
    /* Both heads in one pass: the kernel reads all of h_{t-1} before any unit changes.
     * z mixes x (Q14) and h (Q15); adding T_x x once more puts x in Q15 too. */
    matvec(m->trits, R, m->row_bytes, z, acc);
    for (r = 0; r < R; r++) acc[r] += input_columns(m->trits + (long)r * m->row_bytes, I, x_q14);

    for (i = 0; i < H; i++) {
        int32_t g = trix_table_q15(m->sigmoid_q15,
                                   trix_requantize_q16(acc[i], m->row_multiplier[i], m->row_shift[i], m->bias_q16[i]));
        int32_t c = trix_table_q15(m->tanh_q15,
                                   trix_requantize_q16(acc[H + i], m->row_multiplier[H + i], m->row_shift[H + i],
                                                       m->bias_q16[H + i]));
        int32_t d = ((int32_t)m->lam_q15[i] * (32768 - g) + (1 << 14)) >> 15;   /* lam*(1-g), Q15 */
        int32_t acc30 = d * h[i] + g * c;                                       /* Q30, < 2^31 */
        int16_t hn = sat16((acc30 + (1 << 14)) >> 15);                          /* Q15 */
        h[i] = hn;  /* unit i's old state is not needed any more */
        acc_y += (int64_t)m->w_o[i] * hn;   /* int32 x int16: one SMLAL */
    }
    y = (acc_y + ((int64_t)1 << m->readout_shift)) >> (m->readout_shift + 1);   /* Q(15+s) -> Q14 */
    return (int16_t)(y > 32767 ? 32767 : (y < -32768 ? -32768 : y));
}
