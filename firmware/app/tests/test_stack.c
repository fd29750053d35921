/*
 * Cortex-M only: the deepest stack use of the protocol path with the real core, measured by
 * painting. trix_fw links with a 2 KB stack (firmware/app/CMakeLists.txt); this drives the
 * same trix_proto_feed() with the compiled-in model through every request (HELLO, RESET, the
 * largest STEP, BENCH) and every error reply, with the SysTick interrupt running, then scans
 * the painted stack for the lowest word written. Fails when more than 3/4 of 2 KB were used.
 */
#include <stdio.h>
#include <string.h>

#include "trix_cfc.h"
#include "trix_proto.h"

#define PAINT 0xC5C5C5C5u
#define FW_STACK 2048u

extern uint32_t _sstack, _estack;

static unsigned long replies;
static void count(const uint8_t *b, int n)
{
    int i;
    for (i = 0; i < n; i++) replies += b[i] == 0;
}

static trix_rx_t rx;
static uint8_t frame[600], wire[700];

static void send_crc(uint8_t type, const uint8_t *payload, int plen, uint16_t crc_xor)
{
    uint16_t crc;
    int n;
    frame[0] = type;
    frame[1] = 1;
    if (plen) memcpy(frame + 2, payload, (size_t)plen);
    crc = (uint16_t)(trix_crc16(frame, (size_t)plen + 2) ^ crc_xor);
    frame[plen + 2] = (uint8_t)crc;
    frame[plen + 3] = (uint8_t)(crc >> 8);
    n = (int)trix_cobs_encode(frame, (size_t)plen + 4, wire);
    wire[n++] = 0;
    trix_proto_feed(&rx, wire, n);
}

static void send(uint8_t type, const uint8_t *payload, int plen) { send_crc(type, payload, plen, 0); }

int main(void)
{
    static uint8_t payload[600];
    uint32_t here, *p, *lowest;
    unsigned long used;
    const int inputs = trix_inputs();
    /* paint from the bottom of the stack to a little below the current frame */
    for (p = &_sstack; (uintptr_t)p < (uintptr_t)&here - 64; p++) *p = PAINT;

    trix_proto_init(&rx, count);
    memset(payload, 0x40, sizeof payload);
    send(TRIX_REQ_HELLO, NULL, 0);
    send(TRIX_REQ_RESET, NULL, 0);
    send(TRIX_REQ_STEP, payload, 2 * inputs * (TRIX_MAX_PAYLOAD / (2 * inputs) < 64 ? TRIX_MAX_PAYLOAD / (2 * inputs) : 64));
    payload[0] = 100; payload[1] = 0;
    send(TRIX_REQ_BENCH, payload, 2);
    send(0x55, NULL, 0);                      /* UNKNOWN_TYPE */
    send(TRIX_REQ_STEP, payload, 3);          /* BAD_LENGTH */
    send(TRIX_REQ_STEP, payload, 520);        /* OVERSIZE */
    {
        static const uint8_t bad[] = { 0x05, 0x01, 0x00, 0x02, 0x01, 0x00, 0x03, 0x01, 0x02, 0x00 };
        trix_proto_feed(&rx, bad, (int)sizeof bad);   /* BAD_COBS, TOO_SHORT, TOO_SHORT */
    }
    send_crc(TRIX_REQ_HELLO, NULL, 0, 0x0100);   /* BAD_CRC */

    for (lowest = &_sstack; lowest < &_estack && *lowest == PAINT; lowest++) {
    }
    used = (unsigned long)((uintptr_t)&_estack - (uintptr_t)lowest);
    printf("test_stack: %lu replies, deepest stack use %lu bytes (trix_fw reserves %u): %s\n", replies, used,
           FW_STACK, replies == 11 && used <= FW_STACK * 3 / 4 ? "PASS" : "FAIL");
    return replies == 11 && used <= FW_STACK * 3 / 4 ? 0 : 1;
}
