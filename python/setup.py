# SPDX-License-Identifier: Apache-2.0
"""Builds grndpool._grndpool against libgrndpool.

Where the library comes from, first match wins:
  GRNDPOOL_BUILD_DIR=<cmake build dir>   an in-tree build: headers from the source
                                         tree it was configured from, libgrndpool.so
                                         from <build>/lib, found at run time by RPATH
  pkg-config grndpool                    an installed library (cmake --install, or
                                         Debian's libgrndpool-dev)
  neither                                the compiler's default paths
A bad GRNDPOOL_BUILD_DIR stops the build with one line saying what is missing.
"""
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup


def fail(message):
    sys.exit(f"grndpool setup.py: {message}")


def from_build_dir(build):
    cache = os.path.join(build, "CMakeCache.txt")
    if not os.path.isfile(cache):
        fail(f"GRNDPOOL_BUILD_DIR={build} has no CMakeCache.txt (not a CMake build dir)")
    with open(cache, encoding="utf-8") as f:
        match = re.search(r"^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$", f.read(), re.M)
    source = match.group(1) if match else ""
    include = os.path.join(source, "include")
    lib = os.path.join(os.path.abspath(build), "lib")
    if not os.path.isfile(os.path.join(include, "grndpool", "grndpool.h")):
        fail(f"no include/grndpool/grndpool.h in the source dir of {build} ({source!r})")
    if not os.path.exists(os.path.join(lib, "libgrndpool.so")):
        fail(f"no libgrndpool.so in {lib}: build the library first (cmake --build {build})")
    return {"include_dirs": [include], "library_dirs": [lib], "runtime_library_dirs": [lib]}


def from_pkg_config():
    if shutil.which("pkg-config") is None:
        return {}
    try:
        cflags = subprocess.run(["pkg-config", "--cflags-only-I", "grndpool"], check=True,
                                capture_output=True, text=True).stdout.split()
        libs = subprocess.run(["pkg-config", "--libs-only-L", "grndpool"], check=True,
                              capture_output=True, text=True).stdout.split()
    except subprocess.CalledProcessError:
        return {}
    return {"include_dirs": [f[2:] for f in cflags], "library_dirs": [f[2:] for f in libs]}


build_dir = os.environ.get("GRNDPOOL_BUILD_DIR")
where = from_build_dir(build_dir) if build_dir else from_pkg_config()

setup(ext_modules=[
    Extension(
        "grndpool._grndpool",
        sources=["src/grndpool/_grndpool.c"],
        libraries=["grndpool"],
        extra_compile_args=["-O2", "-Wall", "-Wextra"],
        **where,
    )
])
