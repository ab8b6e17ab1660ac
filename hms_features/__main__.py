"""``python -m hms_features`` runs the ``hms-features`` command."""

import sys

from .cli import main

sys.exit(main())
