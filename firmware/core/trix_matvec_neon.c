/*
 * AArch64 NEON ternary matvec.
 *
 * Two packed bytes (8 trits) index a 256-entry table of int8x4 trit values; the pair forms
 * one int8x8 vector, widened to int16x8 and multiplied-accumulated against 8 inputs with
 * SMLAL into two int32x4 accumulators. Products are exact (|t| <= 1) and the final
 * horizontal add is exact in int32, so the result equals the reference bit for bit.
 */
#include "trix_kernels.h"

#if TRIX_HAVE_NEON
#include <arm_neon.h>
#include <string.h>

/* a packed byte's four trit values (TRIX_T, trix_kernels.h) as int8 lanes */
/* 4 trits as int8 bytes, little-endian in a uint32 (byte k = trit k of the packed byte) */
#define TRIX_Q(b) ((uint32_t)(uint8_t)(int8_t)TRIX_T((b) & 3) \
                   | ((uint32_t)(uint8_t)(int8_t)TRIX_T(((b) >> 2) & 3) << 8) \
                   | ((uint32_t)(uint8_t)(int8_t)TRIX_T(((b) >> 4) & 3) << 16) \
                   | ((uint32_t)(uint8_t)(int8_t)TRIX_T(((b) >> 6) & 3) << 24))
#define TRIX_Q4(b) TRIX_Q(b), TRIX_Q((b) + 1), TRIX_Q((b) + 2), TRIX_Q((b) + 3)
#define TRIX_Q16(b) TRIX_Q4(b), TRIX_Q4((b) + 4), TRIX_Q4((b) + 8), TRIX_Q4((b) + 12)
#define TRIX_Q64(b) TRIX_Q16(b), TRIX_Q16((b) + 16), TRIX_Q16((b) + 32), TRIX_Q16((b) + 48)

static const uint32_t trix_neon_quads[256] = {
    TRIX_Q64(0), TRIX_Q64(64), TRIX_Q64(128), TRIX_Q64(192)
};

void trix_matvec_neon(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    int r, b;
    for (r = 0; r < rows; r++) {
        const uint8_t *w = trits + (long)r * row_bytes;
        int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
        for (b = 0; b + 2 <= row_bytes; b += 2) {
            const uint64_t q = (uint64_t)trix_neon_quads[w[b]] | ((uint64_t)trix_neon_quads[w[b + 1]] << 32);
            const int16x8_t t = vmovl_s8(vreinterpret_s8_u64(vcreate_u64(q)));
            const int16x8_t x = vld1q_s16(z + 4 * b);
            s0 = vmlal_s16(s0, vget_low_s16(t), vget_low_s16(x));
            s1 = vmlal_high_s16(s1, t, x);
        }
        if (b < row_bytes) {   /* odd byte count: the last 4 trits */
            const int16x4_t t = vget_low_s16(vmovl_s8(vreinterpret_s8_u64(vcreate_u64(trix_neon_quads[w[b]]))));
            s0 = vmlal_s16(s0, t, vld1_s16(z + 4 * b));
        }
        acc[r] = vaddvq_s32(vaddq_s32(s0, s1));
    }
}
#endif /* TRIX_HAVE_NEON */
