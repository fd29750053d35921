/*
 * A hostile bare-metal program (tests/test_guest_host_access.py): it asks the host, through Arm
 * semihosting (BKPT 0xAB), to run a shell command (SYS_SYSTEM, 0x12: `touch <path>`) and to
 * create a file (SYS_OPEN 0x01 + SYS_WRITE 0x05 + SYS_CLOSE 0x02). QEMU started without
 * semihosting turns each BKPT into a HardFault; this program's own handler then skips the BKPT
 * and goes on, so every call is tried whatever happens to the others.
 *
 * It prints one line per call and ends the way trixcfc programs end (startup.c, trix_exit): the
 * line "*** trixcfc: exit <n>", n = how many calls reached the host, then a system reset.
 * Its own vector table and reset handler; only the board's UART driver comes from the platform.
 * PROBE_SYSTEM_CMD and PROBE_OPEN_PATH come from probe_paths.h, written by the test.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "probe_paths.h"

#define SYS_OPEN   0x01u
#define SYS_CLOSE  0x02u
#define SYS_WRITE  0x05u
#define SYS_SYSTEM 0x12u
#define FAULTED    0xFA17FA17u     /* r0 as the fault handler leaves it */

extern uint32_t _estack;
void Reset_Handler(void);
void HardFault_Handler(void);
void probe_skip_bkpt(uint32_t *frame);

__attribute__((section(".isr_vector"), used))
const void *const probe_vectors[16] = {
    &_estack, (const void *)Reset_Handler, (const void *)HardFault_Handler, (const void *)HardFault_Handler,
};

/* The BKPT escalated to HardFault: the stacked PC is the BKPT (16 bits); resume after it with
 * r0 = FAULTED. Every stack is the main stack here. */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile("mrs r0, msp\n\t"
                     "b probe_skip_bkpt\n\t");
}

void probe_skip_bkpt(uint32_t *frame)
{
    frame[0] = FAULTED;
    frame[6] += 2u;
}

static uint32_t semihost(uint32_t op, const void *block)
{
    register uint32_t r0 __asm__("r0") = op;
    register uint32_t r1 __asm__("r1") = (uint32_t)(uintptr_t)block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static uint32_t len(const char *s)
{
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

static void put(const char *s)
{
    while (*s) trix_uart_putc((uint8_t)*s++);
}

static void put_hex(uint32_t v)
{
    int i;
    put("0x");
    for (i = 28; i >= 0; i -= 4) trix_uart_putc((uint8_t)"0123456789abcdef"[(v >> i) & 0xFu]);
}

static int report(const char *what, uint32_t r)
{
    put("semihosting probe: ");
    put(what);
    if (r == FAULTED) {
        put(": faulted, nothing reached the host\r\n");
        return 0;
    }
    put(": returned ");
    put_hex(r);
    put(", the host answered\r\n");
    return 1;
}

void Reset_Handler(void)
{
    static const char cmd[] = PROBE_SYSTEM_CMD, path[] = PROBE_OPEN_PATH, text[] = "written by the guest\n";
    uint32_t block[3], handle;
    int reached = 0;

    trix_uart_init();
    put("semihosting probe: start\r\n");

    block[0] = (uint32_t)(uintptr_t)cmd;
    block[1] = len(cmd);
    reached += report("SYS_SYSTEM", semihost(SYS_SYSTEM, block));

    block[0] = (uint32_t)(uintptr_t)path;
    block[1] = 4u;                          /* fopen mode "w" */
    block[2] = len(path);
    handle = semihost(SYS_OPEN, block);
    reached += report("SYS_OPEN", handle);

    block[0] = handle;                      /* tried even when the open failed or faulted */
    block[1] = (uint32_t)(uintptr_t)text;
    block[2] = len(text);
    reached += report("SYS_WRITE", semihost(SYS_WRITE, block));
    block[0] = handle;
    reached += report("SYS_CLOSE", semihost(SYS_CLOSE, block));

    put("\r\n*** trixcfc: exit ");
    trix_uart_putc((uint8_t)('0' + reached));
    put("\r\n");
    __asm__ volatile("dsb" ::: "memory");
    *(volatile uint32_t *)0xE000ED0Cu = (0x05FAu << 16) | (1u << 2);   /* SYSRESETREQ */
    for (;;) {
    }
}
