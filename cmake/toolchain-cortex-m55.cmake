# Target cortex-m55 (optional): Cortex-M55 (ARMv8.1-M, DSP + Helium/MVE) on QEMU mps3-an547.
set(TRIX_CPU cortex-m55)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-arm-none-eabi.cmake)
