"""Does a background run take only the CPU time other work leaves, without slowing the process that started it?"""

from __future__ import annotations

import os
import subprocess
import sys

from mlops_course.course import background

REPORT = ("import os; from mlops_course.course import background; background.yield_the_cpu(); "
          "print(os.nice(0), background.session_niceness())")


def test_a_run_in_a_session_of_its_own_makes_its_session_nice():
    """Does a process that leads its own session run nice, its session (autogroup) nice too?"""
    done = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True,
                          start_new_session=True)
    niceness, group = done.stdout.split()
    assert int(niceness) == max(background.NICENESS, os.nice(0))
    if group != "None":  # Linux with autogroup scheduling
        assert int(group) == background.NICENESS


def test_a_run_in_its_callers_session_leaves_the_session_alone():
    """Does a process that shares its caller's session become nice itself, and leave the caller's priority as it was?"""
    before = str(background.session_niceness())
    done = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True)
    niceness, group = done.stdout.split()
    assert int(niceness) == max(background.NICENESS, os.nice(0))
    assert group == before == str(background.session_niceness()), "the caller's session must keep its priority"


def test_an_empty_autogroup_file_means_no_session_scheduling(monkeypatch):
    """Does a kernel whose autogroup file reads empty (as on some CI machines) count as one without sessions?"""
    monkeypatch.setattr(background.Path, "read_text", lambda self: "")
    assert background.session_niceness() is None
