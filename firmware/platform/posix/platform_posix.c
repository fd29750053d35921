/*
 * native / aarch64 (Linux, static under qemu-aarch64): the protocol runs on the process's
 * stdin/stdout as raw bytes through read()/write() (no stdio buffering); end of input is
 * EOF on stdin. Ticks: CLOCK_MONOTONIC in nanoseconds (tick_hz = 1e9, wall clock).
 */
#define _POSIX_C_SOURCE 200112L
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "trix_platform.h"

int trix_platform_read(uint8_t *buf, int max)
{
    for (;;) {
        ssize_t n = read(0, buf, (size_t)max);
        if (n > 0) return (int)n;
        if (n == 0) return 0;
        if (errno != EINTR) return 0;   /* a broken stdin ends the session like EOF */
    }
}

void trix_platform_write(const uint8_t *buf, int len)
{
    while (len > 0) {
        ssize_t n = write(1, buf, (size_t)len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;   /* reader gone: nothing sensible left to do with the reply */
        }
        buf += n;
        len -= (int)n;
    }
}

uint32_t trix_platform_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

uint32_t trix_platform_tick_hz(void) { return 1000000000u; }
