/* Portable reference ternary matvec: plain C99, the yardstick for the optimised kernels. */
#include "trix_kernels.h"

void trix_matvec_ref(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc)
{
    int r, b, k;
    for (r = 0; r < rows; r++) {
        const uint8_t *w = trits + (long)r * row_bytes;
        int32_t s = 0;
        for (b = 0; b < row_bytes; b++) {
            unsigned byte = w[b];
            const int16_t *zz = z + 4 * b;
            for (k = 0; k < 4; k++) {
                unsigned code = (byte >> (2 * k)) & 3u;
                if (code == 1u) s += zz[k];        /* +1 */
                else if (code == 2u) s -= zz[k];   /* -1; 0b00 and the invalid 0b11 add nothing */
            }
        }
        acc[r] = s;
    }
}
