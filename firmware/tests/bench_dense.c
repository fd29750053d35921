/*
 * Dense int8 baseline for bench_kernels (bench image only, never in the product firmware):
 * the same 2H x (I+H) matrix-vector product as the ternary kernels, with int8 weights and
 * int16 activations the way CMSIS-NN's fully connected s8/s16 kernels do it on ARMv7E-M:
 * a word of four int8 weights widened by two SXTB16 (one of them with ROR #8) into two int16
 * pairs, each pair multiplied with an input pair by SMLAD (two multiply-accumulates per
 * instruction); two rows per pass share each input load.
 *
 * Weights are stored offline in the "reordered" layout CMSIS-NN uses for its s8 x s16 kernels:
 * per group of four columns the bytes are (w0, w2, w1, w3), so SXTB16(word) = (w0, w1) and
 * SXTB16(word ROR 8) = (w2, w3) line up with the natural input pairs (x0, x1), (x2, x3) and no
 * input repacking is needed (the most favourable layout for the dense kernel). Rows are
 * padded with zero weights to a multiple of four columns (cols4); z must hold cols4 values.
 */
#include <stdint.h>
#include <string.h>

#include "bench_dense.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>

static inline uint32_t load32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
/* SXTB16 with its built-in rotation (CMSIS-NN's __SXTB16_RORn): one instruction, where GCC
 * would emit a separate ROR for __sxtb16((v >> 8) | (v << 24)). */
static inline int16x2_t sxtb16_ror8(uint32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

void dense_matvec_s8_smlad(const int8_t *w, int rows, int cols4, const int16_t *z, int32_t *acc)
{
    int r, c;
    for (r = 0; r + 1 < rows; r += 2) {
        const int8_t *w0 = w + (long)r * cols4, *w1 = w0 + cols4;
        int32_t a0 = 0, a1 = 0;
        for (c = 0; c < cols4; c += 4) {
            const int16x2_t x01 = (int16x2_t)load32(z + c), x23 = (int16x2_t)load32(z + c + 2);
            const uint32_t p = load32(w0 + c), q = load32(w1 + c);
            a0 = __smlad(__sxtb16(p), x01, a0);
            a0 = __smlad(sxtb16_ror8(p), x23, a0);
            a1 = __smlad(__sxtb16(q), x01, a1);
            a1 = __smlad(sxtb16_ror8(q), x23, a1);
        }
        acc[r] = a0;
        acc[r + 1] = a1;
    }
    for (; r < rows; r++) {
        const int8_t *w0 = w + (long)r * cols4;
        int32_t a0 = 0;
        for (c = 0; c < cols4; c += 4) {
            const uint32_t p = load32(w0 + c);
            a0 = __smlad(__sxtb16(p), (int16x2_t)load32(z + c), a0);
            a0 = __smlad(sxtb16_ror8(p), (int16x2_t)load32(z + c + 2), a0);
        }
        acc[r] = a0;
    }
}
#endif

/* Plain C dense int8 (any target; also the check of the SMLAD version), reordered layout. */
void dense_matvec_s8_c(const int8_t *w, int rows, int cols4, const int16_t *z, int32_t *acc)
{
    static const int col_of_byte[4] = { 0, 2, 1, 3 };
    int r, c, b;
    for (r = 0; r < rows; r++) {
        int32_t a = 0;
        for (c = 0; c < cols4; c += 4)
            for (b = 0; b < 4; b++) a += (int32_t)w[(long)r * cols4 + c + b] * z[c + col_of_byte[b]];
        acc[r] = a;
    }
}

/* Dense int8 copy of a packed ternary matrix (trit j at bits 2*(j%4) of byte j/4; 01 = +1,
 * 10 = -1), in the reordered layout; returns the padded column count. */
int dense_from_trits(const uint8_t *trits, int rows, int row_bytes, int cols, int8_t *w)
{
    static const int byte_of_col[4] = { 0, 2, 1, 3 };
    const int cols4 = (cols + 3) & ~3;
    int r, j;
    for (r = 0; r < rows; r++) {
        int8_t *row = w + (long)r * cols4;
        memset(row, 0, (size_t)cols4);
        for (j = 0; j < cols; j++) {
            const int t = (trits[(long)r * row_bytes + j / 4] >> (2 * (j % 4))) & 3;
            row[(j & ~3) + byte_of_col[j & 3]] = (int8_t)(t == 1 ? 1 : t == 2 ? -1 : 0);
        }
    }
    return cols4;
}
