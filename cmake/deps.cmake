# Finds NVSHMEM and NCCL's header. Order for NVSHMEM: -DNVSHMEM_ROOT, $NVSHMEM_HOME, the
# nvidia-nvshmem-cu13/-cu12 wheel of python3, else the wheel installed from PyPI into the build tree.

find_package(Python3 COMPONENTS Interpreter)

# Directory of a wheel's namespace package nvidia.<name>, or "" if python3 does not have it.
function(nvrar_wheel_dir name out)
  set(${out} "" PARENT_SCOPE)
  if(NOT Python3_Interpreter_FOUND)
    return()
  endif()
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -c "import nvidia.${name} as m; print(list(m.__path__)[0])"
    OUTPUT_VARIABLE dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND EXISTS "${dir}/include")
    set(${out} "${dir}" PARENT_SCOPE)
  endif()
endfunction()

set(NVRAR_NVSHMEM_WHEEL_VERSION "3.4.5" CACHE STRING "nvidia-nvshmem wheel the setup installs when none is found")
if(NOT NVSHMEM_ROOT AND DEFINED ENV{NVSHMEM_HOME})
  set(NVSHMEM_ROOT "$ENV{NVSHMEM_HOME}")
endif()
if(NOT NVSHMEM_ROOT)
  nvrar_wheel_dir(nvshmem NVSHMEM_ROOT)
  if(NVSHMEM_ROOT)
    message(STATUS "nvrar: NVSHMEM from python3's wheel: ${NVSHMEM_ROOT}")
  endif()
endif()
if(NOT NVSHMEM_ROOT)
  set(deps "${CMAKE_BINARY_DIR}/_deps/nvshmem")
  set(NVSHMEM_ROOT "${deps}/nvidia/nvshmem")
  if(NOT EXISTS "${NVSHMEM_ROOT}/lib/libnvshmem_host.so.3")
    if(NOT Python3_Interpreter_FOUND)
      message(FATAL_ERROR "nvrar: NVSHMEM not found and no python3 to install it: set NVSHMEM_HOME")
    endif()
    string(REGEX MATCH "^[0-9]+" cuda_major "${CMAKE_CUDA_COMPILER_VERSION}")
    set(pkg "nvidia-nvshmem-cu${cuda_major}==${NVRAR_NVSHMEM_WHEEL_VERSION}")
    message(STATUS "nvrar: installing ${pkg} from PyPI into ${deps}")
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -m pip install --quiet --no-deps --target "${deps}" "${pkg}"
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "nvrar: pip could not install ${pkg}; set NVSHMEM_HOME to an NVSHMEM >= 3.2.5 install")
    endif()
  endif()
endif()
set(NVSHMEM_ROOT "${NVSHMEM_ROOT}" CACHE PATH "NVSHMEM install (include/, lib/)" FORCE)

find_path(NVSHMEM_INCLUDE_DIR nvshmem.h PATHS "${NVSHMEM_ROOT}/include" NO_DEFAULT_PATH REQUIRED)
find_file(NVSHMEM_HOST_LIBRARY NAMES libnvshmem_host.so.3 libnvshmem_host.so PATHS "${NVSHMEM_ROOT}/lib" "${NVSHMEM_ROOT}/lib64" NO_DEFAULT_PATH REQUIRED)
find_file(NVSHMEM_DEVICE_LIBRARY NAMES libnvshmem_device.a PATHS "${NVSHMEM_ROOT}/lib" "${NVSHMEM_ROOT}/lib64" NO_DEFAULT_PATH REQUIRED)
get_filename_component(NVSHMEM_LIBRARY_DIR "${NVSHMEM_HOST_LIBRARY}" DIRECTORY)
message(STATUS "nvrar: NVSHMEM ${NVSHMEM_INCLUDE_DIR} ${NVSHMEM_HOST_LIBRARY}")

# NCCL: only nccl.h at build time; nvrar_perf loads libnccl.so.2 with dlopen for --compare.
nvrar_wheel_dir(nccl nccl_wheel)
find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS "$ENV{NCCL_HOME}/include" "${nccl_wheel}/include" ${CUDAToolkit_INCLUDE_DIRS})
find_file(NCCL_LIBRARY_DEFAULT NAMES libnccl.so.2
  HINTS "$ENV{NCCL_HOME}/lib" "${nccl_wheel}/lib" ${CUDAToolkit_LIBRARY_DIR})
if(NCCL_INCLUDE_DIR)
  message(STATUS "nvrar: nccl.h in ${NCCL_INCLUDE_DIR}; default libnccl.so.2: ${NCCL_LIBRARY_DEFAULT}")
else()
  message(STATUS "nvrar: nccl.h not found: nvrar_perf --compare nccl will be unavailable")
endif()
