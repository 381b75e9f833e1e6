# Cross-compiling vdevkit for aarch64 on a Debian x86-64 host (docs/arm64.md):
#   scripts/install-cross-deps.sh    # gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, arm64 libfdt
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
#         -DVDEVKIT_TESTS=OFF
#   cmake --build build-aarch64
# libfdt for arm64 comes from Debian's libfdt-dev:arm64 unpacked into a sysroot folder
# (VDEVKIT_ARM64_SYSROOT, default .cache/arm64-sysroot beside this file's parent); the C
# library from /usr/aarch64-linux-gnu (libc6-dev-arm64-cross).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)

if(NOT DEFINED VDEVKIT_ARM64_SYSROOT)
  if(DEFINED ENV{VDEVKIT_ARM64_SYSROOT})
    set(VDEVKIT_ARM64_SYSROOT "$ENV{VDEVKIT_ARM64_SYSROOT}")
  else()
    get_filename_component(VDEVKIT_ARM64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../.cache/arm64-sysroot"
                           ABSOLUTE)
  endif()
endif()
# try_compile projects see the same folder.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES VDEVKIT_ARM64_SYSROOT)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu "${VDEVKIT_ARM64_SYSROOT}")
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Shared libraries of the sysroot resolve at link time (libfdt.so -> libfdt.so.1).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${VDEVKIT_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${VDEVKIT_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
