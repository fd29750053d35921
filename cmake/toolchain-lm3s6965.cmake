# Target lm3s6965: TI Stellaris LM3S6965 (Cortex-M3) on QEMU lm3s6965evb: UART0 (PL011), SysTick,
# the 12 MHz internal oscillator the chip starts on.
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME lm3s6965)
set(TRIX_CPU cortex-m3)
set(TRIX_BOARD lm3s6965)
set(TRIX_QEMU_MACHINE lm3s6965evb)
set(TRIX_UART_DRIVER pl011_uart)
set(TRIX_UART_BASE 0x4000C000)
set(TRIX_TICKS systick)
set(TRIX_CPU_HZ 12000000)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
