"""``python -m vlakit`` runs the command line."""

import sys

from vlakit.cli.main import main

sys.exit(main())
