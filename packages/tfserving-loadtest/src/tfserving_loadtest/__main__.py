"""`python -m tfserving_loadtest`: the same as the tfserving-loadtest command."""

import sys

from .cli import main

sys.exit(main())
