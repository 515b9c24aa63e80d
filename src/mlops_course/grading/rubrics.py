"""The rubric of each answer in words, shown beside the student's answer on the formgrader's grading page.

Rubrics live in `autograder/rubrics/<lab>.md`, one section per manually graded cell, headed
"## `grade_id` (points): ...". nbgrader's formgrader renders a submission with an nbconvert
`HTMLExporter`; `mlops-course formgrade` (and `make lab INSTRUCTOR=1`) add `RubricPreprocessor` to
it, which puts the cell's rubric section right after the answer as a Markdown cell. Only the
grading page gives the exporter a `submission_id`; feedback (nbgrader's `generate_feedback`, from
the command line or the formgrader's button) never does, so rubrics never reach a student.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell
from traitlets import Unicode

RUBRIC_DIR = Path("autograder") / "rubrics"
SECTION = re.compile(r"^## `([^`]+)`", re.M)
PREPROCESSOR = f"{__name__}.RubricPreprocessor"


def rubric_sections(text: str) -> dict[str, str]:
    """{grade_id: that cell's section of a rubric file}, each headed as the rubric of its answer."""
    found = {}
    starts = [m.start() for m in SECTION.finditer(text)] + [len(text)]
    for start, end in zip(starts, starts[1:]):
        section = text[start:end].strip()
        grade_id = SECTION.match(section).group(1)
        found[grade_id] = "#### Rubric: " + section.removeprefix("## ")
    return found


def with_rubrics(nb: NotebookNode, rubric: dict[str, str]) -> NotebookNode:
    """The notebook with each manually graded cell followed by its rubric section, where it has one."""
    cells = []
    for cell in nb.cells:
        cells.append(cell)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id") in rubric:
            cells.append(new_markdown_cell(rubric[meta["grade_id"]], metadata={"rubric": True}))
    nb.cells = cells
    return nb


class RubricPreprocessor(Preprocessor):
    """Adds each answer's rubric on the formgrader's grading page, and nowhere else."""

    rubric_dir = Unicode(str(RUBRIC_DIR), help="The folder of the rubrics, <lab>.md each "
                         "(relative to the server's working folder, the course)").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        if not resources.get("submission_id"):  # only the grading page renders a submission by its id
            return nb, resources
        path = Path(self.rubric_dir) / f"{resources.get('assignment_id')}.md"
        if path.is_file():
            nb = with_rubrics(nb, rubric_sections(path.read_text(encoding="utf-8")))
        return nb, resources


def server_options(root: Path) -> list[str]:
    """The Jupyter server options that show the course's rubrics on the formgrader's grading page."""
    return [f"--HTMLExporter.preprocessors={[PREPROCESSOR]!r}",
            f"--RubricPreprocessor.rubric_dir={Path(root).resolve() / RUBRIC_DIR}"]
