# Helper functions of the trixcfc build (included by the top-level CMakeLists.txt).

# trix_add_test(<name> SOURCES <src>... [LIBS <lib>...] [TIMEOUT <s>])
# A test program for the current TRIX_TARGET: plain C99 `int main(void)` with printf, linked
# with the platform (Cortex-M: startup, UART0 retarget, exit line) and trix_core when
# a model is configured; registered with ctest, which runs it through
# CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64 / host/qemu_run.py) on the cross targets.
function(trix_add_test name)
    cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
    if(NOT T_SOURCES)
        set(T_SOURCES ${T_UNPARSED_ARGUMENTS})
    endif()
    add_executable(${name} ${T_SOURCES})
    target_link_libraries(${name} PRIVATE trix_platform ${T_LIBS})
    if(TARGET trix_core)
        target_link_libraries(${name} PRIVATE trix_core)
    endif()
    add_test(NAME ${name} COMMAND ${name})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 300)
    endif()
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
endfunction()

# trix_export_model(<npz> <outdir>): `python -m codegen export` at configure time.
function(trix_export_model npz outdir)
    find_package(Python3 REQUIRED COMPONENTS Interpreter)
    get_filename_component(repo "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/.." ABSOLUTE)
    execute_process(
        COMMAND ${Python3_EXECUTABLE} -m codegen export ${npz} --out ${outdir}
        WORKING_DIRECTORY ${repo}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "python -m codegen export ${npz} failed:\n${out}${err}")
    endif()
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${npz})
endfunction()
