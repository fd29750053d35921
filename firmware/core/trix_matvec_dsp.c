/*
 * Cortex-M DSP (ARMv7E-M SIMD) ternary matvec.
 *
 * A byte of 4 trits indexes a 2 KB constant table giving the trits as two int16 pairs
 * (t0,t1) and (t2,t3); SMLAD then multiplies-and-adds each pair with the matching pair of
 * inputs (z0,z1), (z2,z3) in one instruction: per byte and row that is ldrb + table load
 * (2 x ldr) + 2 x SMLAD, no branches and no per-trit decoding.
 */
#include "trix_kernels.h"

#if TRIX_HAVE_DSP
#include <arm_acle.h>
#include <string.h>

/* int16 pair (lo, hi) of trit values (TRIX_T, trix_kernels.h) packed for SMLAD */
#define TRIX_PAIR(c0, c1) ((uint32_t)(uint16_t)(int16_t)TRIX_T(c0) | ((uint32_t)(uint16_t)(int16_t)TRIX_T(c1) << 16))
#define TRIX_E(b) { TRIX_PAIR((b) & 3, ((b) >> 2) & 3), TRIX_PAIR(((b) >> 4) & 3, ((b) >> 6) & 3) }
#define TRIX_E4(b) TRIX_E(b), TRIX_E((b) + 1), TRIX_E((b) + 2), TRIX_E((b) + 3)
#define TRIX_E16(b) TRIX_E4(b), TRIX_E4((b) + 4), TRIX_E4((b) + 8), TRIX_E4((b) + 12)
#define TRIX_E64(b) TRIX_E16(b), TRIX_E16((b) + 16), TRIX_E16((b) + 32), TRIX_E16((b) + 48)

static const uint32_t trix_dsp_pairs[256][2] = {
    TRIX_E64(0), TRIX_E64(64), TRIX_E64(128), TRIX_E64(192)
};

static uint32_t load_pair(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);   /* one LDR: z is 4-byte aligned */
    return v;
}

/*
 * Three rows per pass, in inline assembly so the 13 live values stay in registers (GCC
 * spills at 4 rows). Per packed byte (4 columns): one LDRD for the inputs z0..z3, shared by
 * the three rows, and per row LDRB + 2 LDR (table) + 2 SMLAD: 16 instructions for 12
 * weights; the loop runs two bytes per iteration (one leading single byte when row_bytes is
 * odd). Rows r, r+1, r+2 are addressed from one pointer as [w], [w, rb] and [w, rb, lsl #1].
 */
#define TRIX_DSP_BYTE \
        "ldrd   %[z01], %[z23], [%[zp]], #8\n\t" \
        "ldrb   %[t], [%[w], %[rb]]\n\t"               /* row 1 */ \
        "ldr    %[e], [%[lo], %[t], lsl #3]\n\t" \
        "smlad  %[a1], %[e], %[z01], %[a1]\n\t" \
        "ldr    %[e], [%[hi], %[t], lsl #3]\n\t" \
        "smlad  %[a1], %[e], %[z23], %[a1]\n\t" \
        "ldrb   %[t], [%[w], %[rb], lsl #1]\n\t"       /* row 2 */ \
        "ldr    %[e], [%[lo], %[t], lsl #3]\n\t" \
        "smlad  %[a2], %[e], %[z01], %[a2]\n\t" \
        "ldr    %[e], [%[hi], %[t], lsl #3]\n\t" \
        "smlad  %[a2], %[e], %[z23], %[a2]\n\t" \
        "ldrb   %[t], [%[w]], #1\n\t"                  /* row 0, next byte */ \
        "ldr    %[e], [%[lo], %[t], lsl #3]\n\t" \
        "smlad  %[a0], %[e], %[z01], %[a0]\n\t" \
        "ldr    %[e], [%[hi], %[t], lsl #3]\n\t" \
        "smlad  %[a0], %[e], %[z23], %[a0]\n\t"

static void rows3(const uint8_t *w, int row_bytes, const int16_t *z, int32_t *acc,
                  const uint32_t *lut_lo, const uint32_t *lut_hi)
{
    int32_t a0 = 0, a1 = 0, a2 = 0;
    const int16_t *zend = z + 4 * row_bytes;
    uint32_t z01, z23, t, e;
    __asm__ volatile(
        "tst    %[rb], #1\n\t"
        "beq    2f\n\t"
        TRIX_DSP_BYTE
        "2:\n\t"
        "cmp    %[zp], %[zend]\n\t"
        "beq    3f\n\t"
        "1:\n\t"
        TRIX_DSP_BYTE
        TRIX_DSP_BYTE
        "cmp    %[zp], %[zend]\n\t"
        "bne    1b\n\t"
        "3:\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [zp] "+r"(z), [w] "+r"(w),
          [z01] "=&r"(z01), [z23] "=&r"(z23), [t] "=&r"(t), [e] "=&r"(e)
        : [rb] "r"(row_bytes), [lo] "r"(lut_lo), [hi] "r"(lut_hi), [zend] "r"(zend)
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
}

void trix_matvec_dsp(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    /* Two table bases (first and second word of each entry) so every table read is a single
     * LDR with a scaled register offset. */
    const uint32_t *lut_lo = &trix_dsp_pairs[0][0], *lut_hi = &trix_dsp_pairs[0][1];
    int r, b;
    if (row_bytes < 1) {
        for (r = 0; r < rows; r++) acc[r] = 0;
        return;
    }
    if (rows >= 3) {
        for (r = 0; r + 3 <= rows; r += 3)
            rows3(trits + (long)r * row_bytes, row_bytes, z, acc + r, lut_lo, lut_hi);
        /* 1 or 2 rows left: one more pass over the last three rows (recomputing one or two
         * finished rows gives the same values) instead of a slower single-row loop */
        if (r < rows)
            rows3(trits + (long)(rows - 3) * row_bytes, row_bytes, z, acc + rows - 3, lut_lo, lut_hi);
        return;
    }
    for (r = 0; r < rows; r++) {
        const uint8_t *w = trits + (long)r * row_bytes;
        int32_t a = 0;
        const int16_t *zp = z;
        for (b = 0; b < row_bytes; b++, zp += 4) {
            const unsigned t = 2u * w[b];
            a = __smlad(lut_lo[t], load_pair(zp), a);
            a = __smlad(lut_hi[t], load_pair(zp + 2), a);
        }
        acc[r] = a;
    }
}
#endif /* TRIX_HAVE_DSP */
