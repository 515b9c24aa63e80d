"""Does the grading sandbox say what it enforces, warn about what it cannot, and still grade without bubblewrap?"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_course.grading import autograde
from mlops_course.grading import nbgrader_runs as grading
from mlops_course.course import notebooks
from mlops_course.course.layout import source_notebook
from mlops_course.grading.sandbox import Limits, Sandbox

from ..conftest import ROOT, copy_course, lab_points

LAB = "lab01-scoping"


def test_without_bubblewrap_the_warning_names_what_is_lost():
    """Without bwrap, does the warning say the solutions and gradebook are readable, and how to install it?"""
    warnings = " ".join(Sandbox.detect(missing=("bwrap",)).warnings())
    assert "solutions/" in warnings and "gradebook" in warnings and "apt-get install bubblewrap" in warnings


def test_without_any_tool_every_gap_is_named():
    """With no tool at all, are the missing network, memory and process limits each named?"""
    sandbox = Sandbox.detect(missing=("bwrap", "prlimit", "setpriv", "unshare"))
    text = " ".join(sandbox.warnings())
    assert "network" in text and "prlimit" in text
    assert sandbox.command(["python"], workdir=Path("/x"), runtime_dir=Path("/y"), uid=None, limits=Limits()) == ["python"]


def test_command_binds_only_what_the_kernel_needs(tmp_path):
    """Does the bubblewrap command bind the working copy read-write, and never the course's solutions/?"""
    sandbox = Sandbox(tools={"bwrap": "/usr/bin/bwrap", "prlimit": "/usr/bin/prlimit", "setpriv": "/usr/bin/setpriv"}, is_root=True)
    cmd = sandbox.command(["python"], workdir=tmp_path / "work", runtime_dir=tmp_path / "rt", uid=61000, limits=Limits())
    joined = " ".join(cmd)
    assert f"--bind {tmp_path / 'work'} {tmp_path / 'work'}" in joined and "--unshare-net" in joined
    assert "--nproc=128" in joined and "--reuid=61000" in joined
    assert str(ROOT / "solutions") not in joined and " --bind / " not in joined


@pytest.mark.slow
def test_grading_goes_on_without_bubblewrap(tmp_path):
    """Pretending bwrap is missing, does autograde warn once and still grade the solution with full marks?"""
    course = copy_course(tmp_path / "course", [LAB])
    grading.submit(course, LAB, "ana", {LAB: notebooks.with_parameters(notebooks.read(source_notebook(course, LAB)), notebooks.CI_PARAMETERS)})
    warned = []
    results = autograde.autograde(course, LAB, jobs=1, progress=False, missing_tools=("bwrap",), warn=warned.append)
    assert any("bubblewrap (bwrap) is not available" in w for w in warned)
    automatic, _ = lab_points(LAB, course)
    assert [(r.student, r.score, r.status) for r in results] == [("ana", automatic, "graded")]


def test_sandbox_command_reports(tmp_path):
    """Does `mlops-course sandbox` list the protections in force?"""
    result = subprocess.run([sys.executable, "-m", "mlops_course", "sandbox"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "time limit per cell" in result.stdout


def test_kernels_get_a_built_font_list(tmp_path):
    """Does a sandboxed kernel start with matplotlib's font list already built, in a folder of its own?"""
    import asyncio

    from mlops_course.grading.sandbox import SandboxedKernelManager, warm_matplotlib_cache

    fonts = warm_matplotlib_cache(tmp_path / "fonts")
    assert fonts is not None and list(fonts.glob("fontlist-*.json")), "the font list was not built"
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    manager = SandboxedKernelManager(kernel_name="mlops-course", runtime_dir=str(runtime), matplotlib_cache=str(fonts))
    _, kw = asyncio.run(manager._async_pre_start_kernel(cwd=str(tmp_path)))
    own = Path(kw["env"]["MPLCONFIGDIR"])
    assert own == runtime / "matplotlib" and list(own.glob("fontlist-*.json"))


def test_a_grading_process_builds_its_font_list_once():
    """Do the batches of one process share one built font list, built again only if it was removed?"""
    from mlops_course.grading.sandbox import process_matplotlib_cache

    first = process_matplotlib_cache()
    assert first is not None and list(first.glob("fontlist-*.json")), "the font list was not built"
    assert process_matplotlib_cache() == first, "a second batch built the font list again"
    shutil.rmtree(first)
    again = process_matplotlib_cache()
    assert again is not None and again != first and list(again.glob("fontlist-*.json"))


@pytest.mark.parametrize(("threads", "expected"), [(1, "1"), (0, None)])
def test_kernels_get_their_share_of_threads(tmp_path, threads, expected):
    """Is a kernel's OpenMP and BLAS thread count set when the batch gives one, and left alone otherwise?"""
    import asyncio

    from mlops_course.grading.sandbox import THREAD_VARIABLES, SandboxedKernelManager

    runtime = tmp_path / "runtime"
    runtime.mkdir()
    manager = SandboxedKernelManager(kernel_name="mlops-course", runtime_dir=str(runtime), threads=threads)
    _, kw = asyncio.run(manager._async_pre_start_kernel(cwd=str(tmp_path)))
    assert [kw["env"].get(name) for name in THREAD_VARIABLES] == [expected] * len(THREAD_VARIABLES)


def test_a_batch_gives_each_kernel_its_share_of_the_cores(tmp_path, monkeypatch):
    """With two jobs on two cores, does each grading kernel get one thread (one job: both cores)?"""
    seen = []
    monkeypatch.setattr(autograde, "default_jobs", lambda: 2)
    monkeypatch.setattr(autograde, "plan_jobs", lambda *args: [])
    monkeypatch.setattr(autograde, "_run", lambda course, queue, jobs, limits, *rest: seen.append(limits.threads) or [])
    course = copy_course(tmp_path / "course", [LAB])
    for jobs in (2, 1):
        autograde.autograde(course, LAB, jobs=jobs, progress=False, warn=lambda message: None)
    assert seen == [1, 2]


def test_the_kernels_user_reads_the_bound_etc_files_and_nothing_else(tmp_path):
    """As the sandbox's own user: are the certificates and time zone bound from /etc readable, and /etc/shadow absent?"""
    from mlops_course.grading.sandbox import FIRST_SANDBOX_UID, kernel_environment

    sandbox = Sandbox.detect()
    if not sandbox.separate_user:
        pytest.skip("running the kernel as a user of its own needs root, bubblewrap and setpriv")
    for folder in ("work", "runtime"):
        (tmp_path / folder).mkdir()
    code = ("import os, ssl; print(ssl.get_default_verify_paths().cafile is not None, os.path.exists('/etc/localtime'), "
            "os.path.exists('/etc/shadow'), os.path.exists('/etc/gitconfig'))")
    cmd = sandbox.command([sys.executable, "-c", code], workdir=tmp_path / "work", runtime_dir=tmp_path / "runtime",
                          uid=FIRST_SANDBOX_UID, limits=Limits())
    done = subprocess.run(cmd, capture_output=True, text=True, env=kernel_environment(), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    certificates, localtime, shadow, gitconfig = done.stdout.split()
    assert (certificates, localtime) == ("True", "True"), "the kernel cannot read what the sandbox binds from /etc"
    assert (shadow, gitconfig) == ("False", "False")


def test_batches_graded_at_the_same_time_get_different_user_ids(tmp_path):
    """Do two batches running at once get blocks of user ids of their own, and is a finished batch's block reused?"""
    from mlops_course.grading.sandbox import FIRST_SANDBOX_UID, UIDS_PER_BATCH, reserved_uids

    with reserved_uids(tmp_path) as first, reserved_uids(tmp_path) as second:
        assert first == FIRST_SANDBOX_UID
        assert second == FIRST_SANDBOX_UID + UIDS_PER_BATCH, "the second batch must not share the first one's ids"
    with reserved_uids(tmp_path) as again:
        assert again == FIRST_SANDBOX_UID, "a finished batch's block should be free again"
