"""Feedback for students: nbgrader's HTML feedback, without the hidden tests.

nbgrader's feedback shows each test cell as it ran, hidden tests included
(by design: nbgrader issues #917 and #1363), and a failed hidden assertion's
traceback quotes the hidden line. Students must not see them, or the next
class can hard-code the answers. `HideHiddenTests` runs inside nbgrader's
generate_feedback and replaces the hidden part of each test cell with a note,
and the error of a failed hidden test with a message that says only that.
"""

from __future__ import annotations

import re
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from .autograde import submitted_students
from .course import load_config, open_api, require_success
from .errors import GradingError
from .layout import resolve_labs
from .release import HIDDEN_TEST_MARKERS

HIDDEN_BLOCK = re.compile(rf"[ \t]*{re.escape(HIDDEN_TEST_MARKERS[0])}.*?{re.escape(HIDDEN_TEST_MARKERS[1])}[^\n]*", re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN_NOTE = "# (hidden tests: they check your answer on cases you have not seen; not shown)"
HIDDEN_FAILURE = "a hidden test failed: your answer does not work on cases you have not seen (data from other months, edge cases)"


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests, and any error output quoting them, from a graded notebook."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or HIDDEN_TEST_MARKERS[0] not in cell.source:
            return cell, resources
        hidden = [line.strip() for block in HIDDEN_BLOCK.findall(cell.source) for line in block.splitlines()[1:-1]]
        hidden = [line for line in hidden if len(line) > 3]
        cell.source = HIDDEN_BLOCK.sub(HIDDEN_NOTE, cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            shown = ANSI.sub("", "\n".join(output.get("traceback", [])) + "\n" + str(output.get("evalue", "")))
            if any(line in shown for line in hidden):
                output.evalue = HIDDEN_FAILURE
                output.traceback = [f"{output.get('ename', 'Error')}: {HIDDEN_FAILURE}"]
        return cell, resources


def generate_feedback(root: Path, lab: str | None = None, student: str | None = None, db_url: str | None = None) -> list[Path]:
    """HTML feedback for every graded submission of `lab` (or every lab), or one student's; returns the files."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    api = open_api(root, db_url, **{"GenerateFeedback.preprocessors": [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]})
    cd = load_config(root, db_url).CourseDirectory
    written = []
    for name in resolve_labs(root, lab):
        for who in submitted_students(root, name):
            if student and who != student:
                continue
            if not (Path(root) / cd.autograded_directory / who / name).is_dir():
                continue
            require_success(api.generate_feedback(name, who, force=True), f"feedback for '{who}' on '{name}'", GradingError)
            written += sorted((Path(root) / cd.feedback_directory / who / name).glob("*.html"))
    return written
