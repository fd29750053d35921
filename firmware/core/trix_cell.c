/* The cell step of docs/fixed_point.md; integer only, no heap, no floating point. */
#include "trix_cell.h"

/* The rounding rules rely on >> of negative values being an arithmetic (flooring) shift,
 * which GCC and Clang guarantee; refuse to compile where it does not hold. */
typedef char trix_check_arithmetic_shift[((-1 >> 1) == -1 && ((int64_t)-3 >> 1) == -2) ? 1 : -1];

#define PRE_CLAMP ((int32_t)1 << 20)

int32_t trix_requantize_q12(int32_t acc, int32_t multiplier, int shift, int32_t bias_q12)
{
    /* |acc * M| < 2^62: exact in int64; + 2^(n-1) then >> n rounds half up. */
    int64_t p = ((int64_t)acc * multiplier + ((int64_t)1 << (shift - 1))) >> shift;
    p += bias_q12;
    if (p > PRE_CLAMP) p = PRE_CLAMP;
    if (p < -PRE_CLAMP) p = -PRE_CLAMP;
    return (int32_t)p;
}

int32_t trix_table_q15(const int16_t *table, int32_t pre_q12)
{
    int32_t u = pre_q12 + 32768;            /* -8.0 in Q12 maps to 0 */
    int32_t i, f, lo;
    if (u < 0) return table[0];
    if (u >= 65536) return table[TRIX_TABLE_SIZE_Q15 - 1];
    i = u >> 7;                             /* step 1/32 = 2^7 in Q12 */
    f = u & 127;
    lo = table[i];
    return lo + (((table[i + 1] - lo) * f + 64) >> 7);
}

static int16_t sat16(int32_t v)
{
    return (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}

int16_t trix_cell_step_q14(const trix_model_t *m, trix_matvec_fn matvec,
                           int16_t *z, int32_t *acc, const int16_t *x_q14)
{
    const int I = m->inputs, H = m->hidden;
    int16_t *h = z + I;
    int64_t acc_y = m->b_o;
    int64_t y;
    int i;

    for (i = 0; i < I; i++) z[i] = x_q14[i];
    /* Both heads in one pass: the kernel reads all of h_{t-1} before any unit changes. */
    matvec(m->trits, 2 * H, m->row_bytes, z, acc);

    for (i = 0; i < H; i++) {
        int32_t g = trix_table_q15(m->sigmoid_q15,
                                   trix_requantize_q12(acc[i], m->row_multiplier[i], m->row_shift[i], m->bias_q12[i]));
        int32_t c = trix_table_q15(m->tanh_q15,
                                   trix_requantize_q12(acc[H + i], m->row_multiplier[H + i], m->row_shift[H + i],
                                                       m->bias_q12[H + i]));
        int32_t d = ((int32_t)m->lam_q15[i] * (32768 - g) + (1 << 14)) >> 15;   /* lam*(1-g), Q15 */
        int32_t acc29 = d * h[i] + ((g * c + 1) >> 1);                          /* Q29 */
        int16_t hn = sat16((acc29 + (1 << 14)) >> 15);                          /* Q14 */
        h[i] = hn;  /* unit i's old state is not needed any more */
        acc_y += (int32_t)m->w_o[i] * hn;
    }
    y = (acc_y + ((int64_t)1 << (m->readout_shift - 1))) >> m->readout_shift;
    return (int16_t)(y > 32767 ? 32767 : (y < -32768 ? -32768 : y));
}
