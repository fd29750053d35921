/*
 * Cortex-M DSP (ARMv7E-M SIMD) ternary matvec.
 *
 * A byte of 4 trits indexes a 2 KB constant table giving the trits as two int16 pairs
 * (t0,t1) and (t2,t3); SMLAD then multiplies-and-adds each pair with the matching pair of
 * inputs (z0,z1), (z2,z3) in one instruction: per byte and row that is ldrb + table load
 * (2 x ldr) + 2 x SMLAD, no branches and no per-trit decoding. Two rows are processed per
 * pass so each pair of input words is loaded once for two rows.
 */
#include "trix_kernels.h"

#if TRIX_HAVE_DSP
#include <arm_acle.h>
#include <string.h>

/* int16 pair (lo, hi) packed for SMLAD; trit code -> value: 00 -> 0, 01 -> +1, 10 -> -1, 11 -> 0 */
#define TRIX_T(c) ((c) == 1 ? 1 : ((c) == 2 ? -1 : 0))
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

void trix_matvec_dsp(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    /* Two table bases (first and second word of each entry) so every table read is a single
     * LDR with a scaled register offset: per byte and row ldrb + 2 ldr + 2 smlad. */
    const uint32_t *lut_lo = &trix_dsp_pairs[0][0], *lut_hi = &trix_dsp_pairs[0][1];
    int r = 0, b;
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = trits + (long)r * row_bytes;
        const uint8_t *w1 = w0 + row_bytes;
        int32_t a0 = 0, a1 = 0;
        const int16_t *zp = z;
        for (b = 0; b < row_bytes; b++, zp += 4) {
            const uint32_t z01 = load_pair(zp), z23 = load_pair(zp + 2);
            const unsigned t0 = 2u * w0[b], t1 = 2u * w1[b];
            a0 = __smlad(lut_lo[t0], z01, a0);
            a1 = __smlad(lut_lo[t1], z01, a1);
            a0 = __smlad(lut_hi[t0], z23, a0);
            a1 = __smlad(lut_hi[t1], z23, a1);
        }
        acc[r] = a0;
        acc[r + 1] = a1;
    }
    for (; r < rows; r++) {
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
