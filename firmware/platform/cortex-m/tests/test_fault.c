/*
 * Cortex-M platform check: a fault must end the run with a message and exit code 125, never
 * hang it. Reads an unmapped address (bus fault, escalated to HardFault); ctest expects the
 * handler's report followed by the exit line "*** trixcfc: exit 125" (PASS_REGULAR_EXPRESSION,
 * which also makes the runner's status 125 a pass; see firmware/app/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdio.h>

int main(void)
{
    /* Nothing is mapped there: 0xF0000000 on the ARM boards and the STM32F405; the nRF51 (QEMU
     * microbit) answers reads in 0xF0000000-0xFFFFFFFF (a stub for its private region), so its
     * fault goes to 0x70000000. */
#if defined(__ARM_ARCH_6M__)
    volatile uint32_t *bad = (volatile uint32_t *)0x70000000u;
#else
    volatile uint32_t *bad = (volatile uint32_t *)0xF0000000u;
#endif
    printf("test_fault: reading 0x%08lx\n", (unsigned long)(uintptr_t)bad);
    fflush(stdout);
    return (int)*bad;   /* does not return: HardFault_Handler ends the program with 125 */
}
