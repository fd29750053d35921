# Target aarch64: same as toolchain-aarch64-linux-gnu.cmake (named after the target).
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-aarch64-linux-gnu.cmake)
