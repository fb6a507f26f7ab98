"""nbgrader course configuration for the freezing-layers course.

Run nbgrader from this folder (``cd autograder && nbgrader ...``) or through ``make``.
The instructors' master notebooks are ``solutions/`` (nbgrader's source directory) and the
learner copies are ``notebooks/`` (nbgrader's release directory). Everything nbgrader writes
while grading (submissions, autograded copies, feedback, the SQLite gradebook) goes under
one state folder, ``autograder/`` by default and kept out of git. Set ``FREEZELAB_GRADING_DIR``
to put that state elsewhere (the demo and the tests do, so they never touch a real class).
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821  (nbgrader injects get_config)

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = Path(os.environ.get("FREEZELAB_GRADING_DIR", Path(__file__).resolve().parent)).resolve()

c.CourseDirectory.course_id = "freezing-layers"
c.CourseDirectory.root = str(REPO_ROOT)
# The masters; FREEZELAB_SOURCE_DIR (set by Course.environment) points elsewhere only for a course
# that a test builds of its own, or for the tests' stock-nbgrader control.
SOURCE_DIR = Path(os.environ.get("FREEZELAB_SOURCE_DIR", REPO_ROOT / "solutions")).resolve()
c.CourseDirectory.source_directory = str(SOURCE_DIR)
c.CourseDirectory.release_directory = os.environ.get("FREEZELAB_RELEASE_DIR", "notebooks")
# Absolute step folders: nbgrader joins them onto the root, and an absolute path wins.
c.CourseDirectory.submitted_directory = str(STATE_DIR / "submitted")
c.CourseDirectory.autograded_directory = str(STATE_DIR / "autograded")
c.CourseDirectory.feedback_directory = str(STATE_DIR / "feedback")
c.CourseDirectory.db_url = f"sqlite:///{STATE_DIR / 'gradebook.db'}"

# Learners never receive the instructor's outputs.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# LMS downloads for `nbgrader zip_collect` sit in the state folder too (an absolute path wins).
c.ZipCollectApp.collect_directory_structure = str(STATE_DIR / "downloaded" / "{assignment_id}" / "{collect_step}")

# Hardened autograding and feedback (freezelab.grading.preprocessors; see autograder/README.md):
# structural changes to graded cells cost only the tasks they touch, a dying or wedged kernel costs
# only its cell, stderr warnings do not zero correct answers, and feedback never shows hidden tests.
# FREEZELAB_STOCK_NBGRADER=1 leaves nbgrader as it ships, for side-by-side comparisons only.
if os.environ.get("FREEZELAB_STOCK_NBGRADER") != "1":
    from freezelab.grading.preprocessors import harden

    harden(c, source_directory=SOURCE_DIR, state_directory=STATE_DIR)
