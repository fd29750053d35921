/*
 * int8 matrix-vector kernels for the int8 heads of a model (docs/fixed_point.md, 2a): the dense
 * counterpart of the ternary kernels, with the same signature and the same contract,
 *
 *     acc[r] = sum_j W[r][j] * z[j]      (int32, exact: |W| <= 127, |acc| < 2^31 by codegen's bound)
 *
 * on rows of row_bytes * 4 int8 weights stored per group of four columns as (w0, w2, w1, w3), the
 * order CMSIS-NN's s8 x s16 fully connected kernels use: on ARMv7E-M one LDR of a group and
 * SXTB16 / SXTB16 ROR #8 give the int16 pairs (w0, w1) and (w2, w3) for SMLAD with the input pairs
 * (z0, z1), (z2, z3) as they lie in z. Rows start on 4-byte boundaries (the header aligns them).
 *
 *   s8_ref    portable, one row at a time (the yardstick)
 *   s8_c      portable, two rows per pass sharing every input load (Cortex-M0, M3, hosts)
 *   s8_smlad  ARMv7E-M DSP, three rows per pass in inline assembly (Cortex-M4, M7, M33, M55)
 *   s8_neon   AArch64 Advanced SIMD
 */
#include <string.h>

#include "trix_kernels.h"

void trix_matvec_s8_ref(const uint8_t *w8, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    const int8_t *w = (const int8_t *)w8;
    const int cols4 = 4 * row_bytes;
    int r, c;
    for (r = 0; r < rows; r++, w += cols4) {
        int32_t s = 0;
        for (c = 0; c < cols4; c += 4)
            s += w[c] * z[c] + w[c + 1] * z[c + 2] + w[c + 2] * z[c + 1] + w[c + 3] * z[c + 3];
        acc[r] = s;
    }
}

void trix_matvec_s8_c(const uint8_t *w8, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    const int8_t *w = (const int8_t *)w8;
    const int cols4 = 4 * row_bytes;
    int r, c;
    for (r = 0; r + 1 < rows; r += 2, w += 2 * cols4) {
        const int8_t *v = w + cols4;
        int32_t a0 = 0, a1 = 0;
        for (c = 0; c < cols4; c += 4) {
            const int32_t z0 = z[c], z1 = z[c + 1], z2 = z[c + 2], z3 = z[c + 3];
            a0 += w[c] * z0 + w[c + 1] * z2 + w[c + 2] * z1 + w[c + 3] * z3;
            a1 += v[c] * z0 + v[c + 1] * z2 + v[c + 2] * z1 + v[c + 3] * z3;
        }
        acc[r] = a0;
        acc[r + 1] = a1;
    }
    if (r < rows) trix_matvec_s8_ref((const uint8_t *)w, 1, row_bytes, z, acc + r);
}

#if TRIX_HAVE_DSP
#include <arm_acle.h>

static inline uint32_t load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* one row's group of four: LDR of its weights, two SXTB16, two SMLAD with the input pairs */
#define TRIX_S8_ROW(A, ADDR) \
        "ldr    %[p], " ADDR "\n\t" \
        "sxtb16 %[e], %[p]\n\t" \
        "smlad  %[" A "], %[e], %[z01], %[" A "]\n\t" \
        "sxtb16 %[e], %[p], ror #8\n\t" \
        "smlad  %[" A "], %[e], %[z23], %[" A "]\n\t"
/* a group of four columns for three rows (r, r + 1, r + 2 at [w], [w, cb], [w, cb, lsl #1]):
 * one LDRD of the inputs, 16 instructions for 12 weights */
#define TRIX_S8_GROUP \
        "ldrd   %[z01], %[z23], [%[zp]], #8\n\t" \
        TRIX_S8_ROW("a1", "[%[w], %[cb]]") \
        TRIX_S8_ROW("a2", "[%[w], %[cb], lsl #1]") \
        TRIX_S8_ROW("a0", "[%[w]], #4")

static void s8_rows3(const int8_t *w, int cols4, const int16_t *z, int32_t *acc)
{
    int32_t a0 = 0, a1 = 0, a2 = 0;
    const int16_t *zend = z + cols4;
    uint32_t z01, z23, p, e;
    __asm__ volatile(
        "tst    %[cb], #4\n\t"                      /* an odd number of groups: one first */
        "beq    2f\n\t"
        TRIX_S8_GROUP
        "2:\n\t"
        "cmp    %[zp], %[zend]\n\t"
        "beq    3f\n\t"
        "1:\n\t"
        TRIX_S8_GROUP
        TRIX_S8_GROUP
        "cmp    %[zp], %[zend]\n\t"
        "bne    1b\n\t"
        "3:\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [zp] "+r"(z), [w] "+r"(w),
          [z01] "=&r"(z01), [z23] "=&r"(z23), [p] "=&r"(p), [e] "=&r"(e)
        : [cb] "r"(cols4), [zend] "r"(zend)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
}
#undef TRIX_S8_ROW
#undef TRIX_S8_GROUP

void trix_matvec_s8_smlad(const uint8_t *w8, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    const int8_t *w = (const int8_t *)w8;
    const int cols4 = 4 * row_bytes;
    int r, c;
    if (row_bytes < 1) {
        for (r = 0; r < rows; r++) acc[r] = 0;
        return;
    }
    if (rows >= 3) {
        for (r = 0; r + 3 <= rows; r += 3) s8_rows3(w + (long)r * cols4, cols4, z, acc + r);
        /* 1 or 2 rows left: the last three rows once more (the same values for the finished ones) */
        if (r < rows) s8_rows3(w + (long)(rows - 3) * cols4, cols4, z, acc + rows - 3);
        return;
    }
    for (r = 0; r < rows; r++, w += cols4) {
        int32_t a = 0;
        for (c = 0; c < cols4; c += 4) {
            const uint32_t p = load32(w + c);
            a = __smlad(__sxtb16(p), load32(z + c), a);
            a = __smlad(__sxtb16((p >> 8) | (p << 24)), load32(z + c + 2), a);
        }
        acc[r] = a;
    }
}
#endif /* TRIX_HAVE_DSP */

#if TRIX_HAVE_NEON
#include <arm_neon.h>

void trix_matvec_s8_neon(const uint8_t *w8, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    static const uint8_t order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };   /* CMSIS-NN order -> columns */
    const uint8x8_t idx = vld1_u8(order);
    const int8_t *w = (const int8_t *)w8;
    const int cols4 = 4 * row_bytes;
    int r, c;
    for (r = 0; r < rows; r++, w += cols4) {
        int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
        for (c = 0; c + 8 <= cols4; c += 8) {
            const int16x8_t t = vmovl_s8(vtbl1_s8(vld1_s8(w + c), vreinterpret_s8_u8(idx)));
            const int16x8_t x = vld1q_s16(z + c);
            s0 = vmlal_s16(s0, vget_low_s16(t), vget_low_s16(x));
            s1 = vmlal_high_s16(s1, t, x);
        }
        if (c < cols4) {   /* an odd number of groups: the last four */
            int8_t last[8] = { 0 };
            memcpy(last, w + c, 4);
            s0 = vmlal_s16(s0, vget_low_s16(vmovl_s8(vtbl1_s8(vld1_s8(last), vreinterpret_s8_u8(idx)))),
                           vld1_s16(z + c));
        }
        acc[r] = vaddvq_s32(vaddq_s32(s0, s1));
    }
}
#endif /* TRIX_HAVE_NEON */
