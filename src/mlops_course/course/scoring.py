"""How the course scores a cell: by its errors alone. stderr stays visible but is not an error.

nbgrader scores a test cell zero for any stderr output. The course's grader, `validate` and the
shared-prefix proofs all apply this one rule instead (`course.config.cell_passes` states it), so a
warning, MLflow's log lines or a learner's own message to stderr cost nothing anywhere.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor


def stderr_not_scored(cell: NotebookNode) -> NotebookNode:
    """Turn the cell's stderr outputs into stdout ones, text unchanged.

    nbgrader scores a test cell zero for any stderr output, while the course
    judges by errors alone (`mlops_course.course.config.cell_passes`): a warning of any
    class, MLflow's log lines or a learner's own message to stderr cost nothing,
    and the learner still reads them in the feedback.
    """
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            output["name"] = "stdout"
    return cell


class StderrIsNotAnError(NbGraderPreprocessor):
    """After execution, before scoring: stderr stays visible but costs no points (`stderr_not_scored`)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            stderr_not_scored(cell)
        return cell, resources
