"""nbgrader for an instructor's server on the class hub: the course's own configuration
(autograder/nbgrader_config.py: solutions/, the hardened autograder, the grading folder named by
FREEZELAB_GRADING_DIR), plus the class's exchange.

The course folder is ~/<course> (FREEZELAB_COURSE_ROOT, with a link to solutions/): formgrader works
only on a course inside the folder the server shows. Every other folder is absolute already."""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821
HUB = Path(__file__).resolve().parent.parent
load_subconfig(str(HUB.parent / "autograder" / "nbgrader_config.py"))  # noqa: F821
sys.path.insert(0, str(HUB))
from nbgrader_common import configure_exchange  # noqa: E402

configure_exchange(c)
if os.environ.get("FREEZELAB_COURSE_ROOT"):
    c.CourseDirectory.root = os.environ["FREEZELAB_COURSE_ROOT"]
