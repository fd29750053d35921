/*
 * trixcfc core: public API of the integer CfC runtime (docs/firmware.md).
 * One compiled-in model (the headers `python -m codegen export` wrote into TRIX_MODEL_DIR);
 * arithmetic as in docs/fixed_point.md; integer only, no heap.
 */
#ifndef TRIX_CFC_H
#define TRIX_CFC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int         trix_inputs(void);                 /* I */
int         trix_hidden(void);                 /* H */
uint64_t    trix_model_hash(void);             /* codegen's hash of the compiled-in model */
const char *trix_kernel_name(void);            /* "ref" | "neon" | "dsp" | "mve" */
void        trix_reset(void);                  /* hidden state = 0 */
int16_t     trix_step(const int16_t *x_q14);   /* one cell step on I inputs (Q14); returns y (Q14) */

#ifdef __cplusplus
}
#endif

#endif /* TRIX_CFC_H */
