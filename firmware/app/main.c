/*
 * trix_fw: the firmware application. Answers the serial protocol v2 (docs/protocol.md) on the
 * target's link (UART0 on Cortex-M, stdin/stdout on native/aarch64) with the compiled-in model.
 * Returns 0 at the end of input (stdin EOF); on a board the link never ends.
 */
#include <stdint.h>

#include "trix_cfc.h"
#include "trix_platform.h"
#include "trix_proto.h"

static trix_rx_t rx;

int main(void)
{
    uint8_t buf[64];
    int n;
    trix_reset();
    trix_proto_init(&rx, trix_platform_write);
    while ((n = trix_platform_read(buf, (int)sizeof buf)) > 0) trix_proto_feed(&rx, buf, n);
    return 0;
}
