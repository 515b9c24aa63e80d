"""Shared helpers and the command-line tool of the MLOps course.

Labs import small, well-tested helpers from here (data loading, checks) so
that no logic is copied between notebooks; the instructor and learner tools
live here too. Nothing heavy happens at import time: submodules import their
own dependencies when they are used.
"""

__version__ = "0.1.0"
