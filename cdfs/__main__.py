"""Run cdfs as ``python -m cdfs``."""

import sys

from cdfs.cli import main

sys.exit(main())
