/*
 * Cortex-M55 Helium (MVE) ternary matvec.
 *
 * Two packed bytes (8 trits) are decoded arithmetically in the vector unit, no table: the
 * 16-bit pair is broadcast to eight int16 lanes, lane k shifted left by 14 - 2k so its code
 * lands in the top two bits, and an arithmetic shift right by 14 gives s in {0, 1, -2, -1}
 * for the codes 00, 01, 10, 11; t = s - (s >> 1) maps that to {0, +1, -1, 0} (0b11, never
 * emitted, counts as 0 like in every kernel). VMLADAVA then multiplies the eight trits with
 * eight inputs and adds the sum to a 32-bit scalar. Per row and 8 weights: LDRH, VDUP, VSHL,
 * 2 x VSHR, VSUB, VMLADAVA. Four rows per pass share each input vector; an odd last byte
 * uses a tail-predicated input load (lanes 4..7 read as zero, nothing past the z buffer).
 */
#include "trix_kernels.h"

#if TRIX_HAVE_MVE
#include <arm_mve.h>
#include <string.h>

static const int16_t trix_mve_lane_shift[8] = { 14, 12, 10, 8, 6, 4, 2, 0 };

static inline int16x8_t decode8(unsigned v, int16x8_t lane_shift)
{
    const int16x8_t s = vshrq_n_s16(vshlq_s16(vdupq_n_s16((int16_t)v), lane_shift), 14);
    return vsubq_s16(s, vshrq_n_s16(s, 1));
}

static inline unsigned bytes2(const uint8_t *w)
{
    uint16_t v;
    memcpy(&v, w, sizeof v);     /* one LDRH (unaligned access is fine on ARMv8.1-M) */
    return v;
}

static void rows4(const uint8_t *w0, int rb, const int16_t *z, int32_t *acc, int16x8_t sh)
{
    const uint8_t *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int b;
    for (b = 0; b + 2 <= rb; b += 2) {
        const int16x8_t x = vld1q_s16(z + 4 * b);
        a0 = vmladavaq_s16(a0, decode8(bytes2(w0 + b), sh), x);
        a1 = vmladavaq_s16(a1, decode8(bytes2(w1 + b), sh), x);
        a2 = vmladavaq_s16(a2, decode8(bytes2(w2 + b), sh), x);
        a3 = vmladavaq_s16(a3, decode8(bytes2(w3 + b), sh), x);
    }
    if (b < rb) {
        const int16x8_t x = vld1q_z_s16(z + 4 * b, vctp16q(4));
        a0 = vmladavaq_s16(a0, decode8(w0[b], sh), x);
        a1 = vmladavaq_s16(a1, decode8(w1[b], sh), x);
        a2 = vmladavaq_s16(a2, decode8(w2[b], sh), x);
        a3 = vmladavaq_s16(a3, decode8(w3[b], sh), x);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

void trix_matvec_mve(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    const int16x8_t sh = vld1q_s16(trix_mve_lane_shift);
    int r, b;
    if (rows >= 4) {
        for (r = 0; r + 4 <= rows; r += 4)
            rows4(trits + (long)r * row_bytes, row_bytes, z, acc + r, sh);
        /* 1..3 rows left: one more pass over the last four (recomputed rows get the same values) */
        if (r < rows)
            rows4(trits + (long)(rows - 4) * row_bytes, row_bytes, z, acc + rows - 4, sh);
        return;
    }
    for (r = 0; r < rows; r++) {
        const uint8_t *w = trits + (long)r * row_bytes;
        int32_t a = 0;
        for (b = 0; b + 2 <= row_bytes; b += 2)
            a = vmladavaq_s16(a, decode8(bytes2(w + b), sh), vld1q_s16(z + 4 * b));
        if (b < row_bytes)
            a = vmladavaq_s16(a, decode8(w[b], sh), vld1q_z_s16(z + 4 * b, vctp16q(4)));
        acc[r] = a;
    }
}
#endif /* TRIX_HAVE_MVE */
