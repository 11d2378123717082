# SPDX-License-Identifier: Apache-2.0
# Cross-compiling for arm64 with Debian's cross toolchain (g++-aarch64-linux-gnu)
# against Debian's arm64 libraries installed through multiarch
# (dpkg --add-architecture arm64; apt-get install libssl-dev:arm64
# liburcu-dev:arm64 libgtest-dev:arm64): headers in /usr/include and
# /usr/include/aarch64-linux-gnu, libraries in /usr/lib/aarch64-linux-gnu.
# kernel/qemu/arm64-tests.sh installs them and uses this file (preset "arm64").
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Makes find_library/find_package look in /usr/lib/aarch64-linux-gnu (and
# only there among the multiarch directories).
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# pkg-config: the arm64 .pc files only (liburcu-bp).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
