"""Do kernels that papermill starts talk over Unix sockets in the given runtime folder, two at once?

The class server's load benchmark and end-to-end test run labs with papermill inside students'
servers; over TCP, kernels started at the same moment can pick the same port and die
(mlops_course.course.kernel.ipc_kernel_config explains the race).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest

from mlops_course.course.kernel import KERNEL_NAME, ipc_kernel_config

pytestmark = pytest.mark.slow

REPORT = ("import json\nfrom ipykernel import get_connection_file\n"
          "info = json.load(open(get_connection_file()))\n"
          "print(json.dumps({'transport': info['transport'], 'ip': info['ip']}))")


@pytest.fixture
def runtime():
    """A short folder, as on the class server (pytest's tmp_path is too deep for a socket's path)."""
    folder = Path(tempfile.mkdtemp(prefix="mc-ipc-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run(folder: Path, runtime: Path, index: int) -> dict:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REPORT)])
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}
    path = folder / f"report{index}.ipynb"
    nbformat.write(nb, path)
    done = papermill.execute_notebook(str(path), str(path), progress_bar=False, log_output=False,
                                      config=ipc_kernel_config(runtime))
    return json.loads(done.cells[0].outputs[0]["text"])


def test_two_papermill_kernels_at_once_use_unix_sockets_in_the_runtime_folder(tmp_path, runtime):
    """Do two kernels started at the same moment both run, each over its own Unix sockets under `runtime`?"""
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda i: _run(tmp_path, runtime, i), range(2)))
    assert [r["transport"] for r in reports] == ["ipc", "ipc"], reports
    assert all(r["ip"].startswith(f"{runtime}/kernel-") for r in reports), reports
    assert reports[0]["ip"] != reports[1]["ip"], "two kernels shared one set of sockets"
    assert not list(runtime.glob("kernel-*")), "the kernels' sockets and connection files were left behind"


def test_the_runtime_folder_is_created_private(runtime):
    """Is a missing runtime folder created, readable by its owner only?"""
    config = ipc_kernel_config(runtime / "sub")
    assert (runtime / "sub").stat().st_mode & 0o777 == 0o700
    assert Path(config.KernelManager.connection_file).parent == runtime / "sub"
