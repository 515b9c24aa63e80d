"""Does the class server refuse bad input with a message that says what to do, before starting anything?"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from mlops_course import classserver
from mlops_course.cli import main
from mlops_course.errors import ClassServerError

from .conftest import ROOT


@pytest.mark.parametrize("name", ["Alice", "bob smith", "1student", "x" * 40, "élève", "ann;rm", ""])
def test_a_student_name_that_is_not_an_account_name_is_refused(name):
    """Is a name useradd would reject refused, with the rule spelled out?"""
    with pytest.raises(ClassServerError, match="cannot be a student's account name: use lower-case letters"):
        classserver.roster(names=[name])


def test_valid_names_become_prefixed_accounts():
    """Do roster names and counts become mc- accounts, without duplicates?"""
    assert classserver.roster(names=["alice", "bob-2"]) == ["mc-alice", "mc-bob-2"]
    assert classserver.roster(3) == ["mc-student01", "mc-student02", "mc-student03"]
    with pytest.raises(ClassServerError, match="twice: mc-alice"):
        classserver.roster(names=["alice", "mc-alice"])
    with pytest.raises(ClassServerError, match="at least one student"):
        classserver.roster(0)


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
        (state / classserver.SETTINGS_FILE).write_text(json.dumps({"hub_pid": hub.pid, "hub_port": 1, "students": []}))
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
    assert len(str(classserver.runtime_dir(longest_uid)) + classserver.IPC_SOCKET_NAME) <= classserver.SOCKET_PATH_MAX
    monkeypatch.setattr(classserver, "RUNTIME_BASE", tmp_path / ("x" * 60))
    with pytest.raises(ClassServerError, match="too long for kernels' Unix sockets"):
        classserver.ensure_runtime_dir(pwd.getpwuid(os.getuid()))
    assert not (tmp_path / ("x" * 60)).exists()
