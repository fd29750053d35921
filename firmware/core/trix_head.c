/* The classification head of docs/fixed_point.md, section 12: the pooled state of a window and
 * its K logits; integer only. Once per window, so portable C on every target. */
#include "trix_cell.h"

void trix_pool_add(int32_t *sum, const int16_t *h, int hidden)
{
    int i;
    for (i = 0; i < hidden; i++) sum[i] += h[i];
}

void trix_pooled_q15(const trix_head_t *head, int hidden, const int16_t *h, const int32_t *sum, int32_t n,
                     int16_t *v)
{
    int i;
    for (i = 0; i < hidden; i++) {
        if (n <= 0) {
            v[i] = 0;
        } else if (head->pooling == TRIX_POOL_LAST) {
            v[i] = h[i];
        } else {
            /* floor(S / n), then + 1 when the remainder is at least n / 2: round half up.
             * C's / truncates towards zero; a negative remainder moves the quotient down. */
            int32_t q = sum[i] / n, r = sum[i] % n;
            if (r < 0) {
                q -= 1;
                r += n;
            }
            v[i] = (int16_t)(q + (2 * r >= n));   /* |S| <= 65535 * 32768: q + 1 fits int16 */
        }
    }
}

int trix_head_logits(const trix_head_t *head, int hidden, const int16_t *v, int32_t *logits)
{
    const int s = head->shift;
    int k, i, best = 0;
    for (k = 0; k < head->classes; k++) {
        const int32_t *w = head->w + (long)k * hidden;
        int64_t acc = head->b[k];                                   /* Q(15 + s) */
        for (i = 0; i < hidden; i++) acc += (int64_t)w[i] * v[i];
        acc = (acc + ((int64_t)1 << (s - 2))) >> (s - 1);          /* Q16, rounding half up */
        logits[k] = acc > INT32_MAX ? INT32_MAX : (acc < INT32_MIN ? INT32_MIN : (int32_t)acc);
        if (logits[k] > logits[best]) best = k;
    }
    return best;
}
