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

string(REGEX MATCH "^[0-9]+" cuda_major "${CMAKE_CUDA_COMPILER_VERSION}")

# Installs pip package `pkg` (no dependencies) into `dir` unless `probe` exists there already.
# Returns in `out` whether the package is there afterwards; `why` says what to do if not.
function(nvrar_pip_install pkg dir probe out)
  set(${out} ON PARENT_SCOPE)
  if(EXISTS "${dir}/${probe}")
    return()
  endif()
  if(NOT Python3_Interpreter_FOUND)
    set(${out} OFF PARENT_SCOPE)
    return()
  endif()
  message(STATUS "nvrar: installing ${pkg} from PyPI into ${dir}")
  execute_process(
    COMMAND ${Python3_EXECUTABLE} -m pip install --quiet --no-deps --target "${dir}" "${pkg}"
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT EXISTS "${dir}/${probe}")
    set(${out} OFF PARENT_SCOPE)
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
  set(pkg "nvidia-nvshmem-cu${cuda_major}==${NVRAR_NVSHMEM_WHEEL_VERSION}")
  nvrar_pip_install("${pkg}" "${CMAKE_BINARY_DIR}/_deps/nvshmem" nvidia/nvshmem/lib/libnvshmem_host.so.3 ok)
  if(NOT ok)
    message(FATAL_ERROR "nvrar: NVSHMEM not found and ${pkg} could not be installed from PyPI (no python3 with "
      "pip, or no network); set NVSHMEM_HOME or -DNVSHMEM_ROOT to an NVSHMEM >= 3.2.5 install")
  endif()
  set(NVSHMEM_ROOT "${CMAKE_BINARY_DIR}/_deps/nvshmem/nvidia/nvshmem")
endif()
set(NVSHMEM_ROOT "${NVSHMEM_ROOT}" CACHE PATH "NVSHMEM install (include/, lib/)" FORCE)

find_path(NVSHMEM_INCLUDE_DIR nvshmem.h PATHS "${NVSHMEM_ROOT}/include" NO_DEFAULT_PATH REQUIRED)
find_file(NVSHMEM_HOST_LIBRARY NAMES libnvshmem_host.so.3 libnvshmem_host.so PATHS "${NVSHMEM_ROOT}/lib" "${NVSHMEM_ROOT}/lib64" NO_DEFAULT_PATH REQUIRED)
find_file(NVSHMEM_DEVICE_LIBRARY NAMES libnvshmem_device.a PATHS "${NVSHMEM_ROOT}/lib" "${NVSHMEM_ROOT}/lib64" NO_DEFAULT_PATH REQUIRED)
get_filename_component(NVSHMEM_LIBRARY_DIR "${NVSHMEM_HOST_LIBRARY}" DIRECTORY)
message(STATUS "nvrar: NVSHMEM ${NVSHMEM_INCLUDE_DIR} ${NVSHMEM_HOST_LIBRARY}")

# NCCL: only nccl.h at build time (the drop-in and nvrar_perf --compare load libnccl.so.2 with dlopen).
# Order: $NCCL_HOME, python3's nvidia-nccl wheel, the CUDA toolkit (a stock toolkit has none), else the
# nvidia-nccl-cu<major> wheel from PyPI into the build tree; without any, the NCCL parts are left out.
option(NVRAR_FETCH_NCCL "Install the nvidia-nccl wheel from PyPI into the build tree when nccl.h is not found" ON)
set(NVRAR_NCCL_WHEEL_VERSION "2.28.9" CACHE STRING "nvidia-nccl wheel the setup installs when nccl.h is not found")
nvrar_wheel_dir(nccl nccl_wheel)
set(nccl_hints "$ENV{NCCL_HOME}/include" "${nccl_wheel}/include" ${CUDAToolkit_INCLUDE_DIRS})
set(nccl_lib_hints "$ENV{NCCL_HOME}/lib" "${nccl_wheel}/lib" ${CUDAToolkit_LIBRARY_DIR})
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${nccl_hints})
if(NOT NCCL_INCLUDE_DIR AND NVRAR_FETCH_NCCL)
  set(deps "${CMAKE_BINARY_DIR}/_deps/nccl")
  nvrar_pip_install("nvidia-nccl-cu${cuda_major}==${NVRAR_NCCL_WHEEL_VERSION}" "${deps}" nvidia/nccl/include/nccl.h ok)
  if(ok)
    unset(NCCL_INCLUDE_DIR CACHE)
    find_path(NCCL_INCLUDE_DIR nccl.h PATHS "${deps}/nvidia/nccl/include" NO_DEFAULT_PATH)
    list(PREPEND nccl_lib_hints "${deps}/nvidia/nccl/lib")
  endif()
endif()
find_file(NCCL_LIBRARY_DEFAULT NAMES libnccl.so.2 HINTS ${nccl_lib_hints})
if(NCCL_INCLUDE_DIR)
  message(STATUS "nvrar: nccl.h in ${NCCL_INCLUDE_DIR}; default libnccl.so.2: ${NCCL_LIBRARY_DEFAULT}")
else()
  # A cached NOTFOUND would make find_path skip the search next time: clear it so a later configure looks again.
  unset(NCCL_INCLUDE_DIR CACHE)
  set(NCCL_INCLUDE_DIR "")
  message(STATUS "nvrar: nccl.h not found (NCCL_HOME, python3's nvidia-nccl wheel, the CUDA toolkit, PyPI): "
    "building without the NCCL drop-in and without nvrar_perf --compare nccl")
endif()
