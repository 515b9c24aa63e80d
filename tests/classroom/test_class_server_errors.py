"""Does the class server refuse bad input with a message that says what to do, before starting anything?"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from mlops_course.classroom import accounts, answers, services, state_folder
from mlops_course.classroom import server as classserver
from mlops_course.classroom.limits import StudentLimits
from mlops_course.cli import main
from mlops_course.errors import ClassServerError

from ..conftest import ROOT


@pytest.mark.parametrize("name", ["Alice", "bob smith", "1student", "x" * 40, "élève", "ann;rm", ""])
def test_a_student_name_that_is_not_an_account_name_is_refused(name):
    """Is a name useradd would reject refused, with the rule spelled out?"""
    with pytest.raises(ClassServerError, match="cannot be a student's account name: use lower-case letters"):
        accounts.roster(names=[name])


def test_valid_names_become_prefixed_accounts():
    """Do roster names and counts become mc- accounts, without duplicates?"""
    assert accounts.roster(names=["alice", "bob-2"]) == ["mc-alice", "mc-bob-2"]
    assert accounts.roster(3) == ["mc-student01", "mc-student02", "mc-student03"]
    with pytest.raises(ClassServerError, match="twice: mc-alice"):
        accounts.roster(names=["alice", "mc-alice"])
    with pytest.raises(ClassServerError, match="at least one student"):
        accounts.roster(0)


def test_the_cli_prints_the_name_error_and_exits_1(capsys, tmp_path):
    """Does `mlops-course class-server start --student 'Bad Name'` print one clear line and exit 1?"""
    with pytest.raises(SystemExit) as exit_info:
        main(["--root", str(ROOT), "class-server", "start", "--student", "Bad Name", "--state", str(tmp_path)])
    assert exit_info.value.code == 1
    assert "'Bad Name' cannot be a student's account name" in capsys.readouterr().err


def test_a_postgresql_port_in_use_is_refused(tmp_path):
    """Is a PostgreSQL port that something already listens on refused, naming the port?"""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ClassServerError, match=f"PostgreSQL's port {port} is already in use"):
            classserver.start(ROOT, ["mc-student01"], tmp_path / "state", pg_port=port, log=lambda line: None)
    assert not (tmp_path / "state").exists(), "nothing may be created before the input is checked"


def test_a_missing_proxy_names_the_make_target(tmp_path, monkeypatch):
    """Without configurable-http-proxy, does the error say to run `make classroom`?"""
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ClassServerError, match=r"configurable-http-proxy .* not installed: run `make classroom`"):
        classserver.start(course, ["mc-student01"], tmp_path / "state", log=lambda line: None)


def test_a_second_start_while_one_runs_is_refused(tmp_path):
    """With a class server recorded as running in the state folder, is a second start refused?"""
    state = tmp_path / "state"
    state.mkdir()
    hub = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # stands for the running Hub
    try:
        state_folder.save_settings(state, _record(state, hub_pid=hub.pid, hub_port=1))
        with pytest.raises(ClassServerError, match="already running .* stop it first: mlops-course class-server stop"):
            classserver.start(ROOT, ["mc-student01"], state, log=lambda line: None)
    finally:
        hub.kill()
        hub.wait()


def test_status_of_a_folder_without_a_class_says_how_to_start_one(tmp_path):
    """Does `status` on an empty state folder say there is none and how to start one?"""
    assert "mlops-course class-server start --students N" in classserver.status(tmp_path)[0]


def test_a_runtime_folder_too_deep_for_kernels_unix_sockets_is_refused(monkeypatch, tmp_path):
    """Is a runtime folder whose kernel socket paths would pass 107 characters refused, and the default short enough?"""
    import os
    import pwd

    longest_uid = 2**32 - 1
    assert len(str(accounts.runtime_dir(longest_uid)) + accounts.IPC_SOCKET_NAME) <= accounts.SOCKET_PATH_MAX
    monkeypatch.setattr(accounts, "RUNTIME_BASE", tmp_path / ("x" * 60))
    with pytest.raises(ClassServerError, match="too long for kernels' Unix sockets"):
        accounts.ensure_runtime_dir(pwd.getpwuid(os.getuid()))
    assert not (tmp_path / ("x" * 60)).exists()


@pytest.fixture
def open_course():
    """A course folder every account can enter, with solutions/, autograder/ and its gradebook open to all."""
    import shutil
    import tempfile
    from pathlib import Path

    course = Path(tempfile.mkdtemp(prefix="mlops-course-open-", dir="/tmp"))  # not under pytest's private tmp
    course.chmod(0o755)
    (course / "solutions" / "lab01-scoping").mkdir(parents=True)
    (course / "solutions" / "lab01-scoping" / "lab01-scoping.ipynb").write_text("{}")
    (course / "autograder").mkdir()
    (course / "autograder" / "gradebook.db").write_text("")
    for path in (course / "solutions", course / "autograder"):
        path.chmod(0o755)
    yield course
    shutil.rmtree(course, ignore_errors=True)


def test_start_closes_solutions_and_hidden_tests_to_students(open_course, monkeypatch):
    """Are an open solutions/ and autograder/ closed to other accounts, reported once, and left closed?"""
    monkeypatch.delenv("MLOPS_COURSE_DB_URL", raising=False)
    assert answers.open_to_others(open_course / "solutions")
    closed = answers.close_answers(open_course)
    assert closed == [open_course / "solutions", open_course / "autograder"]
    for path in closed:
        assert path.stat().st_mode & 0o007 == 0, oct(path.stat().st_mode)
        assert not answers.open_to_others(path)
    assert answers.close_answers(open_course) == []


def test_a_gradebook_outside_autograder_is_closed_too(open_course, monkeypatch):
    """Is a SQLite gradebook named by $MLOPS_COURSE_DB_URL outside autograder/ treated as a copy to close?"""
    elsewhere = open_course / "grades.db"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    monkeypatch.setenv("MLOPS_COURSE_DB_URL", f"sqlite:///{elsewhere}")
    assert elsewhere in answers.close_answers(open_course)
    assert elsewhere.stat().st_mode & 0o007 == 0


def test_answers_that_cannot_be_closed_stop_the_start_with_the_command(open_course, monkeypatch):
    """When solutions/ cannot be closed, does start refuse, before creating anything, naming `chmod o-rwx`?"""
    from pathlib import Path

    monkeypatch.delenv("MLOPS_COURSE_DB_URL", raising=False)

    def refuse(self, mode):
        raise PermissionError(1, "Operation not permitted", str(self))

    monkeypatch.setattr(Path, "chmod", refuse)
    with pytest.raises(ClassServerError, match=r"could not be closed .*run `chmod o-rwx \S+/solutions \S+/autograder`"):
        answers.close_answers(open_course)
    if accounts.can_create_accounts() is None:  # start gets as far as the check only as root
        monkeypatch.setattr(services, "proxy_command", lambda root: "configurable-http-proxy")
        with pytest.raises(ClassServerError, match="chmod o-rwx"):
            classserver.start(open_course, ["mc-student01"], open_course / "state", log=lambda line: None)
        assert not (open_course / "state").exists(), "nothing may be created while the solutions are open"


def test_status_says_which_per_student_limits_hold_here(tmp_path):
    """Does `status` list the per-student limits, and say what is not enforced on a machine without control groups?"""
    record = _record(tmp_path, students=["mc-student01"], hub_port=1, mlflow_port=2, pg_port=3,
                     student_limits=StudentLimits(processes=512, memory_bytes=3 * 1024**3))
    state_folder.save_settings(tmp_path, record)
    without = "\n".join(classserver.status(tmp_path))
    assert "512 processes and threads per account" in without and "not enforced here" in without
    record.limits_mode = "v1"
    state_folder.save_settings(tmp_path, record)
    with_groups = "\n".join(classserver.status(tmp_path))
    assert "cgroup v1" in with_groups and "3.0 GiB of memory in all" in with_groups
    assert "not enforced" not in with_groups


def test_the_class_record_reads_back_as_it_was_written(tmp_path):
    """Does the record the Hub's configuration reads come back from its JSON field for field, paths and limits typed?"""
    record = _record(tmp_path, hub_pid=12, environment={"PATH": "/usr/bin"}, limits_mode="v2")
    state_folder.save_settings(tmp_path, record)
    assert state_folder.load_settings(tmp_path) == record
    assert (tmp_path / state_folder.SETTINGS_FILE).stat().st_mode & 0o077 == 0, "the record is root's alone"
    assert state_folder.load_settings(tmp_path / "elsewhere") is None


def _record(state, **fields) -> state_folder.ClassSettings:
    """A class's record as `start` writes it, with `fields` changed."""
    from pathlib import Path

    defaults = dict(state=Path(state), root=ROOT, students=[], instructor=accounts.INSTRUCTOR,
                    singleuser=Path("/usr/bin/jupyterhub-singleuser"), proxy_command="configurable-http-proxy",
                    runtime_base=accounts.RUNTIME_BASE, student_limits=StudentLimits(), limits_mode=None)
    return state_folder.ClassSettings(**{**defaults, **fields})
