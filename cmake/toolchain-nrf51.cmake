# Target nrf51: nRF51822 (Cortex-M0, ARMv6-M) on QEMU microbit: UART, TIMER0 ticks at 16 MHz.
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME nrf51)
set(TRIX_CPU cortex-m0)
set(TRIX_BOARD nrf51)
set(TRIX_QEMU_MACHINE microbit)
set(TRIX_UART_DRIVER nrf51_uart)
set(TRIX_UART_BASE 0x40002000)
set(TRIX_TICKS nrf51_timer)
set(TRIX_CPU_HZ 16000000)
set(TRIX_FAULT_ADDRESS 0x70000000)      # QEMU's microbit answers reads at 0xF0000000-0xFFFFFFFF
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
