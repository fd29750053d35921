# Target cortex-m33: Cortex-M33 (ARMv8-M Mainline + DSP) on QEMU mps2-an505, Secure state, UART0 secure alias.
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME cortex-m33)
set(TRIX_CPU cortex-m33)
set(TRIX_BOARD mps2-an505)
set(TRIX_QEMU_MACHINE mps2-an505)
set(TRIX_UART_DRIVER cmsdk_uart)
set(TRIX_UART_BASE 0x50200000)
set(TRIX_TICKS systick)
set(TRIX_CPU_HZ 20000000)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
