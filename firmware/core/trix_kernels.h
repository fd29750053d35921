/*
 * Ternary matrix-vector kernels. All share ONE signature (CMSIS-NN style: the reference
 * beside the optimised variants) and compute, for r in 0..rows-1,
 *
 *     acc[r] = sum_j T[r][j] * z[j]      (int32, exact)
 *
 * trits: rows x row_bytes packed trits (0b00 = 0, 0b01 = +1, 0b10 = -1; trit j at bits
 *        2*(j%4) of byte j/4). 0b11 is never emitted (codegen rejects it): ref, neon, dsp and
 *        mve treat it as 0, lut gives an unspecified (memory-safe) sum for that byte.
 * z:     row_bytes * 4 int16 values, 4-byte aligned, zeros past the last real column (padding
 *        trits are 0 anyway).
 */
#ifndef TRIX_KERNELS_H
#define TRIX_KERNELS_H

#include <stdint.h>
#include "trix_arch.h"

/* Trit code -> value: 00 -> 0, 01 -> +1, 10 -> -1, 11 (invalid, never emitted) -> 0. The
 * kernels build their constant per-byte tables from it. */
#define TRIX_T(c) ((c) == 1 ? 1 : ((c) == 2 ? -1 : 0))

typedef void (*trix_matvec_fn)(const uint8_t *trits, int rows, int row_bytes,
                               const int16_t *z, int32_t *acc);

/* Portable C99, any target. */
void trix_matvec_ref(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);

/* Portable C99 table lookup (T-MAC style, trix_matvec_lut.c): per call one table of the 81
 * partial sums of each group of 4 inputs, then one lookup per packed byte and row. Needs valid
 * codes (0b11 gives an unspecified, memory-safe result) and TRIX_LUT_GROUPS * 688 bytes of
 * static scratch; longer rows are done in chunks of TRIX_LUT_GROUPS bytes. */
#ifndef TRIX_LUT_GROUPS
#define TRIX_LUT_GROUPS 9
#endif
void trix_matvec_lut(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);

#if TRIX_HAVE_NEON
/* AArch64 Advanced SIMD. */
void trix_matvec_neon(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#endif

#if TRIX_HAVE_DSP
/* ARMv7E-M DSP extension (SMLAD on int16 pairs). */
void trix_matvec_dsp(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);
/* trix_matvec_dsp below TRIX_LUT_MIN_ROWS rows, trix_matvec_lut from there on (the runtime
 * kernel on cores with DSP, Cortex-M4 and M55: the table build only pays off over enough rows;
 * 32 = H >= 16, measured by `python -m host bench --qemu`). TRIX_LUT_MIN_ROWS = 0 means SMLAD
 * only, which also keeps the table scratch out of the image (CMake option). */
#ifndef TRIX_LUT_MIN_ROWS
#define TRIX_LUT_MIN_ROWS 32
#endif
void trix_matvec_dsp_lut(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#endif

#if TRIX_HAVE_MVE
/* Helium (MVE, Cortex-M55): VMLADAVA on eight int16 lanes. */
void trix_matvec_mve(const uint8_t *trits, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#endif

/*
 * int8 kernels (docs/fixed_point.md, 2a): the same signature, `trits` pointing to int8 rows of
 * row_bytes * 4 weights in [-127, 127] (the int8 heads of a model, trix_model_t.weights), per group
 * of 4 columns in the byte order w0, w2, w1, w3 (CMSIS-NN's): acc[r] = sum_j W[r][j] * z[j].
 * Rows start on 4-byte boundaries (row_bytes * 4 bytes each, the header aligns the array).
 */
/* Portable C99, one row at a time: the yardstick. */
void trix_matvec_s8_ref(const uint8_t *w, int rows, int row_bytes, const int16_t *z, int32_t *acc);
/* Portable C99, two rows per pass sharing each input load: the runtime int8 kernel on cores
 * without DSP or NEON (Cortex-M0, M3) and on hosts. */
void trix_matvec_s8_c(const uint8_t *w, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#if TRIX_HAVE_DSP
/* ARMv7E-M: per row and 4 columns one LDR, SXTB16 and SXTB16 ROR #8, two SMLAD; three rows per
 * pass share the input loads (CMSIS-NN's s8 x s16 fully connected technique). */
void trix_matvec_s8_smlad(const uint8_t *w, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#endif
#if TRIX_HAVE_NEON
/* AArch64: 8 weights widened to int16, SMLAL against 8 inputs. */
void trix_matvec_s8_neon(const uint8_t *w, int rows, int row_bytes, const int16_t *z, int32_t *acc);
#endif

#endif /* TRIX_KERNELS_H */
