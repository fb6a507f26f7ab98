"""nbgrader for a learner's server on the class hub: the course and its exchange, nothing else
(no gradebook, no solutions: a learner's server has no access to either)."""

import sys
from pathlib import Path

c = get_config()  # noqa: F821
HUB = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HUB))
from nbgrader_common import configure_exchange  # noqa: E402

configure_exchange(c)
