"""Run cdfs as ``python -m cdfs``."""

import sys

from .cli import main

sys.exit(main())
