/*
 * Portable reference ternary matvec: plain C99, the yardstick for the optimised kernels and
 * the runtime kernel where no SIMD exists (Cortex-M3). Each packed byte indexes a constant
 * table of its four trit values (1 KB), so there is no per-trit branch: per byte one table
 * row and four multiply-accumulates (MLA is single-cycle on every Cortex-M3/M4).
 */
#include "trix_kernels.h"

/* one table row per packed byte: its four trit values (TRIX_T, trix_kernels.h) */
#define TRIX_V(b) { TRIX_T((b) & 3), TRIX_T(((b) >> 2) & 3), TRIX_T(((b) >> 4) & 3), TRIX_T(((b) >> 6) & 3) }
#define TRIX_V4(b) TRIX_V(b), TRIX_V((b) + 1), TRIX_V((b) + 2), TRIX_V((b) + 3)
#define TRIX_V16(b) TRIX_V4(b), TRIX_V4((b) + 4), TRIX_V4((b) + 8), TRIX_V4((b) + 12)
#define TRIX_V64(b) TRIX_V16(b), TRIX_V16((b) + 16), TRIX_V16((b) + 32), TRIX_V16((b) + 48)

static const int8_t trix_trit_values[256][4] = {
    TRIX_V64(0), TRIX_V64(64), TRIX_V64(128), TRIX_V64(192)
};

void trix_matvec_ref(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    int r, b;
    for (r = 0; r < rows; r++) {
        const uint8_t *w = trits + (long)r * row_bytes;
        const int16_t *zz = z;
        int32_t s = 0;
        for (b = 0; b < row_bytes; b++, zz += 4) {
            const int8_t *t = trix_trit_values[w[b]];
            s += t[0] * zz[0] + t[1] * zz[1] + t[2] * zz[2] + t[3] * zz[3];
        }
        acc[r] = s;
    }
}
