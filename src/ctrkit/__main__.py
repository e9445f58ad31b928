"""``python -m ctrkit``: the command line (``ctrkit.cli``)."""
import sys

from .cli import main

sys.exit(main())
