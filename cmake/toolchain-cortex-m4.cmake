# Target cortex-m4: Cortex-M4 with the DSP extension on QEMU mps2-an386 (ARM MPS2 FPGA board).
# One row of the target table (host/targets.py); tests/test_targets.py checks they agree.
set(TRIX_TARGET_NAME cortex-m4)
set(TRIX_CPU cortex-m4)
set(TRIX_BOARD mps2-an386)
set(TRIX_QEMU_MACHINE mps2-an386)
set(TRIX_UART_DRIVER cmsdk_uart)
set(TRIX_UART_BASE 0x40004000)
set(TRIX_TICKS systick)
set(TRIX_CPU_HZ 25000000)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
