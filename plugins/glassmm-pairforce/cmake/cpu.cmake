# CPU kernel: needs the CPU platform library of the wheel (plugins/libOpenMMCPU.so).
find_library(OPENMM_CPU_LIBRARY OpenMMCPU PATHS "${OPENMM_PLUGIN_DIR}" NO_DEFAULT_PATH)
if(NOT OPENMM_CPU_LIBRARY)
    message(WARNING "glassmm-pairforce: libOpenMMCPU not found under ${OPENMM_PLUGIN_DIR}; no CPU kernel "
                    "(the Reference kernel serves the CPU platform)")
    return()
endif()
set(_cpu_sources platforms/cpu/CpuPairTableKernels.cpp)
# GLASSMM_PAIRFORCE_ENGINE=vec4 builds the 4-wide engine on x86 too (to test the portable path).
set(GLASSMM_PAIRFORCE_ENGINE "auto" CACHE STRING "CPU SIMD engine: auto (AVX2 on x86, 4-wide elsewhere) or vec4")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i.86" AND NOT GLASSMM_PAIRFORCE_ENGINE STREQUAL "vec4")
    # One SIMD translation unit per build (inline functions of the vectorize headers compiled for
    # two instruction sets in one library would break the one-definition rule).
    list(APPEND _cpu_sources platforms/cpu/PairTableEngineAvx2.cpp)
    set_source_files_properties(platforms/cpu/PairTableEngineAvx2.cpp PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
    set(_cpu_defs GLASSMM_PAIRFORCE_AVX2)
else()
    list(APPEND _cpu_sources platforms/cpu/PairTableEngineVec4.cpp)
    if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i.86")
        set_source_files_properties(platforms/cpu/PairTableEngineVec4.cpp PROPERTIES COMPILE_OPTIONS "-msse4.1")
    endif()
    set(_cpu_defs GLASSMM_PAIRFORCE_VEC4)
endif()
add_library(GlassmmPairForceCPU SHARED ${_cpu_sources})
target_compile_definitions(GlassmmPairForceCPU PRIVATE ${_cpu_defs})
target_include_directories(GlassmmPairForceCPU PRIVATE "${OPENMM_DIR}/include/openmm/cpu" platforms/cpu)
target_link_libraries(GlassmmPairForceCPU PRIVATE GlassmmPairForce ${OPENMM_LIBRARY} ${OPENMM_CPU_LIBRARY})
install(TARGETS GlassmmPairForceCPU LIBRARY DESTINATION ${PKG})
