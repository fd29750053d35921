# Toolchain: bare-metal Arm Cortex-M (arm-none-eabi-gcc + newlib-nano), run under
# qemu-system-arm (ARM's MPS2/MPS3 boards, STM32F405 on netduinoplus2, nRF51 on microbit).
#
# Soft-float ABI on M3/M4: the inference path is integer only. The M55 uses softfp so that
# MVE (__ARM_FEATURE_MVE) is available to the compiler (GCC 12 auto-vectorises at -O2); the
# reset handler enables CP10/CP11 there.
# Usually selected through cmake/toolchain-<target>.cmake or -DTRIX_TARGET=<target> on the
# top-level project.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

# Board facts come from the per-target file (cmake/toolchain-<target>.cmake, one per row of the
# target table host/targets.py; tests/test_targets.py checks that they agree):
#   TRIX_TARGET_NAME  target name (what HELLO reports)     TRIX_CPU        -mcpu
#   TRIX_BOARD        linker script <board>.ld             TRIX_QEMU_MACHINE  qemu-system-arm -M
#   TRIX_UART_DRIVER  platform UART source (.c)            TRIX_UART_BASE  its base address
#   TRIX_TICKS        tick source (.c: systick | nrf51_timer)  TRIX_CPU_HZ  clock of UART and ticks
#   TRIX_FLOAT_ABI    soft (default) | softfp
#   TRIX_FAULT_ADDRESS where the fault test (test_fault) reads, then branches (default 0xF0000000)
# Given only TRIX_CPU (or TRIX_TARGET) of one of the ARM-board targets, this file reads that
# target's file.
if(NOT DEFINED TRIX_BOARD)
    if(NOT DEFINED TRIX_CPU OR TRIX_CPU STREQUAL "")
        if(DEFINED TRIX_TARGET AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/toolchain-${TRIX_TARGET}.cmake)
            set(TRIX_CPU ${TRIX_TARGET})
        else()
            set(TRIX_CPU cortex-m4)
        endif()
    endif()
    if(NOT TRIX_CPU MATCHES "^cortex-m" OR NOT EXISTS ${CMAKE_CURRENT_LIST_DIR}/toolchain-${TRIX_CPU}.cmake)
        message(FATAL_ERROR "TRIX_CPU=${TRIX_CPU}: expected a target with a cmake/toolchain-<target>.cmake "
                            "(cortex-m4, cortex-m3, cortex-m7, cortex-m33, cortex-m55; or use cmake/toolchain-<target>.cmake)")
    endif()
    include(${CMAKE_CURRENT_LIST_DIR}/toolchain-${TRIX_CPU}.cmake)
    return()
endif()
foreach(v TRIX_TARGET_NAME TRIX_CPU TRIX_QEMU_MACHINE TRIX_UART_DRIVER TRIX_UART_BASE TRIX_TICKS TRIX_CPU_HZ)
    if(NOT DEFINED ${v})
        message(FATAL_ERROR "toolchain for board ${TRIX_BOARD}: ${v} is not set")
    endif()
endforeach()
if(NOT DEFINED TRIX_FLOAT_ABI)
    set(TRIX_FLOAT_ABI soft)
endif()
if(NOT DEFINED TRIX_FAULT_ADDRESS)
    set(TRIX_FAULT_ADDRESS 0xF0000000)
endif()
# try_compile() re-reads this file in a fresh project: hand the facts down.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TRIX_CPU)
set(TRIX_TARGET ${TRIX_TARGET_NAME} CACHE STRING "firmware target" FORCE)
foreach(v TRIX_CPU TRIX_BOARD TRIX_QEMU_MACHINE TRIX_UART_DRIVER TRIX_UART_BASE TRIX_TICKS TRIX_CPU_HZ TRIX_FLOAT_ABI
          TRIX_FAULT_ADDRESS)
    set(${v} ${${v}} CACHE STRING "board fact of target ${TRIX_TARGET_NAME}" FORCE)
endforeach()

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

# ctest runs cross test programs through host/qemu_run.py: qemu-system-arm with the board's UART
# on stdout, -no-reboot and no semihosting; the program's last line `*** trixcfc: exit <code>`
# (startup.c, trix_exit) becomes the runner's exit code (docs/firmware.md, "Exit codes and fault
# reports"). The runner is plain Python 3 (standard library): Python3_EXECUTABLE when given
# (host/build.py and the tests pass the venv's), else python3 from PATH. In a checkout it is
# host/qemu_run.py beside cmake/; in the installed package cmake/ is in host/firmware_tree/.
get_filename_component(_trix_tree "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
if(EXISTS "${_trix_tree}/host/qemu_run.py")
    set(TRIX_QEMU_RUN "${_trix_tree}/host/qemu_run.py")
else()
    get_filename_component(TRIX_QEMU_RUN "${_trix_tree}/../qemu_run.py" ABSOLUTE)
endif()
if(Python3_EXECUTABLE)
    set(_trix_python "${Python3_EXECUTABLE}")
else()
    find_program(TRIX_PYTHON3 NAMES python3 python)
    set(_trix_python "${TRIX_PYTHON3}")
    if(NOT _trix_python)
        set(_trix_python python3)
    endif()
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR "${_trix_python};${TRIX_QEMU_RUN};--target;${TRIX_TARGET_NAME}")
