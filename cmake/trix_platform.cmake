# The platform library trix_platform (an OBJECT library) for the current target: on the
# bare-metal targets (TRIX_BOARD set by cmake/toolchain-<target>.cmake) the Cortex-M startup,
# newlib retarget (printf to the board's UART, the exit line and a reset), the platform API of
# trix_platform.h, the board's UART driver and tick source, and the board's linker script; on
# native / aarch64 the POSIX stdin/stdout platform. Sets TRIX_BARE_METAL.
# Included by the top-level CMakeLists.txt and by projects that borrow the board support
# (examples/step_loop).
if(TARGET trix_platform)
    return()
endif()
get_filename_component(TRIX_PLATFORM_DIR "${CMAKE_CURRENT_LIST_DIR}/../firmware/platform" ABSOLUTE)
if(DEFINED TRIX_BOARD AND NOT TRIX_BOARD STREQUAL "")
    set(TRIX_BARE_METAL ON)
    # Bare-metal Cortex-M: startup, newlib retarget, the platform API, and the board's UART
    # driver and tick source (TRIX_UART_DRIVER, TRIX_TICKS from cmake/toolchain-<target>.cmake).
    add_library(trix_platform OBJECT
        ${TRIX_PLATFORM_DIR}/cortex-m/startup.c
        ${TRIX_PLATFORM_DIR}/cortex-m/retarget.c
        ${TRIX_PLATFORM_DIR}/cortex-m/platform_cortex_m.c
        ${TRIX_PLATFORM_DIR}/cortex-m/${TRIX_UART_DRIVER}.c
        ${TRIX_PLATFORM_DIR}/cortex-m/${TRIX_TICKS}.c)
    # The vector table uses a GNU range designator; C99 otherwise.
    set_source_files_properties(${TRIX_PLATFORM_DIR}/cortex-m/startup.c PROPERTIES COMPILE_OPTIONS "-std=gnu99")
    # Board facts: the UART's base and the clock its divisor and the ticks derive from.
    target_compile_definitions(trix_platform PRIVATE TRIX_UART_BASE=${TRIX_UART_BASE}u TRIX_CPU_HZ=${TRIX_CPU_HZ}u)
    target_link_options(trix_platform INTERFACE
        -L${TRIX_PLATFORM_DIR}/cortex-m -T${TRIX_PLATFORM_DIR}/cortex-m/${TRIX_BOARD}.ld)
    set_property(TARGET trix_platform APPEND PROPERTY INTERFACE_LINK_DEPENDS
        ${TRIX_PLATFORM_DIR}/cortex-m/${TRIX_BOARD}.ld ${TRIX_PLATFORM_DIR}/cortex-m/mps2-common.ld)
    if(NOT EXISTS ${TRIX_PLATFORM_DIR}/cortex-m/${TRIX_BOARD}.ld)
        message(FATAL_ERROR "no linker script for board ${TRIX_BOARD}")
    endif()
else()
    set(TRIX_BARE_METAL OFF)
    add_library(trix_platform OBJECT ${TRIX_PLATFORM_DIR}/posix/platform_posix.c)
endif()
target_include_directories(trix_platform PUBLIC ${TRIX_PLATFORM_DIR})

