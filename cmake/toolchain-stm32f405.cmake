# Target stm32f405: STM32F405 (Cortex-M4F) on QEMU netduinoplus2: USART1, HSI 16 MHz reset clock.
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME stm32f405)
set(TRIX_CPU cortex-m4)
set(TRIX_BOARD stm32f405)
set(TRIX_QEMU_MACHINE netduinoplus2)
set(TRIX_UART_DRIVER stm32f4_usart)
set(TRIX_UART_BASE 0x40011000)
set(TRIX_TICKS systick)
set(TRIX_CPU_HZ 16000000)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
