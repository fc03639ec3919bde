"""``python -m p3mask`` runs the command-line interface."""

import sys

from p3mask.cli.main import main

sys.exit(main())
