"""prestage's PEP 517 build backend: CMake builds the daemon, the standard library writes the wheel.

pyproject.toml names it with `backend-path`, so `pip install --no-build-isolation .` needs neither
setuptools nor wheel. config_settings (`pip ... --config-settings key=value`):
    build-dir=PATH   keep the CMake build dir there (incremental rebuilds) instead of a temporary one
Environment: CMAKE_ARGS (extra configure arguments, e.g. -DCMAKE_BUILD_TYPE=Debug), and whatever
CMake itself reads: CMAKE_GENERATOR, CMAKE_BUILD_PARALLEL_LEVEL, CMAKE_CXX_COMPILER_LAUNCHER, CXX ..."""
from ._hooks import (  # noqa: F401 - the PEP 517 hook names
    build_sdist,
    build_wheel,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel,
)
