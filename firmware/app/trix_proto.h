/*
 * Serial protocol v3 (docs/protocol.md), firmware side: CRC-16/CCITT-FALSE, COBS, an
 * incremental frame receiver and the request dispatch (HELLO, RESET, STEP, BENCH, LOGITS, DECIDE, errors).
 * Static storage only: no heap. Replies go out through the receiver's write function.
 */
#ifndef TRIX_PROTO_H
#define TRIX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TRIX_PROTO_VERSION 3
#define TRIX_MAX_PAYLOAD   512
#define TRIX_MAX_FRAME     (TRIX_MAX_PAYLOAD + 4)     /* type, seq, payload, crc16 */
#define TRIX_MAX_STEPS     64
#define TRIX_MAX_BENCH     4096
#define TRIX_Q_FORMAT      14
#define TRIX_MAX_CLASSES   32                         /* logits in one LOGITS reply */
/* Worst-case COBS encoding of n bytes, without the 0x00 delimiter. */
#define TRIX_COBS_MAX(n)   ((n) + (n) / 254 + 1)

enum {
    TRIX_REQ_HELLO = 0x01, TRIX_REQ_RESET = 0x02, TRIX_REQ_STEP = 0x03, TRIX_REQ_BENCH = 0x04,
    TRIX_REQ_LOGITS = 0x05, TRIX_REQ_DECIDE = 0x06,
    TRIX_REPLY_FLAG = 0x80, TRIX_REPLY_ERROR = 0x7F
};

enum {
    TRIX_ERR_BAD_CRC = 1, TRIX_ERR_BAD_COBS = 2, TRIX_ERR_TOO_SHORT = 3, TRIX_ERR_OVERSIZE = 4,
    TRIX_ERR_UNKNOWN_TYPE = 5, TRIX_ERR_BAD_LENGTH = 6, TRIX_ERR_NO_CLASSES = 7
};

uint16_t trix_crc16(const uint8_t *data, size_t len);
/* COBS-encodes len bytes into out (room for TRIX_COBS_MAX(len)); returns the encoded length
 * (no delimiter written). */
size_t trix_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);

/* Receiver state: COBS is decoded byte by byte as it arrives, so the decoded length (and
 * with it OVERSIZE) is known exactly without buffering the encoded bytes. */
typedef void (*trix_write_fn)(const uint8_t *bytes, int len);

typedef struct {
    trix_write_fn write;              /* where replies go (trix_platform_write in trix_fw) */
    uint8_t  frame[TRIX_MAX_FRAME];   /* decoded bytes of the current frame */
    uint16_t len;                     /* how many are stored */
    uint8_t  open;                    /* non-delimiter bytes arrived since the last 0x00 */
    uint8_t  code;                    /* COBS code byte of the current block (0: none yet) */
    uint8_t  remaining;               /* data bytes still expected in the current block */
    uint8_t  overflow;                /* more than TRIX_MAX_FRAME decoded: OVERSIZE */
} trix_rx_t;

void trix_proto_init(trix_rx_t *rx, trix_write_fn write);
/* Consumes n received bytes; every complete frame (ended by 0x00) is answered. */
void trix_proto_feed(trix_rx_t *rx, const uint8_t *bytes, int n);

#endif /* TRIX_PROTO_H */
