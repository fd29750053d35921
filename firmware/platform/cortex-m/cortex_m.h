/* Cortex-M platform internals shared by startup, retarget and the platform API. */
#ifndef TRIX_CORTEX_M_H
#define TRIX_CORTEX_M_H

#include <stdint.h>

void trix_systick_start(void);
uint64_t trix_systick_ticks64(void);
/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with this code (needs
 * -semihosting-config enable=on,target=native). Does not return. */
void trix_semihost_exit(int code) __attribute__((noreturn));

#endif /* TRIX_CORTEX_M_H */
