/*
 * The public API (trix_cfc.h) on the compiled-in model, against the golden vectors that
 * `python -m codegen export` wrote beside it (trix_golden.h): hash, dims, and every output
 * of every golden sequence through trix_reset()/trix_step() with the runtime kernel; for a
 * classifier also each sequence's logits and class through trix_logits().
 */
#include <stdio.h>

#include "trix_cfc.h"
#include "trix_golden.h"
#include "trix_model.h"

int main(void)
{
    long failures = 0;
    int s, t;
    if (trix_model_hash() != TRIX_GOLDEN_HASH || trix_model_hash() != TRIX_MODEL_HASH) {
        printf("FAIL model hash %08lx%08lx does not match the golden vectors\n",
               (unsigned long)(trix_model_hash() >> 32), (unsigned long)(trix_model_hash() & 0xFFFFFFFFu));
        failures++;
    }
    if (trix_inputs() != TRIX_GOLDEN_INPUTS || trix_hidden() != TRIX_HIDDEN) {
        printf("FAIL dims I=%d H=%d\n", trix_inputs(), trix_hidden());
        failures++;
    }
    for (s = 0; s < TRIX_GOLDEN_SEQUENCES; s++) {
        trix_reset();
        for (t = 0; t < TRIX_GOLDEN_STEPS; t++) {
            const long at = (long)s * TRIX_GOLDEN_STEPS + t;
            int16_t y = trix_step(&trix_golden_x[at * TRIX_GOLDEN_INPUTS]);
            if (y != trix_golden_y[at]) {
                if (++failures <= 10)
                    printf("FAIL sequence %d step %d: expected %d got %d\n", s, t, trix_golden_y[at], y);
            }
        }
#if defined(TRIX_GOLDEN_CLASSES)
        {   /* a classifier: the window's logits and class */
            int32_t logits[TRIX_GOLDEN_CLASSES];
            const int cls = trix_logits(logits);
            int k;
            for (k = 0; k < TRIX_GOLDEN_CLASSES; k++)
                if (logits[k] != trix_golden_logits[s * TRIX_GOLDEN_CLASSES + k] && ++failures <= 10)
                    printf("FAIL sequence %d logit %d: expected %ld got %ld\n", s, k,
                           (long)trix_golden_logits[s * TRIX_GOLDEN_CLASSES + k], (long)logits[k]);
            if (cls != trix_golden_class[s] && ++failures <= 10)
                printf("FAIL sequence %d class: expected %d got %d\n", s, trix_golden_class[s], cls);
            if (trix_classes() != TRIX_GOLDEN_CLASSES && ++failures <= 10)
                printf("FAIL classes %d\n", trix_classes());
            if (trix_window_steps() != TRIX_GOLDEN_STEPS && ++failures <= 10)
                printf("FAIL sequence %d window steps %d\n", s, trix_window_steps());
        }
#endif
    }
    printf("test_step: kernel %s, %d sequences x %d steps: %s (%ld mismatches)\n", trix_kernel_name(),
           TRIX_GOLDEN_SEQUENCES, TRIX_GOLDEN_STEPS, failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
