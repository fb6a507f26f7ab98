"""Grading the course with nbgrader: hardened preprocessors, the instructor's pipeline, the demo.

``python -m freezelab.grading all`` takes collected submissions to grades, feedback, CSV files and a
summary plot; ``python -m freezelab.grading check NOTEBOOK`` grades one notebook without a class.
See ``autograder/README.md`` for the instructor's guide.
"""
