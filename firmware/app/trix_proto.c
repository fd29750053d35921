/* Serial protocol v3 (docs/protocol.md): framing, CRC and dispatch. */
#include "trix_proto.h"

#include "trix_cfc.h"
#include "trix_platform.h"

#ifndef TRIX_TARGET_NAME
#define TRIX_TARGET_NAME "unknown"
#endif

#define TRIX_NAME_MAX 32   /* longest target/kernel name sent in HELLO */

/* ---- CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor ---- */
uint16_t trix_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    int b;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (b = 0; b < 8; b++)
            crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

/* ---- COBS (Cheshire & Baker) ---- */
size_t trix_cobs_encode(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t o = 1, code_at = 0, i;
    uint8_t code = 1;
    for (i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        } else {
            out[o++] = in[i];
            if (++code == 0xFF) {
                out[code_at] = code;
                code_at = o++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return o;
}

/* ---- replies ---- */
/* The longest reply is LOGITS with TRIX_MAX_CLASSES logits (STEP: 2 * TRIX_MAX_STEPS bytes;
 * HELLO: at most 15 + 2 * (1 + 32)). */
#define TRIX_LOGITS_REPLY (4 + 4 + 4 * TRIX_MAX_CLASSES)
#define TRIX_STEP_REPLY (4 + 2 * TRIX_MAX_STEPS)
#define TRIX_MAX_REPLY (TRIX_LOGITS_REPLY > TRIX_STEP_REPLY ? TRIX_LOGITS_REPLY : TRIX_STEP_REPLY)
typedef char trix_hello_fits[(4 + 15 + 2 * (1 + TRIX_NAME_MAX) <= TRIX_MAX_REPLY) ? 1 : -1];
static uint8_t tx_frame[TRIX_MAX_REPLY];
static uint8_t tx_wire[TRIX_COBS_MAX(TRIX_MAX_REPLY) + 1];

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v & 0xFFFFu); put_u16(p + 2, v >> 16); }

/* Sends tx_frame[2 .. 2+plen) as the payload of a reply of the given type and seq. */
static trix_write_fn reply_write;

static void send_reply(uint8_t type, uint8_t seq, size_t plen)
{
    uint16_t crc;
    size_t n;
    tx_frame[0] = type;
    tx_frame[1] = seq;
    crc = trix_crc16(tx_frame, plen + 2);
    tx_frame[plen + 2] = (uint8_t)(crc & 0xFFu);
    tx_frame[plen + 3] = (uint8_t)(crc >> 8);
    n = trix_cobs_encode(tx_frame, plen + 4, tx_wire);
    tx_wire[n++] = 0;
    reply_write(tx_wire, (int)n);
}

static void send_error(uint8_t code, uint8_t req_type, uint8_t seq)
{
    tx_frame[2] = code;
    tx_frame[3] = req_type;
    send_reply(TRIX_REPLY_ERROR, seq, 2);
}

static size_t put_name(uint8_t *p, const char *s)
{
    size_t n = 0;
    while (s[n] && n < TRIX_NAME_MAX) {
        p[1 + n] = (uint8_t)s[n];
        n++;
    }
    p[0] = (uint8_t)n;
    return n + 1;
}

static int max_steps(void)
{
    const int per_step = 2 * trix_inputs();
    const int fit = TRIX_MAX_PAYLOAD / per_step;
    return fit < TRIX_MAX_STEPS ? fit : TRIX_MAX_STEPS;
}

static void do_hello(uint8_t seq)
{
    uint8_t *p = tx_frame + 2;
    const uint64_t hash = trix_model_hash();
    size_t n = 0;
    p[n++] = TRIX_PROTO_VERSION;
    p[n++] = (uint8_t)trix_inputs();
    put_u16(p + n, (uint32_t)trix_hidden());
    n += 2;
    p[n++] = TRIX_Q_FORMAT;
    put_u16(p + n, (uint32_t)max_steps());
    n += 2;
    put_u32(p + n, (uint32_t)(hash & 0xFFFFFFFFu));
    put_u32(p + n + 4, (uint32_t)(hash >> 32));
    n += 8;
    n += put_name(p + n, TRIX_TARGET_NAME);
    n += put_name(p + n, trix_kernel_name());
    send_reply(TRIX_REQ_HELLO | TRIX_REPLY_FLAG, seq, n);
}

static int16_t step_x[TRIX_MAX_PAYLOAD / 2];

static void do_step(uint8_t seq, const uint8_t *payload, int n)
{
    const int inputs = trix_inputs();
    int i;
    for (i = 0; i < n * inputs; i++) {
        const int32_t v = (int32_t)payload[2 * i] | ((int32_t)payload[2 * i + 1] << 8);
        step_x[i] = (int16_t)(v >= 32768 ? v - 65536 : v);
    }
    for (i = 0; i < n; i++) {
        const int16_t y = trix_step(&step_x[i * inputs]);
        put_u16(tx_frame + 2 + 2 * i, (uint32_t)(uint16_t)y);
    }
    send_reply(TRIX_REQ_STEP | TRIX_REPLY_FLAG, seq, (size_t)(2 * n));
}

/* A classifier's BENCH ends its window with the logits. Not inlined: their buffer is on the
 * stack of this call only, so a regression firmware's BENCH uses the stack (and RAM) it did. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void bench_logits(void)
{
    int32_t logits[TRIX_MAX_CLASSES];
    (void)trix_logits(logits);
}

static void do_bench(uint8_t seq, uint32_t n)
{
    uint32_t t0, t1, i;
    for (i = 0; i < (uint32_t)(sizeof step_x / sizeof step_x[0]); i++) step_x[i] = 0;
    t0 = trix_platform_ticks();
    for (i = 0; i < n; i++) (void)trix_step(step_x);
    if (trix_classes() > 0) bench_logits();   /* a classifier: the window's logits too */
    t1 = trix_platform_ticks();
    trix_reset();
    put_u32(tx_frame + 2, t1 - t0);
    put_u32(tx_frame + 6, trix_platform_tick_hz());
    put_u32(tx_frame + 10, n);
    send_reply(TRIX_REQ_BENCH | TRIX_REPLY_FLAG, seq, 12);
}

/* LOGITS and DECIDE: u16 steps of the window, u8 K, u8 class, K int32 logits (Q16). DECIDE then
 * starts the next window (trix_decide): the state carries on. */
static void do_logits(uint8_t type, uint8_t seq)
{
    int32_t logits[TRIX_MAX_CLASSES];
    uint8_t *p = tx_frame + 2;
    const int K = trix_classes();
    int k, cls;
    if (K < 1 || K > TRIX_MAX_CLASSES) {
        send_error(TRIX_ERR_NO_CLASSES, type, seq);
        return;
    }
    put_u16(p, (uint32_t)trix_window_steps());
    cls = type == TRIX_REQ_DECIDE ? trix_decide(logits) : trix_logits(logits);
    p[2] = (uint8_t)K;
    p[3] = (uint8_t)cls;
    for (k = 0; k < K; k++) put_u32(p + 4 + 4 * k, (uint32_t)logits[k]);
    send_reply((uint8_t)(type | TRIX_REPLY_FLAG), seq, (size_t)(4 + 4 * K));
}

/* One complete, correctly COBS-decoded frame. */
static void handle_frame(const uint8_t *f, size_t len)
{
    uint8_t type, seq;
    const uint8_t *payload;
    size_t plen;
    if (len < 4) {
        send_error(TRIX_ERR_TOO_SHORT, len >= 1 ? f[0] : 0, len >= 2 ? f[1] : 0);
        return;
    }
    type = f[0];
    seq = f[1];
    plen = len - 4;
    payload = f + 2;
    if (trix_crc16(f, len - 2) != (uint16_t)(f[len - 2] | (f[len - 1] << 8))) {
        send_error(TRIX_ERR_BAD_CRC, type, seq);
        return;
    }
    switch (type) {
    case TRIX_REQ_HELLO:
        if (plen != 0) break;
        do_hello(seq);
        return;
    case TRIX_REQ_RESET:
        if (plen != 0) break;
        trix_reset();
        send_reply(TRIX_REQ_RESET | TRIX_REPLY_FLAG, seq, 0);
        return;
    case TRIX_REQ_STEP: {
        const size_t per_step = 2u * (size_t)trix_inputs();
        if (plen == 0 || plen % per_step != 0 || plen / per_step > (size_t)max_steps()) break;
        do_step(seq, payload, (int)(plen / per_step));
        return;
    }
    case TRIX_REQ_BENCH: {
        uint32_t n;
        if (plen != 2) break;
        n = (uint32_t)payload[0] | ((uint32_t)payload[1] << 8);
        if (n < 1 || n > TRIX_MAX_BENCH) break;
        do_bench(seq, n);
        return;
    }
    case TRIX_REQ_LOGITS:
    case TRIX_REQ_DECIDE:
        if (plen != 0) break;
        do_logits(type, seq);
        return;
    default:
        send_error(TRIX_ERR_UNKNOWN_TYPE, type, seq);
        return;
    }
    send_error(TRIX_ERR_BAD_LENGTH, type, seq);
}

/* ---- receiver ---- */
static void rx_clear(trix_rx_t *rx)
{
    rx->len = 0;
    rx->open = 0;
    rx->code = 0;
    rx->remaining = 0;
    rx->overflow = 0;
}

static void rx_put(trix_rx_t *rx, uint8_t v)
{
    if (rx->len < TRIX_MAX_FRAME)
        rx->frame[rx->len++] = v;
    else
        rx->overflow = 1;
}

static void rx_end(trix_rx_t *rx)
{
    const size_t len = rx->len;
    const uint8_t type = len >= 1 ? rx->frame[0] : 0, seq = len >= 2 ? rx->frame[1] : 0;
    if (!rx->open) return;   /* empty frame: ignored silently */
    reply_write = rx->write;
    if (rx->overflow)
        send_error(TRIX_ERR_OVERSIZE, type, seq);
    else if (rx->remaining != 0)
        send_error(TRIX_ERR_BAD_COBS, type, seq);   /* frame ended inside a COBS block */
    else
        handle_frame(rx->frame, len);
    rx_clear(rx);
}

void trix_proto_init(trix_rx_t *rx, trix_write_fn write)
{
    rx->write = write;
    rx_clear(rx);
}

void trix_proto_feed(trix_rx_t *rx, const uint8_t *bytes, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        const uint8_t b = bytes[i];
        if (b == 0) {
            rx_end(rx);
            continue;
        }
        rx->open = 1;
        if (rx->overflow) continue;   /* discard the rest up to 0x00 */
        if (rx->remaining == 0) {     /* b is a code byte */
            if (rx->code != 0 && rx->code != 0xFF) rx_put(rx, 0);
            rx->code = b;
            rx->remaining = (uint8_t)(b - 1);
        } else {
            rx_put(rx, b);
            rx->remaining--;
        }
    }
}
