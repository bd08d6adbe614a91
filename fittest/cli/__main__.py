"""``python -m fittest.cli``: the same as the ``fittest`` command."""

import sys

from fittest.cli import main

sys.exit(main())
