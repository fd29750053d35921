/*
 * step_loop: the trixcfc runtime inside an application's own main loop (no protocol, no host).
 * Each pass reads a sample (here: the next value of a sine "sensor", a table standing in for an
 * ADC), steps the model on it and uses the output (here: prints the prediction of the next
 * sample next to the sample that then arrives). Inputs and output are Q14 int16
 * (value x 16384, trix_cfc.h); newlib-nano's printf has no float, so values print as
 * thousandths.
 *
 * Prints "step_loop: t=<t> x_q14=<x> y_q14=<y> ..." per step and "step_loop: model <hash>"
 * first; tests/test_example.py checks every y_q14 against the golden model.
 */
#include <stdint.h>
#include <stdio.h>

#include "trix_cfc.h"

/* 25 samples of one sine period (w = 2 pi / 25 per sample, the sine task's frequency), Q14:
 * round(sin(2 pi k / 25) * 16384). */
static const int16_t sensor_q14[25] = {
    0, 4075, 7893, 11216, 13833, 15582, 16352, 16094, 14825, 12624, 9630, 6031, 2053,
    -2053, -6031, -9630, -12624, -14825, -16094, -16352, -15582, -13833, -11216, -7893, -4075,
};

static int16_t read_sensor(int t) { return sensor_q14[t % 25]; }

/* Q14 -> signed thousandths, rounded half away from zero (integer only). */
static long milli(int v) { return v >= 0 ? ((long)v * 1000 + 8192) / 16384 : -((-(long)v * 1000 + 8192) / 16384); }

int main(void)
{
    const uint64_t hash = trix_model_hash();
    int t;
    printf("step_loop: model %08lx%08lx, I=%d H=%d, kernel %s\n", (unsigned long)(hash >> 32),
           (unsigned long)(hash & 0xFFFFFFFFu), trix_inputs(), trix_hidden(), trix_kernel_name());
    if (trix_inputs() != 1) {
        printf("step_loop: this example feeds one input; the model has %d\n", trix_inputs());
        return 1;
    }
    trix_reset();                                   /* a new sequence starts from h = 0 */
    for (t = 0; t < 50; t++) {
        const int16_t x = read_sensor(t);           /* read a sample */
        const int16_t y = trix_step(&x);            /* step: y predicts the next sample */
        printf("step_loop: t=%d x_q14=%d y_q14=%d  x=%ld/1000 predicted next=%ld/1000 actual next=%ld/1000\n",
               t, x, y, milli(x), milli(y), milli(read_sensor(t + 1)));
    }
    return 0;
}
