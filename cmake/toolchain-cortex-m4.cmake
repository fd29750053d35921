# Target cortex-m4: Cortex-M4 with the DSP extension on QEMU mps2-an386 (DSP kernel).
set(TRIX_CPU cortex-m4)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
