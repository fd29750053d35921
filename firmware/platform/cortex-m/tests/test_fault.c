/*
 * Cortex-M platform check: a fault must end the run with a message and exit code 125, never
 * hang it. Reads TRIX_FAULT_ADDRESS (the target table's fault_address, from the toolchain file),
 * where nothing is mapped: a bus fault, escalated to HardFault. A QEMU machine that answers
 * every read (lm3s6965evb ignores bus errors, as some older QEMU boards do) returns from the
 * read; the branch to the same address then faults on the instruction fetch (an execute-never
 * region of the default memory map, or nothing there). ctest expects the handler's report
 * followed by the exit line "*** trixcfc: exit 125" (PASS_REGULAR_EXPRESSION, which also makes
 * the runner's status 125 a pass; see firmware/app/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdio.h>

#ifndef TRIX_FAULT_ADDRESS
#error "TRIX_FAULT_ADDRESS (where the fault test faults) comes from the target's toolchain file"
#endif

int main(void)
{
    volatile uint32_t *bad = (volatile uint32_t *)TRIX_FAULT_ADDRESS;
    printf("test_fault: reading 0x%08lx\n", (unsigned long)(uintptr_t)bad);
    fflush(stdout);
    const uint32_t v = *bad;   /* HardFault_Handler ends the program with 125 */
    printf("test_fault: the read returned 0x%08lx; branching there\n", (unsigned long)v);
    fflush(stdout);
    ((void (*)(void))(TRIX_FAULT_ADDRESS | 1u))();   /* a Thumb branch: the fetch faults */
    return 0;
}
