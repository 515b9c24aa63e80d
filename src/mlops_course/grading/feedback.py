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
import shutil
import tempfile
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

from mlops_course.course.config import GRADING_DIR, load_config
from mlops_course.grading.nbgrader_api import open_api, require_success
from mlops_course.course.layout import resolve_labs
from mlops_course.errors import GradingError
from mlops_course.grading.plan import submitted_students
from mlops_course.grading.gradebook import require_gradebook
from mlops_course.course.notebooks import HIDDEN_TEST_MARKERS

HIDDEN_BLOCK = re.compile(rf"[ \t]*{re.escape(HIDDEN_TEST_MARKERS[0])}.*?{re.escape(HIDDEN_TEST_MARKERS[1])}[^\n]*", re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython's name for the frame of the cell being run: "Cell In[7], line 4" (IPython >= 8), "Input In [7], line 4".
CELL_FRAME = re.compile(r"(?:Cell In|Input In) ?\[\s*\d*\]\s*,? line (\d+)")
HIDDEN_NOTE = "# (hidden tests: they check your answer on cases you have not seen; not shown)"
HIDDEN_FAILURE = "a hidden test failed: your answer does not work on cases you have not seen (data from other months, edge cases)"


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests, and any error output quoting them, from a graded notebook.

    A failure is hidden when the line that raised is in a hidden block (IPython names it:
    "Cell In[7], line 4"); then its message is replaced. A visible failure keeps its message,
    and only the lines of its traceback that quote a hidden line or a marker are removed.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not utils.is_grade(cell) or HIDDEN_TEST_MARKERS[0] not in cell.source:
            return cell, resources
        hidden_lines = _hidden_line_numbers(cell.source)
        hidden = [line.strip() for block in HIDDEN_BLOCK.findall(cell.source) for line in block.splitlines()[1:-1]]
        hidden = [line for line in hidden if len(line) > 3]
        cell.source = HIDDEN_BLOCK.sub(HIDDEN_NOTE, cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            if _raised_in_hidden_test(output, hidden, hidden_lines):
                output.evalue = HIDDEN_FAILURE
                output.traceback = [f"{output.get('ename', 'Error')}: {HIDDEN_FAILURE}"]
            else:
                output.traceback = [_without_lines_quoting(entry, hidden) for entry in output.get("traceback", [])]
        return cell, resources


def _hidden_line_numbers(source: str) -> set[int]:
    """The numbers (from 1) of the source lines inside hidden-test blocks, markers included."""
    numbers, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if HIDDEN_TEST_MARKERS[0] in line:
            inside = True
        if inside:
            numbers.add(number)
        if HIDDEN_TEST_MARKERS[1] in line:
            inside = False
    return numbers


def _raised_in_hidden_test(output, hidden: list[str], hidden_lines: set[int]) -> bool:
    """Did the test cell's line that raised lie in a hidden block? Unsure (no line named): any hidden line quoted."""
    entries = [ANSI.sub("", entry) for entry in output.get("traceback", [])]
    for entry in entries:
        frame = CELL_FRAME.search(entry)
        if frame:  # the first frame is the test cell's own (later ones are the learner's functions)
            return int(frame.group(1)) in hidden_lines
    shown = "\n".join(entries) + "\n" + str(output.get("evalue", ""))
    return any(line in shown for line in hidden)


def _without_lines_quoting(entry: str, hidden: list[str]) -> str:
    """A traceback entry without its lines that show a hidden line or a marker (context lines around the error)."""
    kept = [line for line in entry.split("\n")
            if not any(h in ANSI.sub("", line) for h in (*hidden, *HIDDEN_TEST_MARKERS))]
    return "\n".join(kept)


PENDING_NOTE = "**Not graded yet:** this answer is graded by hand; the score shown here is not final until it is."


class GetGradesMarkingPending(GetGrades):
    """nbgrader's GetGrades, which also says on the page when an answer still waits for manual grading.

    nbgrader's feedback shows such an answer as "Score: 0.0 / 2.0", like a wrong one; the
    note in its comment tells the student the score is provisional.
    """

    def _get_score(self, cell, resources) -> None:
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        if grade.needs_manual_grade:
            earlier = cell.metadata["nbgrader"].get("comment")
            cell.metadata["nbgrader"]["comment"] = "\n\n".join(filter(None, [PENDING_NOTE, earlier]))


def generate_feedback(root: Path, lab: str | None = None, student: str | list[str] | None = None,
                      db_url: str | None = None) -> list[Path]:
    """HTML feedback for every graded submission of `lab` (or every lab), or one student's (or a few); returns the files.

    nbgrader deletes a student's feedback folder when it fails to write it ("Removing
    failed assignment"), so each page is written into a scratch folder first and only a
    complete one replaces the folder: a failure leaves the earlier feedback as it was.
    """
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

    root = Path(root).resolve()
    cd = load_config(root, db_url).CourseDirectory
    require_gradebook(str(cd.db_url))
    feedback_dir = root / cd.feedback_directory
    scratch_parent = root / GRADING_DIR / "work"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="feedback-", dir=scratch_parent) as scratch:
        preprocessors = [GetGradesMarkingPending, HideHiddenTests, CSSHTMLHeaderPreprocessor]
        api = open_api(root, db_url, **{"GenerateFeedback.preprocessors": preprocessors,
                                        "CourseDirectory.feedback_directory": scratch})
        for name in resolve_labs(root, lab):
            for who in submitted_students(root, name):
                if student and who not in ([student] if isinstance(student, str) else student):
                    continue
                if not (root / cd.autograded_directory / who / name).is_dir():
                    continue
                require_success(api.generate_feedback(name, who, force=True), f"feedback for '{who}' on '{name}'", GradingError)
                written += _replace_folder(Path(scratch) / who / name, feedback_dir / who / name)
    return written


def _replace_folder(new: Path, dest: Path) -> list[Path]:
    """Put the complete folder `new` in place of `dest`; returns its HTML pages."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(dest.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    shutil.move(str(new), str(dest))
    shutil.rmtree(old, ignore_errors=True)
    return sorted(dest.glob("*.html"))
