"""fittest: record, analyse and model the training dynamics of neural-network representations.

The toolkit ships three importable packages: :mod:`training` (torch, the modular-addition experiment),
:mod:`dynamics` (effective ODEs fitted to any trajectories in xarray) and :mod:`fittest` itself, which holds
the command line and the small pieces both share.
"""

from importlib.metadata import PackageNotFoundError, version

from fittest.atomic import output_folder, write_atomic, write_netcdf
from fittest.errors import InputError
from fittest.progress import progress

try:
    __version__ = version("fittest")  # the one source: pyproject.toml, as installed
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["InputError", "output_folder", "progress", "write_atomic", "write_netcdf", "__version__"]
