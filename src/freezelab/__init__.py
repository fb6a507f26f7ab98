"""freezelab: the small library behind the freezing-layers course.

The notebooks stay thin: they call into this package for counting parameters, per-block
summaries, plots, the small data sets, timing, the quizzes and the grading pipeline.
"""

__version__ = "0.1.0"
