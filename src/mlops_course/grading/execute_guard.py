"""nbgrader's executor, hardened for untrusted notebooks.

nbgrader's `Execute` step runs the submission's cells; this subclass keeps its
behaviour (errors are recorded in the cell, grading goes on) and adds what a
batch of untrusted notebooks needs:

- the kernel starts in the sandbox (mlops_course.grading.sandbox);
- a time limit for the whole notebook on top of nbgrader's per-cell one;
  after a timeout the kernel is interrupted, and killed if it does not stop;
- when the kernel dies or the notebook's time is up, the remaining cells are
  marked "not run" (their tests score zero) instead of failing the whole
  submission, so tests that passed before keep their points;
- output beyond a size limit per cell is dropped while it streams in;
- before each test cell, a check that the notebook has not patched what the
  tests rely on and that a failing assertion is still reported as a failure;
  if it has, the test cell is not run and scores zero;
- stderr is kept visible but not scored (`StderrIsNotAnError`): only an error
  fails a test, the course's one rule (`mlops_course.course.config.cell_passes`).

Every such event is written to a JSON "incident log" the batch reads back to
tell the instructor what happened to whom.
"""

from __future__ import annotations

import ast
import json
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer, Unicode

from mlops_course.course.scoring import stderr_not_scored
from mlops_course.grading.sandbox import SandboxedKernelManager

CHECK_EXPRESSION = "__import__('mlops_course.grading.tamper_check').grading.tamper_check.findings()"


def error_output(ename: str, message: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel, a notebook time limit, output caps and tamper checks."""

    notebook_timeout = Integer(1800, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(2 * 2**20, help="output kept per cell; the rest is dropped").tag(config=True)
    interrupt_grace = Integer(10, help="seconds a timed-out cell gets to stop before the kernel is killed").tag(config=True)
    check_tampering = Bool(True, help="check before each test cell that the tests can be trusted").tag(config=True)
    incident_log = Unicode("", help="JSON file listing what went wrong, cell by cell").tag(config=True)
    # nbclient asks the kernel to exit and waits for it, about a second per submission for a
    # sandboxed kernel (measured: 6.2 s per Lab 01 submission instead of 5.2 s). A graded kernel
    # has nothing worth saving: its outputs are in the notebook and its working copy is thrown away.
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate",
                           help="how the kernel is stopped after the last cell").tag(config=True)
    # The kernel flushes a stream when it likes, so one line can arrive as the line and then a lone
    # "\n", in several outputs. Merged, each cell shows its stdout, and its stderr, as one block
    # (stderr costs no points either way: `stderr_not_scored`).
    coalesce_streams = Bool(True, help="merge each cell's stdout, and its stderr, into one output each").tag(config=True)
    # Another nbgrader course graded with our sandbox keeps nbgrader's own rule, so that its
    # scores are the ones `nbgrader autograde` gives: a test cell that writes to stderr scores zero.
    score_stderr = Bool(False, help="score a cell that writes to stderr zero, as plain nbgrader does").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = monotonic() + self.notebook_timeout
        self._stopped: str | None = None
        self._incidents: list[dict] = []
        self._output_bytes: dict[int, int] = {}
        self._truncated: set[int] = set()
        self._guard_ready = False
        self._timed_out = False
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.incident_log:
                Path(self.incident_log).write_text(json.dumps(self._incidents, indent=1))

    # --- what happened -------------------------------------------------------------------------

    def _incident(self, cell: NotebookNode, index: int, kind: str, message: str) -> None:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        self._incidents.append({"cell": index + 1, "grade_id": grade_id, "kind": kind, "message": message})

    def _stop(self, reason: str) -> None:
        self._stopped = reason

    # --- execution -----------------------------------------------------------------------------

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        remaining = max(1, int(self._deadline - monotonic()))
        return remaining if timeout is None else min(timeout, remaining)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        if self._stopped:
            cell.outputs = [error_output("NotRun", self._stopped)]
            return cell
        if self.check_tampering:
            if not self._guard_ready:
                await self._silent("import mlops_course.grading.tamper_check")
                self._guard_ready = True
            if utils.is_grade(cell) and not utils.is_solution(cell):
                problem = await self._tampering()
                if problem:
                    self._incident(cell, cell_index, "tampering", problem)
                    cell.outputs = [error_output("TestsNotTrusted", f"this test was not run: {problem}")]
                    return cell
        self._timed_out = False
        try:
            cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            message = f"the kernel died in cell {cell_index + 1} (a crash, os._exit() or memory exhausted)"
            return self._give_up(cell, cell_index, "kernel-died", message)
        except Exception as exc:  # noqa: BLE001 (e.g. the kernel no longer sends its output: grade what ran so far)
            message = f"the kernel stopped answering properly in cell {cell_index + 1} ({type(exc).__name__})"
            await ensure_async(self.km.shutdown_kernel(now=True))
            return self._give_up(cell, cell_index, "kernel-broken", message)
        await self._after_cell(cell, cell_index)
        if not self.score_stderr:
            stderr_not_scored(cell)
        return cell

    # nbconvert's preprocess() calls the synchronous wrapper, which nbclient binds to its own method.
    execute_cell = run_sync(async_execute_cell)

    def _give_up(self, cell: NotebookNode, cell_index: int, kind: str, message: str) -> NotebookNode:
        self._incident(cell, cell_index, kind, message)
        cell.outputs.append(error_output(kind.title().replace("-", ""), message))
        self._stop(f"not run: {message}")
        return cell

    async def _after_cell(self, cell: NotebookNode, cell_index: int) -> None:
        names = {o.get("ename") for o in cell.outputs if o.get("output_type") == "error"}
        if "MemoryError" in names:
            self._incident(cell, cell_index, "memory", f"ran out of memory in cell {cell_index + 1}")
        if "BlockingIOError" in names:
            self._incident(cell, cell_index, "processes", f"hit the process limit in cell {cell_index + 1} (a fork bomb?)")
        if "SystemExit" in names:
            self._incident(cell, cell_index, "exit", f"called sys.exit() in cell {cell_index + 1} (ignored)")
        if not self._timed_out:
            return
        out_of_time = monotonic() >= self._deadline - 1
        limit = f"the notebook's time limit ({self.notebook_timeout} s)" if out_of_time else f"the cell time limit ({self.timeout} s)"
        message = f"timed out in cell {cell_index + 1} ({limit})"
        for output in cell.outputs:
            if output.get("ename") == "CellTimeoutError":
                output.evalue = message
                output.traceback = [f"CellTimeoutError: {message}"]
        self._incident(cell, cell_index, "timeout", message)
        if out_of_time:
            self._stop(f"not run: {message}")
        elif not await self._responds(self.interrupt_grace):
            await ensure_async(self.km.shutdown_kernel(now=True))
            self._stop(f"not run: cell {cell_index + 1} did not stop when interrupted, so the kernel was ended")

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] != "error":
            size = len(json.dumps(msg.get("content", {})))
            used = self._output_bytes.get(cell_index, 0) + size
            self._output_bytes[cell_index] = used
            if used > self.max_output_bytes:
                if cell_index not in self._truncated:
                    self._truncated.add(cell_index)
                    note = f"[output truncated: more than {self.max_output_bytes // 1024} KiB]\n"
                    outs.append(new_output("stream", name="stderr", text=note))
                    self._incidents.append({"cell": cell_index + 1, "grade_id": None, "kind": "output",
                                            "message": f"huge output in cell {cell_index + 1} (truncated)"})
                return None
        return super().output(outs, msg, display_id, cell_index)

    # --- talking to the kernel behind the notebook's back ---------------------------------------

    async def _silent(self, code: str, expressions: dict | None = None) -> dict | None:
        msg_id = await ensure_async(self.kc.execute(code, silent=True, store_history=False,
                                                    user_expressions=expressions or {}, stop_on_error=False))
        return await self.async_wait_for_reply(msg_id)

    async def _tampering(self) -> str | None:
        """A reason the next test cannot be trusted, or None."""
        nonce = uuid.uuid4().hex
        reply = await self._silent(f"assert False, {nonce!r}")
        content = (reply or {}).get("content", {})
        if content.get("status") != "error" or nonce not in str(content.get("evalue", "")):
            return "the notebook stops failed tests from being reported"
        reply = await self._silent("pass", {"findings": CHECK_EXPRESSION})
        result = (reply or {}).get("content", {}).get("user_expressions", {}).get("findings", {})
        if result.get("status") != "ok":
            return "the notebook broke the check of the test helpers"
        try:
            found = ast.literal_eval(result["data"]["text/plain"])
        except (KeyError, ValueError, SyntaxError):
            return "the notebook broke the check of the test helpers"
        if found:
            return "the notebook replaced code the tests rely on: " + ", ".join(map(str, found))
        return None

    async def _responds(self, seconds: float) -> bool:
        """Does the kernel answer a kernel_info request within `seconds` (i.e. did the interrupt work)?"""
        msg_id = await ensure_async(self.kc.kernel_info())
        deadline = monotonic() + seconds
        while (left := deadline - monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False
