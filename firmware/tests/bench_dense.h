/* Dense int8 baseline of the bench image (see bench_dense.c). */
#ifndef BENCH_DENSE_H
#define BENCH_DENSE_H
#include <stdint.h>

void dense_matvec_s8_smlad(const int8_t *w, int rows, int cols4, const int16_t *z, int32_t *acc);
void dense_matvec_s8_c(const int8_t *w, int rows, int cols4, const int16_t *z, int32_t *acc);
int dense_from_trits(const uint8_t *trits, int rows, int row_bytes, int cols, int8_t *w);

#endif
