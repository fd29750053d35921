/*
 * Protocol unit test (firmware/app/trix_proto.c) against a fake core, on every target:
 * CRC-16/CCITT-FALSE check value, COBS encode/decode round trips at block boundaries, every
 * error reply of docs/protocol.md, byte-at-a-time delivery, and that errors leave the state
 * alone. The fake core below replaces trix_cfc.h's functions (y = x + number of steps since
 * reset; a classifier of 3 classes whose logits are the window's steps, -steps and 7, or none; a
 * window is the steps since reset or the last decision), so the test needs no model.
 */
#include <stdio.h>
#include <string.h>

#include "trix_cfc.h"
#include "trix_proto.h"

/* ---- fake core ---- */
static int fake_steps, fake_window;
int trix_inputs(void) { return 2; }
int trix_hidden(void) { return 5; }
uint64_t trix_model_hash(void) { return UINT64_C(0x0123456789abcdef); }
const char *trix_kernel_name(void) { return "fake"; }
void trix_reset(void) { fake_steps = fake_window = 0; }
int16_t trix_step(const int16_t *x) { fake_steps++; fake_window++; return (int16_t)(x[0] + x[1] + fake_steps); }
static int fake_classes = 3;
int trix_classes(void) { return fake_classes; }
int trix_window_steps(void) { return fake_window; }
int trix_logits(int32_t *logits)
{
    logits[0] = fake_window;
    logits[1] = -fake_window;
    logits[2] = 7;
    return fake_window > 7 ? 0 : 2;
}
int trix_decide(int32_t *logits)
{
    const int cls = trix_logits(logits);
    fake_window = 0;
    return cls;
}

/* ---- captured replies ---- */
static uint8_t out[2048];   /* a few replies; small enough for the nRF51's 16 KB of RAM */
static int out_len;
static void capture(const uint8_t *b, int n)
{
    if (out_len + n <= (int)sizeof out) memcpy(out + out_len, b, (size_t)n);
    out_len += n;
}

static long failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL line %d: ", __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

/* Reference COBS decoder for the replies; returns the decoded length or -1. */
static int cobs_decode(const uint8_t *in, int n, uint8_t *dst)
{
    int i = 0, o = 0;
    while (i < n) {
        int code = in[i++], k;
        if (code == 0) return -1;
        for (k = 1; k < code; k++) {
            if (i >= n) return -1;
            dst[o++] = in[i++];
        }
        if (code != 0xFF && i < n) dst[o++] = 0;
    }
    return o;
}

static trix_rx_t rx;
static uint8_t reply[1024];

/* Feeds a raw byte string; expects exactly one reply frame and decodes it into reply[]. */
static int feed_one(const uint8_t *wire, int n, int chunk)
{
    int i, end, len;
    out_len = 0;
    for (i = 0; i < n; i += chunk) trix_proto_feed(&rx, wire + i, n - i < chunk ? n - i : chunk);
    for (end = 0; end < out_len && out[end] != 0; end++) {
    }
    if (end >= out_len || end != out_len - 1) return -1;   /* exactly one frame */
    len = cobs_decode(out, end, reply);
    if (len < 4) return -1;
    if (trix_crc16(reply, (size_t)len - 2) != (uint16_t)(reply[len - 2] | (reply[len - 1] << 8))) return -1;
    return len - 4;   /* payload length */
}

static uint8_t frame[1024], wire[6000];

static int make_wire(uint8_t type, uint8_t seq, const uint8_t *payload, int plen)
{
    uint16_t crc;
    int n;
    frame[0] = type;
    frame[1] = seq;
    if (plen) memcpy(frame + 2, payload, (size_t)plen);
    crc = trix_crc16(frame, (size_t)plen + 2);
    frame[plen + 2] = (uint8_t)crc;
    frame[plen + 3] = (uint8_t)(crc >> 8);
    n = (int)trix_cobs_encode(frame, (size_t)plen + 4, wire);
    wire[n++] = 0;
    return n;
}

static void expect_error(const char *what, const uint8_t *w, int n, int code, int type, int seq)
{
    int p = feed_one(w, n, n);
    CHECK(p == 2 && reply[0] == TRIX_REPLY_ERROR && reply[1] == seq && reply[2] == code && reply[3] == type,
          "%s: expected error %d type %d seq %d, got payload %d [%02x %02x %02x %02x]", what, code, type, seq, p,
          reply[0], reply[1], reply[2], reply[3]);
}

int main(void)
{
    static const uint8_t check[] = "123456789";
    uint8_t payload[600];
    int n, p, i, len;

    trix_proto_init(&rx, capture);
    CHECK(trix_crc16(check, 9) == 0x29B1, "crc16 check value %04x", trix_crc16(check, 9));

    /* COBS round trips around the 254-byte block boundary, with and without zeros. */
    for (len = 0; len < 600; len += (len < 520 ? 1 : 37)) {
        for (i = 0; i < len; i++) payload[i] = (uint8_t)((i % 7 == 3 && len % 3 == 0) ? 0 : (i * 31 + len) | 1);
        n = (int)trix_cobs_encode(payload, (size_t)len, wire);
        CHECK(n <= TRIX_COBS_MAX(len) && memchr(wire, 0, (size_t)n) == NULL, "cobs encode len %d", len);
        CHECK(cobs_decode(wire, n, frame) == len && memcmp(frame, payload, (size_t)len) == 0, "cobs round trip len %d", len);
    }

    /* HELLO */
    n = make_wire(TRIX_REQ_HELLO, 7, NULL, 0);
    p = feed_one(wire, n, 1);
    CHECK(p == 15 + 1 + (int)strlen(TRIX_TARGET_NAME) + 1 + 4 && reply[0] == 0x81 && reply[1] == 7, "hello reply %d", p);
    CHECK(reply[2] == TRIX_PROTO_VERSION && TRIX_PROTO_VERSION == 3 && reply[3] == 2 && reply[4] == 5 && reply[5] == 0 && reply[6] == 14 && reply[7] == 64
          && reply[8] == 0 && reply[9] == 0xef && reply[16] == 0x01, "hello fields");
    CHECK(reply[17] == strlen(TRIX_TARGET_NAME) && memcmp(reply + 18, TRIX_TARGET_NAME, reply[17]) == 0, "hello target");
    CHECK(reply[18 + reply[17]] == 4 && memcmp(reply + 19 + reply[17], "fake", 4) == 0, "hello kernel");

    /* STEP: 3 steps of 2 inputs, delivered in odd chunks; then state kept across requests */
    n = make_wire(TRIX_REQ_RESET, 1, NULL, 0);
    CHECK(feed_one(wire, n, 3) == 0 && reply[0] == 0x82 && reply[1] == 1, "reset");
    {
        const uint8_t xs[12] = { 1, 0, 2, 0, 0xFF, 0xFF, 0, 0, 0, 0x80, 0, 0 };
        n = make_wire(TRIX_REQ_STEP, 2, xs, 12);
        p = feed_one(wire, n, 5);
        CHECK(p == 6 && reply[0] == 0x83 && reply[1] == 2, "step reply %d", p);
        CHECK(reply[2] == 4 && reply[3] == 0 && reply[4] == 1 && reply[5] == 0 && reply[6] == 3 && reply[7] == 0x80,
              "step values %02x %02x %02x %02x %02x %02x", reply[2], reply[3], reply[4], reply[5], reply[6], reply[7]);
    }
    CHECK(fake_steps == 3, "steps %d", fake_steps);

    /* LOGITS: u16 steps, u8 K, u8 class, K int32 logits (-3 as 0xfffffffd) */
    n = make_wire(TRIX_REQ_LOGITS, 3, NULL, 0);
    p = feed_one(wire, n, 1);
    CHECK(p == 4 + 12 && reply[0] == 0x85 && reply[1] == 3, "logits reply %d", p);
    CHECK(reply[2] == 3 && reply[3] == 0 && reply[4] == 3 && reply[5] == 2, "logits header %02x %02x %02x %02x",
          reply[2], reply[3], reply[4], reply[5]);
    CHECK(reply[6] == 3 && reply[7] == 0 && reply[8] == 0 && reply[9] == 0 && reply[10] == 0xfd && reply[11] == 0xff
          && reply[12] == 0xff && reply[13] == 0xff && reply[14] == 7 && reply[17] == 0, "logits values");
    CHECK(fake_steps == 3, "logits changed the state: steps %d", fake_steps);
    n = make_wire(TRIX_REQ_LOGITS, 4, payload, 2);
    expect_error("logits payload", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_LOGITS, 4);
    fake_classes = 0;                                                 /* a regression model */
    n = make_wire(TRIX_REQ_LOGITS, 5, NULL, 0);
    expect_error("logits without classes", wire, n, TRIX_ERR_NO_CLASSES, TRIX_REQ_LOGITS, 5);
    fake_classes = 3;

    /* DECIDE: the reply of LOGITS, then an empty window; the state (y) carries on */
    n = make_wire(TRIX_REQ_DECIDE, 6, NULL, 0);
    p = feed_one(wire, n, 2);
    CHECK(p == 4 + 12 && reply[0] == 0x86 && reply[1] == 6 && reply[2] == 3 && reply[5] == 2 && reply[6] == 3
          && reply[10] == 0xfd, "decide reply %d [%02x %02x %02x %02x]", p, reply[0], reply[2], reply[5], reply[6]);
    CHECK(fake_steps == 3 && fake_window == 0, "decide: state steps %d (want 3), window %d (want 0)", fake_steps,
          fake_window);
    {
        const uint8_t xs[4] = { 0, 0, 0, 0 };
        n = make_wire(TRIX_REQ_STEP, 7, xs, 4);
        p = feed_one(wire, n, 3);
        CHECK(p == 2 && reply[2] == 4 && reply[3] == 0, "step after decide: y %d (want 4: the state carried on)",
              reply[2]);
    }
    n = make_wire(TRIX_REQ_DECIDE, 8, payload, 1);
    expect_error("decide payload", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_DECIDE, 8);
    fake_classes = 0;
    n = make_wire(TRIX_REQ_DECIDE, 8, NULL, 0);
    expect_error("decide without classes", wire, n, TRIX_ERR_NO_CLASSES, TRIX_REQ_DECIDE, 8);
    fake_classes = 3;
    CHECK(fake_window == 1, "a refused DECIDE changed the window: %d steps", fake_window);

    /* Errors: none of them runs a step or resets. */
    n = make_wire(TRIX_REQ_STEP, 9, payload, 3);                     /* not a multiple of 2*I */
    expect_error("step odd", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_STEP, 9);
    n = make_wire(TRIX_REQ_STEP, 9, NULL, 0);
    expect_error("step empty", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_STEP, 9);
    memset(payload, 1, sizeof payload);
    n = make_wire(TRIX_REQ_STEP, 9, payload, 65 * 4);                 /* 65 steps > 64 */
    expect_error("step 65", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_STEP, 9);
    n = make_wire(TRIX_REQ_HELLO, 10, payload, 1);
    expect_error("hello payload", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_HELLO, 10);
    n = make_wire(TRIX_REQ_RESET, 10, payload, 2);
    expect_error("reset payload", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_RESET, 10);
    payload[0] = 0; payload[1] = 0;
    n = make_wire(TRIX_REQ_BENCH, 11, payload, 2);                    /* n = 0 */
    expect_error("bench 0", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_BENCH, 11);
    payload[0] = 0x01; payload[1] = 0x10;                             /* n = 4097 */
    n = make_wire(TRIX_REQ_BENCH, 11, payload, 2);
    expect_error("bench 4097", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_BENCH, 11);
    n = make_wire(TRIX_REQ_BENCH, 11, payload, 3);
    expect_error("bench 3 bytes", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_BENCH, 11);
    n = make_wire(0x42, 12, NULL, 0);
    expect_error("unknown", wire, n, TRIX_ERR_UNKNOWN_TYPE, 0x42, 12);
    n = make_wire(0x81, 12, NULL, 0);                                 /* a reply type is not a request */
    expect_error("reply type", wire, n, TRIX_ERR_UNKNOWN_TYPE, 0x81, 12);
    n = make_wire(TRIX_REQ_HELLO, 13, NULL, 0);
    wire[2] ^= 0x40;                                                  /* corrupt the seq byte */
    expect_error("crc", wire, n, TRIX_ERR_BAD_CRC, TRIX_REQ_HELLO, 13 ^ 0x40);
    {
        const uint8_t short1[] = { 0x01, 0x00 };                      /* decodes to nothing */
        const uint8_t short3[] = { 0x04, 0x01, 0x05, 0x06, 0x00 };    /* 3 bytes */
        const uint8_t trunc[] = { 0x05, 0x01, 0x07, 0x00 };           /* block of 4 cut after 2 */
        expect_error("too short 0", short1, 2, TRIX_ERR_TOO_SHORT, 0, 0);
        expect_error("too short 3", short3, 5, TRIX_ERR_TOO_SHORT, 1, 5);
        expect_error("bad cobs", trunc, 4, TRIX_ERR_BAD_COBS, 1, 7);
    }
    /* OVERSIZE: 513-byte payload (517 decoded) and a long run of garbage without 0x00 */
    n = make_wire(TRIX_REQ_STEP, 14, payload, 513);
    expect_error("oversize 513", wire, n, TRIX_ERR_OVERSIZE, TRIX_REQ_STEP, 14);
    memset(wire, 0x33, 5000);
    wire[5000] = 0;
    expect_error("oversize garbage", wire, 5001, TRIX_ERR_OVERSIZE, 0x33, 0x33);
    /* the largest valid frame: 512-byte payload (BAD_LENGTH for STEP: 128 steps > 64) */
    n = make_wire(TRIX_REQ_STEP, 15, payload, 512);
    expect_error("512 payload", wire, n, TRIX_ERR_BAD_LENGTH, TRIX_REQ_STEP, 15);
    /* empty frames are ignored */
    out_len = 0;
    wire[0] = 0; wire[1] = 0;
    trix_proto_feed(&rx, wire, 2);
    CHECK(out_len == 0, "empty frames answered (%d bytes)", out_len);
    CHECK(fake_steps == 4, "errors changed the state: steps %d (want 4)", fake_steps);

    /* BENCH resets the state afterwards and reports n */
    payload[0] = 10; payload[1] = 0;
    n = make_wire(TRIX_REQ_BENCH, 16, payload, 2);
    p = feed_one(wire, n, 2);
    CHECK(p == 12 && reply[0] == 0x84 && reply[1] == 16 && reply[10] == 10 && reply[11] == 0, "bench reply %d", p);
    CHECK(fake_steps == 0, "bench left state %d", fake_steps);

    /* a garbage prefix and a valid frame in one buffer: one error, then the answer */
    n = make_wire(TRIX_REQ_HELLO, 17, NULL, 0);
    memmove(wire + 4, wire, (size_t)n);
    wire[0] = 0x07; wire[1] = 0x99; wire[2] = 0x98; wire[3] = 0x00;   /* BAD_COBS */
    out_len = 0;
    trix_proto_feed(&rx, wire, n + 4);
    for (i = 0; i < out_len && out[i] != 0; i++) {
    }
    len = cobs_decode(out, i, reply);
    CHECK(len == 6 && reply[2] == TRIX_ERR_BAD_COBS, "garbage prefix");
    len = cobs_decode(out + i + 1, out_len - i - 2, reply);
    CHECK(len > 4 && reply[0] == 0x81 && reply[1] == 17, "valid frame after garbage");

    printf("test_proto: %s (%ld failures)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
