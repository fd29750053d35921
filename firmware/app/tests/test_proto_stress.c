/*
 * Protocol receiver stress (fake core, every target; native also under ASan/UBSan via
 * TRIX_SANITIZE): a deterministic stream of random frames — garbage with and without 0x00,
 * valid requests with flipped bits, truncations, oversize runs — fed in random-size chunks.
 * Invariants: every non-empty segment between two 0x00 is answered by exactly one reply, every
 * reply is a well-formed frame (COBS, CRC) of an expected type, and the fake core ran exactly
 * the steps that STEP and BENCH replies account for (no step from a rejected frame).
 */
#include <stdio.h>
#include <string.h>

#include "trix_cfc.h"
#include "trix_proto.h"

#if defined(__arm__) && !defined(__linux__)
#define ROUNDS 20000L      /* under qemu-system-arm */
#else
#define ROUNDS 200000L
#endif

static long steps, resets;
int trix_inputs(void) { return 1; }
int trix_hidden(void) { return 3; }
uint64_t trix_model_hash(void) { return 42u; }
const char *trix_kernel_name(void) { return "fake"; }
void trix_reset(void) { resets++; }
int16_t trix_step(const int16_t *x) { steps++; return x[0]; }
int trix_classes(void) { return 2; }
int trix_window_steps(void) { return (int)(steps & 0xFFFF); }
int trix_logits(int32_t *logits) { logits[0] = 1; logits[1] = 2; return 1; }
int trix_decide(int32_t *logits) { return trix_logits(logits); }

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)   /* xorshift32 */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static long replies, bad_replies, ok_replies, replied_steps;
static uint8_t pending[1024];
static int pending_len;
static uint8_t dec[1024];

static void check_reply(const uint8_t *enc, int n)
{
    int i = 0, o = 0;
    while (i < n) {
        int code = enc[i++], k;
        for (k = 1; k < code; k++) {
            if (i >= n || o >= (int)sizeof dec) { bad_replies++; return; }
            dec[o++] = enc[i++];
        }
        if (code != 0xFF && i < n) dec[o++] = 0;
    }
    if (o < 4 || trix_crc16(dec, (size_t)o - 2) != (uint16_t)(dec[o - 2] | (dec[o - 1] << 8))
        || !(dec[0] == TRIX_REPLY_ERROR || (dec[0] >= 0x81 && dec[0] <= 0x86))) {
        bad_replies++;
        return;
    }
    if (dec[0] == TRIX_REPLY_ERROR) return;
    ok_replies++;
    if (dec[0] == 0x83) replied_steps += (o - 4) / 2;                       /* STEP: n outputs */
    if ((dec[0] == 0x85 || dec[0] == 0x86) && o != 4 + 4 + 4 * 2) bad_replies++;   /* LOGITS, DECIDE: 2 classes */
    if (dec[0] == 0x84 && o == 16) replied_steps += dec[10] | (dec[11] << 8); /* BENCH: n */
}

static void sink(const uint8_t *b, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (b[i] == 0) {
            replies++;
            check_reply(pending, pending_len);
            pending_len = 0;
        } else if (pending_len < (int)sizeof pending) {
            pending[pending_len++] = b[i];
        } else {
            bad_replies++;
        }
    }
}

static trix_rx_t rx;
static uint8_t buf[4096], frame[700];

int main(void)
{
    long r, segments = 0;
    int pass;
    trix_proto_init(&rx, sink);
    for (r = 0; r < ROUNDS; r++) {
        int len = 0, i, kind = (int)(rnd() % 6);
        if (kind == 0) {                     /* garbage with zeros */
            len = 1 + (int)(rnd() % 600);
            for (i = 0; i < len; i++) buf[i] = (uint8_t)rnd();
        } else if (kind == 1) {              /* non-zero garbage, sometimes past OVERSIZE */
            const uint32_t limit = rnd() % 4 ? 40u : 1500u;   /* one rnd() per statement: */
            len = 1 + (int)(rnd() % limit);                      /* same stream on every build */
            for (i = 0; i < len; i++) buf[i] = (uint8_t)(1 + rnd() % 255);
        } else {                             /* a request, then damaged or not */
            int plen = kind == 2 ? 2 * (1 + (int)(rnd() % 70)) : (int)(rnd() % 4);
            uint16_t crc;
            frame[0] = (uint8_t)(1 + rnd() % 6);
            frame[1] = (uint8_t)rnd();
            for (i = 0; i < plen; i++) frame[2 + i] = (uint8_t)rnd();
            if (frame[0] == TRIX_REQ_BENCH && plen == 2) frame[3] &= 0x0F;   /* n <= 4095 */
            crc = trix_crc16(frame, (size_t)plen + 2);
            frame[plen + 2] = (uint8_t)crc;
            frame[plen + 3] = (uint8_t)(crc >> 8);
            if (kind == 3) {
                const unsigned at = rnd() % (unsigned)(plen + 4);
                frame[at] ^= (uint8_t)(1u << (rnd() % 8));
            }
            len = (int)trix_cobs_encode(frame, (size_t)plen + 4, buf);
            if (kind == 4) len = (int)(rnd() % (unsigned)len);                /* truncated */
        }
        buf[len++] = 0;
        /* count the non-empty segments this chunk closes (the receiver starts clean: the
         * previous chunk ended with 0x00) */
        for (i = 0; i < len; i++)
            if (buf[i] == 0 && i > 0 && buf[i - 1] != 0) segments++;
        {   /* feed in random-size pieces */
            int at = 0;
            while (at < len) {
                int n = 1 + (int)(rnd() % 64);
                if (n > len - at) n = len - at;
                trix_proto_feed(&rx, buf + at, n);
                at += n;
            }
        }
    }
    pass = replies == segments && bad_replies == 0 && steps == replied_steps;
    printf("test_proto_stress: %ld rounds, %ld segments, %ld replies (%ld accepted requests), %ld malformed, "
           "%ld steps run, %ld steps replied: %s\n", (long)ROUNDS, segments, replies, ok_replies, bad_replies, steps,
           replied_steps, pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
