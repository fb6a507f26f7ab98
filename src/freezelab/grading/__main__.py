"""``python -m freezelab.grading``: see :mod:`freezelab.grading.cli`."""

import sys

from freezelab.grading.cli import main

sys.exit(main())
