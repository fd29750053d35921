# Target cortex-m55: Cortex-M55 (ARMv8.1-M, DSP + Helium/MVE) on QEMU mps3-an547, optional; secure alias of UART0.
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME cortex-m55)
set(TRIX_CPU cortex-m55)
set(TRIX_BOARD mps3-an547)
set(TRIX_QEMU_MACHINE mps3-an547)
set(TRIX_UART_DRIVER cmsdk_uart)
set(TRIX_UART_BASE 0x49303000)
set(TRIX_TICKS systick)
set(TRIX_CPU_HZ 32000000)
set(TRIX_FLOAT_ABI softfp)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
