"""The Python every account's server and kernels run: the course's environment, reachable by all.

Students' servers run as the students, so the course's interpreter, its packages and this
package must be readable by every account. `ensure_runtime` hands back the Python to use (the
course's own, or a copy of it in the state folder when the original cannot be reached), and
`singleuser_environment` the environment each single-user server starts in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from mlops_course.classroom.accounts import unreachable
from mlops_course.course.config import EXCHANGE_ENV
from mlops_course.course.kernel import OFFLINE_ENV
from mlops_course.errors import ClassServerError


def environment_unreachable() -> str | None:
    """Why students' accounts could not use the course's packages or code from where they are, or None."""
    for needed in (Path(sys.prefix) / "lib", Path(__file__)):
        blocked = unreachable(needed)
        if blocked:
            return (f"students cannot run the course's environment: {blocked} is closed to other accounts; "
                    f"put the course where every account can read it (e.g. /srv/mlops-course) and run `make setup` there")
    return None


def ensure_runtime(state: Path) -> Path:
    """The Python every account's server and kernels run: the course's environment, reachable by all.

    The course's `.venv` is often made from a Python inside root's home (pyenv), which other
    accounts cannot enter. Then the same Python (its standard library, not its packages) is
    copied to `<state>/runtime/python`, and a small environment made from it in
    `<state>/runtime/env` loads the course's installed packages (a `.pth` file) and carries
    the course's commands and Jupyter kernel pointed at itself. The very same interpreter
    matters: Debian's own Python 3.11.2 differs enough (its `re`) to break the feedback pages.
    """
    venv, base = Path(sys.prefix), Path(sys.base_prefix).resolve()
    if not unreachable(Path(sys.executable)) and not unreachable(Path(__file__)):
        return Path(sys.executable)
    reason = environment_unreachable()
    if reason:
        raise ClassServerError(reason)
    runtime = state / "runtime"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy = runtime / "python"
    if not (copy / "bin" / version).exists():
        skip = {base / "lib" / version / "site-packages", base / "lib" / version / "test"}
        shutil.copytree(base, copy, symlinks=True, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names if Path(folder) / n in skip])
        _relocate(copy / "bin" / version, base)
    python = runtime / "env" / "bin" / "python"
    if not python.exists():
        subprocess.run([str(copy / "bin" / version), "-m", "venv", "--without-pip", str(runtime / "env")],
                       check=True, capture_output=True)
    env = runtime / "env"
    site = env / "lib" / version / "site-packages"
    (site / "mlops_course_env.pth").write_text(
        f"import site; site.addsitedir({str(venv / 'lib' / version / 'site-packages')!r})\n")
    for script in (venv / "bin").iterdir():  # the course's commands (jupyter, nbgrader, alembic, mlflow, ...)
        target = env / "bin" / script.name
        if script.is_file() and not script.is_symlink() and not target.exists():
            if script.read_bytes()[:200].startswith(f"#!{venv}/bin/python".encode()):
                target.write_text(f"#!{python}\n" + script.read_text().split("\n", 1)[1])
                target.chmod(0o755)
    for spec in (venv / "share" / "jupyter" / "kernels").glob("*/kernel.json"):
        data = json.loads(spec.read_text())
        data["argv"][0] = str(python)
        dest = env / "share" / "jupyter" / "kernels" / spec.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "kernel.json").write_text(json.dumps(data, indent=1))
    subprocess.run(["chmod", "-R", "a+rX", str(runtime)], check=True)
    return python


def _relocate(binary: Path, old_prefix: Path) -> None:
    """Point a copied interpreter at its own libpython: its RUNPATH names the old prefix's lib/.

    The path is rewritten in place as `$ORIGIN/../lib`, padded with NULs (never longer than
    the original, so the ELF layout is unchanged).
    """
    data = binary.read_bytes()
    old, new = str(old_prefix / "lib").encode() + b"\0", b"$ORIGIN/../lib\0"
    if data.count(old) != 1 or len(new) > len(old):
        return  # no absolute RUNPATH (a system Python): nothing to do
    binary.unlink()
    binary.write_bytes(data.replace(old, new.ljust(len(old), b"\0")))
    binary.chmod(0o755)


def singleuser_environment(python: Path, mlflow_url: str, exchange: Path) -> dict[str, str]:
    """What every single-user server starts with: offline, the class's MLflow and exchange, the shared Python."""
    return {
        **OFFLINE_ENV, "MLFLOW_TRACKING_URI": mlflow_url, EXCHANGE_ENV: str(exchange),
        "PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin",
        # The shared environment's own kernel first, then the course's extensions and their settings.
        "JUPYTER_PATH": f"{python.parent.parent / 'share' / 'jupyter'}:{Path(sys.prefix) / 'share' / 'jupyter'}",
        "JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
    }
