# cmake -DNM=<nm> -DELF=<image> -P trix_check_no_heap.cmake
# Fails when the image links the heap (malloc/free/realloc/calloc/_sbrk and newlib's _r forms).
execute_process(COMMAND ${NM} ${ELF} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${ELF} failed")
endif()
string(REGEX MATCHALL "[ \t][TtWwU] (_?_?(malloc|free|realloc|calloc|sbrk|_sbrk|_malloc_r|_free_r|_realloc_r|_calloc_r))\n" hits "${syms}")
if(hits)
    message(FATAL_ERROR "${ELF} links the heap:\n${hits}")
endif()
message("no heap in ${ELF}: no malloc/free/realloc/calloc/_sbrk")
