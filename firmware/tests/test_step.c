/*
 * The public API (trix_cfc.h) on the compiled-in model, against the golden vectors that
 * `python -m codegen export` wrote beside it (trix_golden.h): hash, dims, and every output
 * of every golden sequence through trix_reset()/trix_step() with the runtime kernel.
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
    }
    printf("test_step: kernel %s, %d sequences x %d steps: %s (%ld mismatches)\n", trix_kernel_name(),
           TRIX_GOLDEN_SEQUENCES, TRIX_GOLDEN_STEPS, failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
