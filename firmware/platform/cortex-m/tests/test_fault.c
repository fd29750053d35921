/*
 * Cortex-M platform check: a fault must end the QEMU run with a message and exit code 125,
 * never hang it. Reads an unmapped address (bus fault, escalated to HardFault); ctest expects
 * the handler's message and the exit code (the test is registered with WILL_FAIL semantics
 * through PASS_REGULAR_EXPRESSION; see firmware/app/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdio.h>

int main(void)
{
    volatile uint32_t *bad = (volatile uint32_t *)0xF0000000u;   /* nothing mapped there */
    printf("test_fault: reading 0xF0000000\n");
    fflush(stdout);
    return (int)*bad;   /* does not return: HardFault_Handler exits QEMU with 125 */
}
