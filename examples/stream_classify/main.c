/*
 * stream_classify: a classifier on a continuous signal (no protocol, no host). The runtime is reset
 * once; each pass reads one sample of every channel (here: a synthetic "sensor" whose activity
 * changes every 200 samples, a table standing in for an IMU), steps the model on it, and every
 * DECIDE_EVERY samples asks trix_decide() for the class of the samples since the previous decision.
 * The cell state carries on across decisions, so a decision sees the signal before its window
 * through the state; only the pooled window starts anew (docs/fixed_point.md, section 12).
 *
 * Prints "stream_classify: model <hash> ..." first, then per decision
 * "stream_classify: t=<t> class=<k> logits=<l0>,<l1>,..." (t: samples so far, logits int32 Q16);
 * tests/test_example.py checks every decision against the golden model.
 */
#include <stdint.h>
#include <stdio.h>

#include "trix_cfc.h"

#define DECIDE_EVERY 50      /* samples per decision */
#define SAMPLES      600     /* how long this example listens */
#define MAX_CHANNELS 16
#define MAX_CLASSES  32

/* One sine period of 25 samples, Q14: round(sin(2 pi k / 25) * 16384). */
static const int16_t sine_q14[25] = {
    0, 4075, 7893, 11216, 13833, 15582, 16352, 16094, 14825, 12624, 9630, 6031, 2053,
    -2053, -6031, -9630, -12624, -14825, -16094, -16352, -15582, -13833, -11216, -7893, -4075,
};

/* Channel c at sample t: a sine of c + 1 cycles per 25 samples, at full amplitude in even
 * 200-sample segments and a quarter of it in odd ones (an activity that changes). */
static int16_t read_sensor(int t, int c)
{
    const int16_t v = sine_q14[(t * (c + 1)) % 25];
    return (t / 200) % 2 == 0 ? v : (int16_t)(v / 4);
}

int main(void)
{
    const uint64_t hash = trix_model_hash();
    const int inputs = trix_inputs(), classes = trix_classes();
    int16_t x[MAX_CHANNELS];
    int32_t logits[MAX_CLASSES];
    int t, c, k;
    printf("stream_classify: model %08lx%08lx, I=%d H=%d K=%d, kernel %s, a decision every %d samples\n",
           (unsigned long)(hash >> 32), (unsigned long)(hash & 0xFFFFFFFFu), inputs, trix_hidden(), classes,
           trix_kernel_name(), DECIDE_EVERY);
    if (classes < 1 || classes > MAX_CLASSES || inputs > MAX_CHANNELS) {
        printf("stream_classify: needs a classifier of at most %d classes and %d inputs\n", MAX_CLASSES, MAX_CHANNELS);
        return 1;
    }
    trix_reset();                                   /* once: the stream starts from h = 0 */
    for (t = 1; t <= SAMPLES; t++) {
        for (c = 0; c < inputs; c++) x[c] = read_sensor(t - 1, c);
        (void)trix_step(x);                         /* a classifier's step output is 0 */
        if (t % DECIDE_EVERY == 0) {
            const int cls = trix_decide(logits);    /* the last DECIDE_EVERY samples; the state runs on */
            printf("stream_classify: t=%d class=%d logits=", t, cls);
            for (k = 0; k < classes; k++) printf(k ? ",%ld" : "%ld", (long)logits[k]);
            printf("\n");
        }
    }
    return 0;
}
