# Target cortex-m3: Cortex-M3 (no DSP, no FPU) on QEMU mps2-an385 (portable kernel).
set(TRIX_CPU cortex-m3)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
