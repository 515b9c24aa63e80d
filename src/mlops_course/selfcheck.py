"""`from mlops_course.selfcheck import check`: the self-check every lab notebook imports.

The self-check lives in `mlops_course.learner.selfcheck`; this name stays so that no
learner's notebook (released ones included) breaks.
"""

from mlops_course.learner.selfcheck import check

__all__ = ["check"]
