"""fittest: record, analyse and model the training dynamics of neural-network representations.

The toolkit ships three importable packages: :mod:`training` (torch, the modular-addition experiment),
:mod:`dynamics` (effective ODEs fitted to any trajectories in xarray) and :mod:`fittest` itself, which holds
the command line and the small pieces both share.
"""

from fittest.atomic import output_folder, write_atomic, write_netcdf
from fittest.errors import InputError
from fittest.progress import progress

__version__ = "0.1.0"

__all__ = ["InputError", "output_folder", "progress", "write_atomic", "write_netcdf", "__version__"]
