"""Proving wrong answers on a shared prefix: the graded notebook runs once, each wrong answer in a fork of it.

Real grading of a simulated mistake re-runs the whole lab up to the test cells the mistake should
fail: for Lab 06, 40 s of kernel time per wrong answer, most of it the same solution cells every
time. This route pays for those cells once:

1. One Python process runs the graded notebook (the solution with its hidden tests, as nbgrader
   grades it) cell by cell with IPython's shell, in a copy of the lab folder.
2. Just before an answer cell that some wrong answers replace, it forks. The child runs the wrong
   answer instead, then every cell after it up to the last test cell the wrong answer names, and
   judges each test cell it ran the way the grader does (below). It writes the scores and exits.
3. The parent puts the lab folder back as it was at the fork (the child ran in it; absolute paths
   in the kernel's state point there) and goes on with the solution.

Why the verdicts are the grader's: memory is the fork's copy of the kernel at exactly that cell;
files are restored in place, so the parent's open handles (an MLflow SQLite store) see the bytes
they knew; the outputs are collected as the kernel would send them (stdout and stderr from Python
and from the file descriptors, errors, the last expression's value) and judged by the grader's
own rules: each cell's streams merged (`GuardedExecute.coalesce_streams`), stderr kept but not
scored (`course.scoring.stderr_not_scored`), then nbgrader's `determine_grade`. What this route does not re-prove is the
plumbing (the sandbox, the tamper check, the gradebook): the suite still grades the solution, the
blank lab and one wrong answer per lab with real nbgrader, and `tests/labs/test_agreement.py`
shows on a sample from every lab that both routes give every test cell the same score.

Run it through `prove()`; the process itself is `python -m mlops_course.proof.shared_prefix SPEC`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient.client import _RGX_BACKSPACE, _RGX_CARRIAGERETURN
from nbformat import NotebookNode

from mlops_course.course import notebooks
from mlops_course.course.background import die_with_parent, yield_the_cpu
from mlops_course.errors import GradingError

CHILD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class Variant:
    """A submission that differs from the graded notebook only in some answer cells."""

    name: str
    answers: dict[str, str]  # answer cell's grade_id -> the source that replaces it
    through: tuple[str, ...]  # the test cells to judge: the child runs up to the last of them
    check: str | None = None  # a question to self-check there too, as check() would in the learner's kernel


@dataclass(frozen=True)
class CellVerdict:
    """One test cell's score, as the grader would give it, and the end of its error if it failed."""

    score: float
    max_score: float
    error: str = ""
    # The error outputs of a failed cell as the grader keeps them (what feedback is made from).
    error_outputs: list = field(default_factory=list)


@dataclass(frozen=True)
class VariantProof:
    """What one variant earned in every test cell the child ran, and the self-check's verdict if asked."""

    cells: dict[str, CellVerdict]
    check: tuple[str, str] | None = None  # (status, hint) of selfcheck.run_visible_tests
    # The outputs of the checked question's test cells run as the learner has them (no hidden tests),
    # after check(): what progress and validate judge in a learner's saved notebook.
    visible_outputs: dict[str, list] | None = None


@dataclass
class Proof:
    """The graded notebook's own test scores (when run whole) and every variant's."""

    solution: dict[str, CellVerdict] = field(default_factory=dict)
    variants: dict[str, VariantProof] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # variant -> why it has no verdict
    cpu_seconds: float = 0.0  # what the run cost: its process and every fork, for benchmarks
    # check() of every question after the whole run, as the learner's last cell would show it
    # (selfcheck.Report.to_json); None when the run stopped after its last fork.
    self_check: dict | None = None
    # Every test cell run again as the learner's notebook holds it, after that self-check (see VariantProof).
    visible_outputs: dict[str, list] | None = None


# --- judging a cell's outputs as the grader does ---------------------------------------------------



def coalesce(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """Each stream's outputs merged into its first one, as nbclient does with `coalesce_streams`."""
    merged, streams = [], {}
    for output in outputs:
        if output.output_type == "stream":
            if output.name in streams:
                streams[output.name].text += output.text
                continue
            streams[output.name] = output
        merged.append(output)
    for output in streams.values():  # nbclient's own clean-up of \b and \r, as it is written there
        old = output.text
        while len(output.text) < len(old):
            old = output.text
            output.text = _RGX_BACKSPACE.sub("", output.text)
        output.text = _RGX_CARRIAGERETURN.sub("", output.text)
    return merged


def judge(cell: NotebookNode, outputs: list[NotebookNode]) -> CellVerdict:
    """The score the course's grader gives a test cell with these outputs.

    The same steps as `GuardedExecute` and the course's autograde preprocessors: streams merged,
    stderr kept but not scored (`course.scoring.stderr_not_scored`), then nbgrader's `determine_grade`.
    """
    from nbgrader.utils import determine_grade

    from mlops_course.course.scoring import stderr_not_scored

    judged = stderr_not_scored(nbformat.from_dict({**cell, "outputs": coalesce([nbformat.from_dict(o) for o in outputs])}))
    score, max_score = determine_grade(judged)
    failed = (score or 0) < max_score
    shown = [o for o in judged.outputs if o.output_type == "error"]
    errors = "; ".join(f"{o.ename}: {o.evalue}" for o in shown)
    return CellVerdict(float(score or 0), float(max_score), errors[-600:] if failed else "", shown if failed else [])


# --- the lab folder at a fork ---------------------------------------------------------------------


class FolderSnapshot:
    """A copy of the lab folder, and what each file was, to undo what a child did there."""

    def __init__(self, folder: Path, copy: Path):
        self.folder, self.copy = folder, copy
        shutil.copytree(folder, copy, symlinks=True)
        self.seen = {p.relative_to(folder): (p.lstat().st_ino, p.lstat().st_ctime_ns) for p in _walk(folder)}

    def restore(self) -> None:
        """Remove what was added, put back what was changed or removed; untouched files keep their inode."""
        for path in sorted(_walk(self.folder), reverse=True):  # children before their folders
            if path.relative_to(self.folder) not in self.seen:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        for original in _walk(self.copy):
            relative = original.relative_to(self.copy)
            target = self.folder / relative
            if original.is_dir() and not original.is_symlink():
                target.mkdir(exist_ok=True)
                continue
            if target.is_symlink() or (target.exists() and target.is_dir()):
                shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            stat = target.lstat() if target.exists() else None
            if stat is not None and (stat.st_ino, stat.st_ctime_ns) == self.seen[relative]:
                continue  # the child did not touch it
            if original.is_symlink():
                target.symlink_to(os.readlink(original))
                continue
            shutil.copyfile(original, target)  # in place: the parent's open handles see their old bytes
            shutil.copystat(original, target)

    def remove(self) -> None:
        shutil.rmtree(self.copy, ignore_errors=True)


def _walk(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        found += [base / d for d in dirnames] + [base / f for f in filenames]
    return found


# --- running cells -------------------------------------------------------------------------------


class _Capture:
    """sys.stdout or sys.stderr: text goes to the current cell's outputs, as a kernel's streams do."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: str, fd: int, outputs: list):
        self.name, self._fd, self._outputs = name, fd, outputs

    def write(self, text: str) -> int:
        if text:
            self._outputs.append(nbformat.v4.new_output("stream", name=self.name, text=text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


class CellRunner:
    """IPython's shell with a kernel's output rules: every cell's outputs as nbformat outputs."""

    def __init__(self):
        # Libraries ask whether they run in a Jupyter kernel by this module's presence (tqdm, which
        # MLflow uses, then draws a widget instead of writing its progress bar to stderr).
        import ipykernel.zmqshell  # noqa: F401
        from IPython.core.displayhook import DisplayHook
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        self.outputs: list[NotebookNode] = []
        sys.stdout = _Capture("stdout", 1, self.outputs)
        sys.stderr = _Capture("stderr", 2, self.outputs)
        runner = self

        class ResultHook(DisplayHook):
            """The last expression's value as an execute_result, not as printed text."""

            def write_output_prompt(self):
                pass

            def write_format_data(self, format_dict, md_dict=None):
                runner.outputs.append(nbformat.v4.new_output("execute_result", data=format_dict,
                                                             execution_count=self.prompt_count))

        class KernelLikeShell(InteractiveShell):
            """Errors become error outputs, as ipykernel's shell sends them."""

            def _showtraceback(self, etype, evalue, stb):
                runner.outputs.append(nbformat.v4.new_output(
                    "error", ename=getattr(etype, "__name__", str(etype)), evalue=str(evalue), traceback=list(stb)))

        config = Config()
        config.HistoryManager.enabled = False
        config.InteractiveShell.colors = "NoColor"
        self.shell = KernelLikeShell.instance(config=config)
        self.shell.displayhook = ResultHook(shell=self.shell, cache_size=1000)
        sys.displayhook = self.shell.displayhook

    def run(self, source: str) -> list[NotebookNode]:
        """Run one cell; its outputs, with what the process wrote to file descriptors 1 and 2."""
        self.outputs.clear()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            try:
                self.shell.run_cell(source, store_history=True)
            finally:
                _flush_c_stdio()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
            for name, handle in (("stdout", out), ("stderr", err)):
                handle.seek(0)
                text = handle.read().decode("utf-8", "replace")
                if text:
                    self.outputs.append(nbformat.v4.new_output("stream", name=name, text=text))
        return list(self.outputs)


def _flush_c_stdio() -> None:
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # pragma: no cover - no libc symbols: nothing buffered to lose
        pass


# --- the process that runs the notebook and forks ----------------------------------------------------


def _grade_id(cell: NotebookNode) -> str | None:
    return notebooks.nbgrader_meta(cell).get("grade_id")


def _tests(nb: NotebookNode) -> set[str]:
    return {cell.grade_id for cell in notebooks.autograded_tests(nb)}


def _index(nb: NotebookNode) -> dict[str, int]:
    return {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}


def _run_variant(runner: CellRunner, nb: NotebookNode, start: int, variant: Variant,
                 index: dict[str, int], tests: set[str]) -> dict[str, Any]:
    """In the child: the variant's cells from `start` to its last judged test cell; the verdicts."""
    last = max(index[g] for g in variant.through)
    verdicts = {}
    for cell in nb.cells[start : last + 1]:
        if cell.cell_type != "code":
            continue
        outputs = runner.run(variant.answers.get(_grade_id(cell), cell.source))
        if _grade_id(cell) in tests:
            verdicts[_grade_id(cell)] = judge(cell, outputs).__dict__
    found: dict[str, Any] = {"cells": verdicts}
    if variant.check:
        from mlops_course.course.questions import without_hidden_tests
        from mlops_course.learner.selfcheck import run_visible_tests

        visible = without_hidden_tests(nb)
        (result,) = run_visible_tests(visible, runner.shell.user_ns, variant.check)
        found["check"] = [result.status.value, result.hint]
        found["visible_outputs"] = _visible_outputs(runner, visible, result.question.tests)
    return found


def _visible_outputs(runner: CellRunner, visible: NotebookNode, tests) -> dict[str, list]:
    """Each named test cell run again as the learner's notebook holds it, with the outputs it shows."""
    return {grade_id: runner.run(notebooks.find_cell(visible, grade_id).source) for grade_id in tests}


def _fork_variant(runner: CellRunner, nb: NotebookNode, start: int, variant: Variant, timeout: float,
                  result_file: Path, index: dict[str, int], tests: set[str]) -> dict:
    """Run one variant in a forked child; its verdicts, or {"problem": ...}."""
    result_file.unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            die_with_parent()
            os.setpgid(0, 0)  # servers or workers it starts die with it
            result: dict[str, Any] = {"proof": _run_variant(runner, nb, start, variant, index, tests),
                                      "used_skops": "skops.io" in sys.modules}
        except BaseException as exc:  # noqa: BLE001 (report anything, never run the parent's cells)
            result, code = {"problem": f"{type(exc).__name__}: {exc}"}, 1
        result_file.write_text(json.dumps(result))
        os._exit(code)
    deadline = time.monotonic() + timeout
    while not (waited := os.waitpid(pid, os.WNOHANG))[0]:
        if time.monotonic() > deadline:
            _kill_group(pid)
            os.waitpid(pid, 0)
            return {"problem": f"timed out after {timeout:.0f} s"}
        time.sleep(0.02)
    _kill_group(pid)  # anything it left running
    if not result_file.exists():
        return {"problem": f"the child died ({_describe_status(waited[1])})"}
    return json.loads(result_file.read_text())


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status)}"


def run(spec: dict) -> dict:
    """The process's work: run the notebook, fork at each answer cell a variant replaces."""
    nb = nbformat.from_dict(spec["notebook"])
    folder = Path(spec["folder"])
    variants = [Variant(v["name"], v["answers"], tuple(v["through"]), v["check"]) for v in spec["variants"]]
    index, tests = _index(nb), _tests(nb)
    _import_what_children_need()
    forks: dict[int, list[Variant]] = {}
    for variant in variants:
        forks.setdefault(min(index[g] for g in variant.answers), []).append(variant)
    runner = CellRunner()
    result: dict[str, Any] = {"solution": {}, "variants": {}, "problems": {}}
    code_cells = sum(c.cell_type == "code" for c in nb.cells)
    done = 0
    last_fork = max(forks, default=-1)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if i > last_fork and not spec["whole"]:
            break
        if i in forks:
            snapshot = FolderSnapshot(folder, Path(spec["scratch"]) / f"at-cell-{i}")
            for variant in forks[i]:
                started = time.monotonic()
                found = _fork_variant(runner, nb, i, variant, spec["child_timeout"], Path(spec["scratch"]) / "variant.json",
                                      index, tests)
                snapshot.restore()
                if found.get("used_skops"):
                    _warm_what_model_logging_needs()
                if "problem" in found:
                    result["problems"][variant.name] = found["problem"]
                else:
                    result["variants"][variant.name] = found["proof"]
                _progress(f"{variant.name}: {time.monotonic() - started:.1f} s")
            snapshot.remove()
        outputs = runner.run(cell.source)
        done += 1
        if _grade_id(cell) in tests:
            result["solution"][_grade_id(cell)] = judge(cell, outputs).__dict__
        _progress(f"cell {done}/{code_cells}")
    if spec["whole"]:
        result["self_check"] = _self_check(nb, runner, Path(spec["folder"]).name)
    return result


def _import_what_children_need() -> None:
    """Import once, before the first fork, what each child needs to judge its cells and self-check.

    A child imports what its parent had not: nbgrader (for `determine_grade`) takes 1.4 CPU-seconds,
    which every fork before the notebook's first test cell paid again (every fork of a quiz).
    """
    from nbgrader.utils import determine_grade  # noqa: F401

    from mlops_course.course import questions, scoring  # noqa: F401
    from mlops_course.learner import selfcheck  # noqa: F401


def _warm_what_model_logging_needs() -> None:
    """Once a child has saved or loaded a model, do here what that cost it, so the next children need not.

    A process that saves or loads a scikit-learn model through MLflow imports skops (its trusted
    types import all of scikit-learn: 1.2 CPU-seconds) and lists the installed packages' modules
    (MLflow keeps that list for the process: 1.2 CPU-seconds), unless its parent did. Both are the
    same in every process of this environment, so doing them here changes no verdict; a notebook
    whose children log no model (in Lab 02 they would cost more than they save) pays nothing.
    """
    if "skops.io" in sys.modules:
        return
    import skops.io  # noqa: F401
    from mlflow.utils import requirements_utils

    getattr(requirements_utils, "_init_modules_to_packages_map", lambda: None)()  # private: gone in a later MLflow, skipped


def _self_check(nb: NotebookNode, runner: CellRunner, lab: str) -> dict:
    """What check() in the finished notebook's last cell reports: the same functions on the same namespace.

    check() itself prints "skipped" here, as under nbgrader (NBGRADER_EXECUTION is set); this runs
    what it would have run, so the whole run also stands for the learner's own self-check.
    """
    from mlops_course.course.questions import without_hidden_tests
    from mlops_course.learner.selfcheck import Report, explain, run_visible_tests

    visible = without_hidden_tests(nb)
    results = explain(run_visible_tests(visible, runner.shell.user_ns), visible, with_outputs=False)
    tests = [t for r in results for t in r.question.tests]
    return {"report": Report(lab, tuple(results)).to_json(), "visible_outputs": _visible_outputs(runner, visible, tests)}


def _progress(message: str) -> None:
    if _REPORT["progress"]:
        _report(f"  {message}\n")


def _report(text: str) -> None:
    """To the process's real stderr: sys.stderr and file descriptor 2 belong to the cells."""
    os.write(_REPORT["fd"], text.encode("utf-8", "replace"))


_REPORT: dict[str, Any] = {"fd": 2, "progress": False}


def main(argv: list[str] | None = None) -> int:
    import traceback

    die_with_parent()
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    if spec.get("background"):
        yield_the_cpu()
    _REPORT.update(fd=os.dup(2), progress=bool(spec.get("progress")))
    os.chdir(spec["folder"])
    try:
        result = run(spec)
    except BaseException:  # noqa: BLE001 (any failure of the run is reported to the caller, never swallowed)
        _report(traceback.format_exc())
        return 1
    import resource

    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    result["cpu_seconds"] = sum(u.ru_utime + u.ru_stime for u in used)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# --- the caller's side -----------------------------------------------------------------------------


def process_environment(home: Path) -> dict[str, str]:
    """The grading kernel's environment (sandbox.kernel_environment, one thread), with a home of its own."""
    from mlops_course.grading.sandbox import THREAD_VARIABLES, kernel_environment

    env = {**kernel_environment(), "HOME": str(home), "MPLCONFIGDIR": str(home / "matplotlib"),
           "NBGRADER_EXECUTION": "autograde", "PYTHONHASHSEED": "0"}
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    return env


def prove(nb: NotebookNode, folder: Path, variants: list[Variant], progress: bool = False, whole: bool = True,
          timeout: float = 3600, child_timeout: float = CHILD_TIMEOUT_SECONDS, background: bool = False) -> Proof:
    """Run `nb` once in `folder` (a throwaway copy of the lab folder) and every variant in a fork of it.

    With `whole=False` the notebook stops after its last fork, and `Proof.solution` holds only the
    test cells run until then. With `background=True` the run yields the CPU to other work
    (`mlops_course.course.background`).

    Raises GradingError when the process itself fails; a variant whose child fails is listed in
    `Proof.problems` with the reason.
    """
    _check_variants(nb, variants)
    folder = Path(folder).resolve()
    with tempfile.TemporaryDirectory(prefix="mlops-course-prefix-") as tmp:
        scratch = Path(tmp)
        spec = {"notebook": nb, "folder": str(folder), "scratch": str(scratch), "result": str(scratch / "result.json"),
                "child_timeout": child_timeout, "progress": progress,
                "background": background, "variants": [{"name": v.name, "answers": v.answers, "through": list(v.through), "check": v.check}
                             for v in variants], "whole": whole}
        (scratch / "home").mkdir()
        (scratch / "spec.json").write_text(json.dumps(spec))
        from mlops_course.mutation import DISK_CACHE_VARIABLE

        # The forks share the mutation tests' deterministic fits (Lab 06): the first to need one makes it.
        env = {**process_environment(scratch / "home"), DISK_CACHE_VARIABLE: str(scratch / "mutation-cache")}
        process = subprocess.Popen([sys.executable, "-m", "mlops_course.proof.shared_prefix", str(scratch / "spec.json")],
                                   cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                   stderr=None if progress else subprocess.PIPE, start_new_session=True)
        _RUNNING.add(process)
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            _, stderr = process.communicate()
        finally:
            _RUNNING.discard(process)
        if process.returncode != 0 or not (scratch / "result.json").exists():
            tail = (stderr or b"").decode("utf-8", "replace")[-2000:]
            raise GradingError(f"the shared-prefix run of {folder.name} failed (exit {process.returncode}): {tail}")
        raw = json.loads((scratch / "result.json").read_text())
    def verdicts(cells: dict) -> dict[str, CellVerdict]:
        return {k: CellVerdict(**v) for k, v in cells.items()}

    variants = {k: VariantProof(verdicts(v["cells"]), tuple(v["check"]) if "check" in v else None,
                                _outputs(v.get("visible_outputs")))
                for k, v in raw["variants"].items()}
    whole = raw.get("self_check") or {}
    return Proof(verdicts(raw["solution"]), variants, raw["problems"], raw["cpu_seconds"], whole.get("report"),
                 _outputs(whole.get("visible_outputs")))


def _outputs(found: dict[str, list] | None) -> dict[str, list[NotebookNode]] | None:
    """Outputs read back from the run's JSON, as notebook nodes again (what progress and validate read)."""
    return None if found is None else {k: [nbformat.from_dict(o) for o in v] for k, v in found.items()}


_RUNNING: set[subprocess.Popen] = set()


def stop_all() -> None:
    """End every run still going (with whatever it started): for a caller that gives up waiting."""
    for process in list(_RUNNING):
        _kill_group(process.pid)


def _check_variants(nb: NotebookNode, variants: list[Variant]) -> None:
    cells, tests = _index(nb), _tests(nb)
    for variant in variants:
        unknown = [g for g in [*variant.answers, *variant.through] if g not in cells]
        if unknown:
            raise GradingError(f"{variant.name} names cells the notebook does not have: {unknown}")
        not_tests = [g for g in variant.through if g not in tests]
        if not_tests or not variant.through or not variant.answers:
            raise GradingError(f"{variant.name} must replace at least one answer and judge at least one test cell "
                               f"(not test cells: {not_tests})")


if __name__ == "__main__":
    sys.exit(main())
