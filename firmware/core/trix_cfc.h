/*
 * trixcfc core: public API of the integer CfC runtime (docs/firmware.md, docs/porting.md).
 * One compiled-in model (the headers `python -m codegen export` wrote into TRIX_MODEL_DIR);
 * arithmetic as in docs/fixed_point.md; integer only, no heap, not reentrant (one state).
 *
 * Units: inputs and output are Q14 int16, i.e. value x 16384 (1.0 = 16384, range [-2, 2)):
 *     x_q14 = saturate_int16(floor(x * 16384 + 0.5))     y = y_q14 / 16384.0
 * (the rounding of codegen.golden.quantize_input; the bit-exact tests use it).
 * A model trained on your own series (`python -m trainer factorial --data`) works in scaled
 * units x = (v - offset) / scale per channel; the model header (trix_model.h) then defines
 * TRIX_HAS_SCALING, TRIX_INPUT_OFFSET_INIT, TRIX_INPUT_SCALE_INIT, TRIX_TARGET_OFFSET and
 * TRIX_TARGET_SCALE to convert from and to your units (docs/fixed_point.md, section 11).
 * In a firmware: trix_reset() at the start of each sequence, then per sample trix_step(); a
 * classifier's class at the end of a window: trix_logits() (its y is 0: no regression readout).
 * A classifier on a continuous signal: trix_reset() once, trix_step() per sample and every k
 * samples trix_decide(), which pools the steps since the last decision and starts the next
 * window while the cell state carries on (examples/stream_classify).
 * trix_model_hash() identifies the compiled-in model (what `python -m codegen export` printed).
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
const char *trix_kernel_name(void);            /* runtime kernel: "ref" | "lut" | "dsp/lut" | "neon" */
void        trix_reset(void);                  /* hidden state = 0 */
int16_t     trix_step(const int16_t *x_q14);   /* one cell step on I inputs (Q14); returns y (Q14) */

/* A classifier (trix_model.h defines TRIX_CLASSES; docs/fixed_point.md, section 12): a window is
 * the steps since trix_reset(); its K logits (int32, Q16) and their argmax, the class.
 * A regression model has no classes: trix_classes() is 0 and trix_logits() returns -1. */
int         trix_classes(void);                /* K, or 0 */
int         trix_window_steps(void);           /* steps since trix_reset(), at most 65535 */
int         trix_logits(int32_t *logits);      /* the window's K logits; returns the class (argmax) */
/* A decision on a stream: the logits and class of the window of steps since the last trix_reset()
 * or trix_decide() (as trix_logits()), then the next window starts empty; the hidden state is kept.
 * Returns the class (-1 without classes). Decide at least every 65535 steps: a full window ignores
 * further steps, as trix_step() does. */
int         trix_decide(int32_t *logits);

#define TRIX_Q14_ONE 16384                     /* 1.0 in the Q14 of inputs and output */

#ifdef __cplusplus
}
#endif

#endif /* TRIX_CFC_H */
