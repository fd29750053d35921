# Toolchain: bare-metal Arm Cortex-M (arm-none-eabi-gcc + newlib-nano), run under
# qemu-system-arm on the MPS2 FPGA boards.
#
#   TRIX_CPU   cortex-m4 (default; ARMv7E-M with the DSP/SIMD extension -> DSP kernel,
#              board mps2-an386) | cortex-m3 (ARMv7-M, no DSP, no FPU -> portable kernel,
#              board mps2-an385) | cortex-m55 (optional; ARMv8.1-M with DSP and Helium/MVE,
#              board mps3-an547)
#
# Soft-float ABI on M3/M4: the inference path is integer only. The M55 uses softfp so that
# MVE (__ARM_FEATURE_MVE) is available to the compiler (GCC 12 auto-vectorises at -O2); the
# reset handler enables CP10/CP11 there.
# Usually selected through cmake/toolchain-cortex-m4.cmake / toolchain-cortex-m3.cmake or
# -DTRIX_TARGET=cortex-m4 on the top-level project.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

if(NOT DEFINED TRIX_CPU OR TRIX_CPU STREQUAL "")
    if(DEFINED TRIX_TARGET AND TRIX_TARGET MATCHES "^cortex-m")
        set(TRIX_CPU ${TRIX_TARGET})
    else()
        set(TRIX_CPU cortex-m4)
    endif()
endif()
set(TRIX_CPU ${TRIX_CPU} CACHE STRING "Cortex-M core: cortex-m4 | cortex-m3 | cortex-m55")
# try_compile() re-reads this file in a fresh project: hand TRIX_CPU down.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TRIX_CPU)

set(TRIX_FLOAT_ABI soft)
if(TRIX_CPU STREQUAL "cortex-m4")
    set(TRIX_BOARD mps2-an386)
elseif(TRIX_CPU STREQUAL "cortex-m3")
    set(TRIX_BOARD mps2-an385)
elseif(TRIX_CPU STREQUAL "cortex-m55")
    set(TRIX_BOARD mps3-an547)
    set(TRIX_FLOAT_ABI softfp)
else()
    message(FATAL_ERROR "TRIX_CPU=${TRIX_CPU}: expected cortex-m4, cortex-m3 or cortex-m55")
endif()
set(TRIX_TARGET ${TRIX_CPU} CACHE STRING "firmware target" FORCE)
set(TRIX_BOARD ${TRIX_BOARD} CACHE STRING "QEMU machine / linker script of the target" FORCE)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "")
set(CMAKE_SIZE arm-none-eabi-size CACHE FILEPATH "")
set(CMAKE_NM arm-none-eabi-nm CACHE FILEPATH "")
# No OS to link a test program against: check the compiler with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(CMAKE_C_FLAGS_INIT "-mcpu=${TRIX_CPU} -mthumb -mfloat-abi=${TRIX_FLOAT_ABI} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "-mcpu=${TRIX_CPU} -mthumb -mfloat-abi=${TRIX_FLOAT_ABI}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-mcpu=${TRIX_CPU} -mthumb -mfloat-abi=${TRIX_FLOAT_ABI} --specs=nano.specs -nostartfiles -Wl,--gc-sections")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)

# ctest runs cross test programs through QEMU: output on UART0 -> stdout (-nographic),
# the return value of main() -> QEMU's exit code (semihosting SYS_EXIT_EXTENDED).
set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-system-arm;-M;${TRIX_BOARD};-nographic;-monitor;none;-semihosting-config;enable=on,target=native;-kernel)
