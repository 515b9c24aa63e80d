"""Does `mlops-course formgrade` serve nbgrader's formgrader on the course's gradebook? (issue #20, item 8)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from mlops_course.serving import free_port, stop_group

from .. import nbfactory as nbf
from ..conftest import assert_one_line_failure, cli

LAB = nbf.TOY_LAB
TOKEN = "formgrade-test-token"


def api(port: int, path: str):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/{path}",
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def page(port: int, path: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode("utf-8")


RUBRIC = "## `why` (2 points): why doubling is linear\n\n| Points | The answer… |\n| --- | --- |\n| 2 | names RUBRIC-LINE-LINEARITY |\n"


def test_does_formgrade_serve_the_gradebook_named_by_db_url(tmp_path):
    """Started with --db-url on a gradebook outside the course, does the formgrader list that gradebook's
    submissions (2 for the toy lab), show the answer in words with its rubric on the grading page (and the
    feedback it generates without it), and is a missing gradebook one line instead?"""
    course, _ = nbf.graded_toy_class(tmp_path / "course")
    (course / "autograder" / "rubrics").mkdir(parents=True, exist_ok=True)
    (course / "autograder" / "rubrics" / f"{LAB}.md").write_text(f"# Lab 99: rubric\n\n{RUBRIC}")
    elsewhere = tmp_path / "elsewhere.db"
    shutil.move(course / "autograder" / "gradebook.db", elsewhere)
    assert_one_line_failure(cli(course, "formgrade", "--port", "1"), "no gradebook at")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlops_course", "--root", str(course), "formgrade", "--port", str(port),
                               "--db-url", f"sqlite:///{elsewhere}", "--", f"--IdentityProvider.token={TOKEN}"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, found = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                found = {a["name"]: a for a in api(port, "assignments")}
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        if found is None:
            server.kill()
            raise AssertionError(f"the formgrader did not answer (exit {server.poll()}):\n{server.communicate()[0][-3000:]}")
        assert found[LAB]["num_submissions"] == 2
        assert sorted(s["student"] for s in api(port, f"submissions/{LAB}")) == ["ana", "bo"]
        ana = next(n for n in api(port, f"submitted_notebooks/{LAB}/{LAB}") if n["student"] == "ana")
        grading_page = page(port, f"/formgrader/submissions/{ana['id']}/")
        assert "Because doubling is linear." in grading_page and "RUBRIC-LINE-LINEARITY" in grading_page, \
            "the grading page should show the answer in words and its rubric"
        assert grading_page.index("Because doubling is linear.") < grading_page.index("RUBRIC-LINE-LINEARITY")
        generate = urllib.request.Request(f"http://127.0.0.1:{port}/formgrader/api/assignment/{LAB}/ana/generate_feedback",
                                          method="POST", data=b"", headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(generate, timeout=120) as response:
            assert json.loads(response.read())["success"], "the formgrader's feedback button failed"
        feedback = (course / "autograder" / "feedback" / "ana" / LAB / f"{LAB}.html").read_text()
        assert "Because doubling is linear." in feedback and "RUBRIC-LINE-LINEARITY" not in feedback, \
            "a student's feedback must not show the rubric"
    finally:
        stop_group(server, grace=30)


def test_the_instructors_jupyterlab_configuration_ships_with_the_package():
    """Are the files that show nbgrader's instructor tools again where formgrade and `make lab INSTRUCTOR=1` look?"""
    from mlops_course.grading.formgrade import INSTRUCTOR_LAB_CONFIG

    for name in ("labconfig/page_config.json", "jupyter_server_config.json"):
        assert (INSTRUCTOR_LAB_CONFIG / name).is_file(), f"{INSTRUCTOR_LAB_CONFIG / name} is missing"
