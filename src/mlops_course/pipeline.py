"""A DVC project for the course's pipeline: write it, check it, reproduce it, push and pull its data.

The pipeline is code (``dvc.yaml``) plus settings (``params.yaml``): stages
ingest -> validate -> split -> train -> evaluate -> register, each with the
files it reads and writes. DVC hashes those files and reruns a stage only
when one of its inputs, its command or one of its parameters changed, and it
keeps every version of the outputs in a cache that a remote (here a folder)
can back up. This module does the set-up Lab 06 teaches, for the tests, the
benchmark and the grader, and checks a project before DVC runs it, because
DVC's own errors for a typo in a path or a parameter are hard to read.

Everything runs offline: DVC's analytics are switched off in the project and
in the environment of every command.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

import yaml

from mlops_course.datasets import TEST_MONTHS, TRAIN_MONTHS, VALIDATION_MONTHS
from mlops_course.errors import PipelineError
from mlops_course.tracking import OFFLINE_ENV
from mlops_course.stages import (
    METRICS,
    MODEL,
    PARAMS,
    RAW,
    REGISTERED,
    SCHEMA,
    SLICES,
    SPLITS,
    STAGES,
    VALIDATED,
    reference_schema,
)

# The settings of the course's pipeline. A key that is not here is a typo until someone adds it.
DEFAULT_PARAMS: dict = {
    "data": {"fraction": 0.05, "seed": 0},
    "split": {"train_months": list(TRAIN_MONTHS), "validation_months": list(VALIDATION_MONTHS), "test_months": list(TEST_MONTHS)},
    "train": {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "seed": 0},
    "evaluate": {"slice_column": "origin"},
    "register": {"model_name": "flight-delay", "alias": "candidate"},
}
DVC_YAML = "dvc.yaml"
DVC_LOCK = "dvc.lock"
STAGE_COMMAND = "python -m mlops_course.stages {stage}"
# DVC prints one of these lines per stage it considers.
_RAN = re.compile(r"Running stage '([^']+)'")


def default_stages(command: str = STAGE_COMMAND) -> dict:
    """The ``dvc.yaml`` of the course's pipeline; ``command`` is formatted with each stage's name."""
    stages = {
        "ingest": {"params": ["data.fraction", "data.seed"], "outs": [RAW]},
        "validate": {"deps": [RAW, SCHEMA], "outs": [VALIDATED]},
        "split": {"deps": [VALIDATED], "params": ["split"], "outs": list(SPLITS.values())},
        "train": {"deps": [SPLITS["train"], SPLITS["validation"]], "params": ["train"], "outs": [MODEL]},
        "evaluate": {"deps": [MODEL, SPLITS["test"]], "params": ["evaluate"],
                     "metrics": [{METRICS: {"cache": False}}], "outs": [{SLICES: {"cache": False}}]},
        "register": {"deps": [MODEL, SPLITS["validation"], METRICS], "params": ["register"],
                     "outs": [{REGISTERED: {"cache": False}}]},
    }
    return {"stages": {name: {"cmd": command.format(stage=name), **stages[name]} for name in STAGES}}


def dvc_env(folder: Path) -> dict[str, str]:
    """The environment for DVC commands in ``folder``: no analytics, this Python's tools first on the PATH.

    DVC also reads a machine-wide and a per-user configuration (``/etc/xdg/dvc``, ``~/.config/dvc``) and
    keeps an index in a machine-wide cache (``/var/tmp/dvc``); git reads ``/etc/gitconfig``. The project uses none of them, so that it
    runs the same on every machine, and a sandboxed grader, which may neither look into ``/etc/xdg`` nor
    write to ``/var/tmp``, does not make DVC fail. Stages train with OpenMP (histogram gradient
    boosting); on a busy two-core machine its threads spin against each other and training takes ten
    times longer, so stages get one thread unless told otherwise.
    """
    private = Path(folder).resolve() / ".dvc" / "tmp"
    env = {**os.environ, **OFFLINE_ENV}
    env.setdefault("DVC_SYSTEM_CONFIG_DIR", str(private / "system-config"))
    env.setdefault("DVC_GLOBAL_CONFIG_DIR", str(private / "global-config"))
    env.setdefault("DVC_SITE_CACHE_DIR", str(private / "site-cache"))
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")  # git's machine-wide /etc/gitconfig, for the same reasons
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``dvc <args>`` in ``folder``; a failure raises PipelineError with DVC's own message."""
    result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=folder, env=dvc_env(folder),
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PipelineError(f"`dvc {' '.join(args)}` failed in {folder}:\n{output[-3000:]}")
    return result


def run_git(folder: Path, *args: str) -> str:
    """Run ``git <args>`` in ``folder`` as the course's pipeline author; returns its output.

    The author is set for the command, so a sandbox or a fresh account without ``user.name`` can commit,
    and git reads no machine-wide configuration (see ``dvc_env``).
    """
    result = subprocess.run(["git", "-c", "user.name=MLOps course", "-c", "user.email=pipeline@mlops-course.invalid",
                             "-c", "init.defaultBranch=main", *args], cwd=folder, env=dvc_env(folder),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PipelineError(f"`git {' '.join(args)}` failed in {folder}:\n{(result.stdout + result.stderr).strip()[-2000:]}")
    return result.stdout.strip()


def init(folder: Path, git: bool = False) -> Path:
    """Make ``folder`` a DVC project (inside a new git repository with ``git``), offline and self-contained."""
    from dvc.repo import Repo

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / ".dvc").exists():
        return folder
    if git:
        run_git(folder, "init", "-q")
    with _dvc_errors(folder, "init"), redirect_stdout(io.StringIO()):  # quiet, as `dvc init -q`
        Repo.init(str(folder), no_scm=not git).close()
    # What `dvc config core.analytics false` writes.
    config = folder / ".dvc" / "config"
    config.write_text("[core]\n    analytics = false\n" + config.read_text().replace("[core]\n", ""))
    return folder


def commit(folder: Path, message: str) -> str:
    """Commit the project's code and settings (what git versions; DVC keeps the data); returns the commit id."""
    run_git(folder, "add", "-A")
    run_git(folder, "commit", "-q", "--allow-empty", "-m", message)
    return run_git(folder, "rev-parse", "HEAD")


def rebuild(folder: Path, revision: str, into: Path, target: str) -> dict[str, tuple[str, str | None]]:
    """Rebuild ``target`` from scratch as commit ``revision`` of the project describes it.

    A fresh clone at that commit has no DVC cache, so ``dvc repro`` must run every stage up to
    ``target`` from the raw data. Returns, for each output the commit's ``dvc.lock`` pins, its
    locked MD5 and the rebuilt file's (None when the rebuild did not make it): equal pairs mean
    the commit alone was enough to get the very same bytes back.
    """
    into = Path(into)
    if into.exists():
        shutil.rmtree(into)
    run_git(Path(folder), "clone", "-q", str(Path(folder).resolve()), str(into))
    run_git(into, "checkout", "-q", revision)
    locked = locked_hashes(into)
    repro(into, target)
    rebuilt = file_hashes(into, list(locked))
    return {path: (locked[path], rebuilt[path]) for path in locked}


def write_project(folder: Path, params: dict | None = None, stages: dict | None = None, git: bool = False,
                  code: list[Path] | None = None) -> Path:
    """A ready-to-run DVC project in ``folder``: ``dvc.yaml``, ``params.yaml`` and the reviewed ``schema.json``.

    ``params`` are merged over DEFAULT_PARAMS (e.g. ``{"data": {"fraction": 0.02}}``); ``stages``
    replaces the default ``dvc.yaml``; ``code`` files (a learner's stage module) are copied into the
    project's folder, because DVC tracks only dependencies inside the project and git versions them
    there. The project is checked before it is returned.
    """
    folder = init(folder, git=git)
    for path in code or []:
        if not Path(path).is_file():
            raise PipelineError(f"the stage code {path} does not exist; write it first")
        shutil.copyfile(path, folder / Path(path).name)
    merged = merge_params(DEFAULT_PARAMS, params or {})
    (folder / PARAMS).write_text(yaml.safe_dump(merged, sort_keys=False))
    (folder / DVC_YAML).write_text(yaml.safe_dump(stages or default_stages(), sort_keys=False))
    if not (folder / SCHEMA).exists():
        (folder / SCHEMA).write_text(reference_schema().to_json())
    check_project(folder)
    return folder


def merge_params(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` applied group by group; an unknown group or key is refused by name."""
    merged = copy.deepcopy(base)
    for group, values in changes.items():
        if group not in merged or not isinstance(values, dict):
            raise PipelineError(f"unknown parameter group '{group}'; the groups are: {', '.join(merged)}")
        for key, value in values.items():
            if key not in merged[group]:
                raise PipelineError(f"unknown parameter '{group}.{key}'; '{group}' has: {', '.join(merged[group])}")
            merged[group][key] = value
    return merged


def set_params(folder: Path, changes: dict) -> dict:
    """Change some parameters in ``params.yaml`` (known keys only); returns the new parameters."""
    path = Path(folder) / PARAMS
    merged = merge_params(yaml.safe_load(path.read_text()), changes)
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


def _paths(entries: list) -> list[str]:
    """The file names of a stage's ``deps``/``outs``/``metrics`` list (entries may be ``{path: options}``)."""
    return [next(iter(e)) if isinstance(e, dict) else str(e) for e in entries or []]


def _param_keys(entries: list) -> list[str]:
    keys = []
    for entry in entries or []:
        if isinstance(entry, dict):  # {other-params-file.yaml: [keys]}
            raise PipelineError(f"parameters must come from {PARAMS}; got {entry!r}")
        keys.append(str(entry))
    return keys


def _lookup(params: dict, dotted: str) -> bool:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def check_project(folder: Path, known: dict | None = None) -> None:
    """Refuse, with every problem named, a project DVC would fail on or run wrongly.

    - a stage depends on a file that neither exists nor is produced by another stage;
    - a stage uses a parameter that ``params.yaml`` lacks;
    - ``params.yaml`` has a key the pipeline does not know (``known``, DEFAULT_PARAMS by default): a typo
      such as ``learnig_rate`` would otherwise be silently ignored while the default is used.
    """
    folder = Path(folder)
    for name in (DVC_YAML, PARAMS):
        if not (folder / name).exists():
            raise PipelineError(f"{folder} has no {name}; write it first (mlops_course.pipeline.write_project)")
    spec = yaml.safe_load((folder / DVC_YAML).read_text()) or {}
    stages = spec.get("stages")
    if not isinstance(stages, dict) or not stages:
        raise PipelineError(f"{DVC_YAML} must have a 'stages' mapping with at least one stage")
    params = yaml.safe_load((folder / PARAMS).read_text()) or {}
    problems = []
    produced = {path: name for name, stage in stages.items()
                for key in ("outs", "metrics", "plots") for path in _paths(stage.get(key))}
    for name, stage in stages.items():
        if not isinstance(stage, dict) or "cmd" not in stage:
            problems.append(f"stage '{name}' has no 'cmd' to run")
            continue
        for dep in _paths(stage.get("deps")):
            if dep not in produced and not (folder / dep).exists():
                problems.append(f"stage '{name}' depends on '{dep}', which does not exist and no stage produces")
        for key in _param_keys(stage.get("params")):
            if not _lookup(params, key):
                problems.append(f"stage '{name}' uses the parameter '{key}', which {PARAMS} does not define")
    problems += [f"{PARAMS} has the unknown key '{key}'" + (f"; did you mean one of: {', '.join(options)}?"
                                                             if options else "")
                 for key, options in unknown_keys(params, DEFAULT_PARAMS if known is None else known)]
    if problems:
        raise PipelineError(f"the pipeline in {folder} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def unknown_keys(params: dict, known: dict, prefix: str = "") -> list[tuple[str, list[str]]]:
    """The dotted keys of ``params`` that ``known`` lacks, each with the keys known at that level."""
    found = []
    for key, value in params.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            found.append((dotted, [f"{prefix}{k}" for k in known]))
        elif isinstance(known[key], dict):
            if not isinstance(value, dict):
                found.append((dotted, [f"{dotted}.{k}" for k in known[key]]))
            else:
                found += unknown_keys(value, known[key], f"{dotted}.")
    return found


def repro(folder: Path, *targets: str, force: bool = False) -> list[str]:
    """Run ``dvc repro`` after checking the project; returns the stages that actually ran, in order."""
    check_project(folder)
    result = dvc(folder, "repro", *(["--force"] if force else []), *targets)
    return _RAN.findall(result.stdout + result.stderr)


def status(folder: Path) -> dict:
    """``dvc status`` as a mapping from stage to what changed; empty when everything is up to date."""
    from dvc.repo import lock_repo

    with _dvc_repo(folder, "status") as repo, lock_repo(repo):
        changes = repo.status()
    # Outside the project's folder DVC names a stage "<path>/dvc.yaml:<stage>"; the command names it "<stage>".
    return {name.rpartition(f"{DVC_YAML}:")[2]: change for name, change in changes.items()}


@contextmanager
def _dvc_repo(folder: Path, command: str):
    """The project in ``folder``, opened with DVC's Python API in this process (see ``_dvc_errors``)."""
    from dvc.repo import Repo

    with _dvc_errors(folder, command), Repo(str(Path(folder).resolve())) as repo:
        yield repo


@contextmanager
def _dvc_errors(folder: Path, command: str):
    """Run DVC's Python API with the environment ``dvc`` commands get; its errors as PipelineError.

    A ``dvc`` command costs a second of start-up, and Lab 06 asks for a status a dozen times. ``dvc
    repro`` stays a command: its stages print what went wrong, and the error should show it.
    """
    from dvc.exceptions import DvcException

    folder = Path(folder).resolve()
    with _environment(dvc_env(folder)):
        try:
            yield
        except DvcException as error:
            raise PipelineError(f"`dvc {command}` failed in {folder}: {error}") from error


@contextmanager
def _environment(env: dict[str, str]):
    """Use ``env`` as this process's environment for a moment (DVC reads its settings from it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def downstream(folder: Path, changed: list[str]) -> list[str]:
    """The ``changed`` stages and every stage that reads, directly or not, a file one of them writes.

    In ``dvc.yaml`` order; this is what ``dvc repro`` reruns when each rerun stage changes its outputs.
    """
    stages = (yaml.safe_load((Path(folder) / DVC_YAML).read_text()) or {}).get("stages", {})
    writes = {name: {p for key in ("outs", "metrics", "plots") for p in _paths(stage.get(key))}
              for name, stage in stages.items()}
    dirty = set(changed)
    grew = True
    while grew:
        touched = set().union(*(writes[name] for name in dirty)) if dirty else set()
        more = {name for name, stage in stages.items() if touched & set(_paths(stage.get("deps")))}
        grew = not more <= dirty
        dirty |= more
    return [name for name in stages if name in dirty]


def would_run(folder: Path) -> list[str]:
    """The stages ``dvc repro`` would run now, without running them: what ``dvc status`` reports changed, and
    everything downstream of it (``dvc repro --dry`` cannot tell, it does not know which outputs would change)."""
    return downstream(folder, list(status(folder)))


def add_remote(folder: Path, location: Path, name: str = "storage") -> None:
    """Make the folder ``location`` the project's default remote (created if needed).

    What ``dvc remote add --force --default <name> <location>`` writes into ``.dvc/config``.
    """
    Path(location).mkdir(parents=True, exist_ok=True)
    with _dvc_repo(folder, "remote add") as repo, repo.config.edit() as config:
        config["remote"][name] = {"url": str(Path(location).resolve())}
        config["core"]["remote"] = name


def push(folder: Path) -> None:
    """``dvc push``: copy every cached output that ``dvc.lock`` names to the default remote."""
    with _dvc_repo(folder, "push") as repo:
        repo.push()


def pull(folder: Path) -> None:
    """``dvc pull``: fetch the outputs ``dvc.lock`` names from the default remote and put them in place."""
    with _dvc_repo(folder, "pull") as repo:
        repo.pull()


def cache_dir(folder: Path) -> Path:
    return Path(folder) / ".dvc" / "cache"


def uncached_outputs(folder: Path) -> set[str]:
    """Outputs declared with ``cache: false`` (small metrics files): git versions them, not the DVC remote."""
    stages = (yaml.safe_load((Path(folder) / DVC_YAML).read_text()) or {}).get("stages", {})
    return {path for stage in stages.values() for key in ("outs", "metrics", "plots") for entry in stage.get(key) or []
            if isinstance(entry, dict) for path, options in entry.items() if (options or {}).get("cache") is False}


def locked_hashes(folder: Path) -> dict[str, str]:
    """The MD5 of every cached output, as ``dvc.lock`` records it: the versions this commit points at."""
    lock = Path(folder) / DVC_LOCK
    if not lock.exists():
        raise PipelineError(f"{folder} has no {DVC_LOCK}: run `dvc repro` first")
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    skip = uncached_outputs(folder)
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])
            if "md5" in out and out["path"] not in skip}


def file_hashes(folder: Path, paths: list[str]) -> dict[str, str]:
    """The MD5 of each file's bytes (DVC 3 hashes files the same way), or None for a missing file."""
    folder = Path(folder)
    return {p: hashlib.md5((folder / p).read_bytes()).hexdigest() if (folder / p).exists() else None for p in paths}
