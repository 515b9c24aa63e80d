"""Driving a class server as its users would: JupyterHub's REST API and each user's own server.

The end-to-end test and the load benchmark use this to start students'
servers, fetch and submit labs through nbgrader's assignment-list handlers,
upload notebooks through the contents API and run code in a kernel of the
user's server (over its websocket), so everything happens as that user, in
that user's server, never as root.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from mlops_course.course.config import COURSE_ID
from mlops_course.course.kernel import KERNEL_NAME
from mlops_course.errors import ClassServerError


@dataclass
class KernelResult:
    """What a piece of code printed, and the error it raised (None when it ran cleanly)."""

    stdout: str = ""
    error: str | None = None
    outputs: list = field(default_factory=list)


class HubClient:
    """A JupyterHub API client with a service token that may manage users and reach their servers."""

    def __init__(self, hub_url: str, token: str, timeout: float = 60):
        self.hub_url = hub_url.rstrip("/")
        self.token = token
        self.http = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, f"{self.hub_url}/hub/api{path}", **kwargs)
        if response.status_code >= 400:
            raise ClassServerError(f"Hub API {method} {path}: {response.status_code} {response.text[:500]}")
        return response

    # --- users and servers ---

    def ensure_user(self, name: str) -> None:
        if self.http.get(f"{self.hub_url}/hub/api/users/{name}").status_code == 404:
            self.api("POST", f"/users/{name}")

    def start_server(self, name: str, timeout: float = 180) -> float:
        """Start `name`'s server and wait until it answers; returns the seconds it took."""
        started = time.monotonic()
        self.ensure_user(name)
        response = self.http.post(f"{self.hub_url}/hub/api/users/{name}/server")
        if response.status_code not in (201, 202, 400):  # 400: already running
            raise ClassServerError(f"starting {name}'s server: {response.status_code} {response.text[:500]}")
        deadline = started + timeout
        while time.monotonic() < deadline:
            user = self.api("GET", f"/users/{name}").json()
            server = user.get("servers", {}).get("", {})
            if server.get("ready"):
                return time.monotonic() - started
            if not server.get("pending") and not server and time.monotonic() - started > 5:
                raise ClassServerError(f"{name}'s server stopped while starting (see the Hub's log)")
            time.sleep(0.25)
        raise ClassServerError(f"{name}'s server did not start within {timeout:.0f}s")

    def stop_server(self, name: str) -> None:
        response = self.http.delete(f"{self.hub_url}/hub/api/users/{name}/server")
        if response.status_code not in (202, 204, 404):
            raise ClassServerError(f"stopping {name}'s server: {response.status_code} {response.text[:300]}")

    # --- a user's own server ---

    def server(self, name: str, method: str, path: str, **kwargs) -> httpx.Response:
        """A request to `name`'s single-user server through the Hub's proxy."""
        response = self.http.request(method, f"{self.hub_url}/user/{name}{path}", **kwargs)
        if response.status_code >= 400:
            raise ClassServerError(f"{name}'s server: {method} {path}: {response.status_code} {response.text[:800]}")
        return response

    def assignment(self, name: str, action: str, lab: str) -> list[dict]:
        """nbgrader's assignment list in the user's server: action = fetch | submit | fetch_feedback."""
        response = self.server(name, "POST", f"/assignments/{action}",
                               params={"course_id": COURSE_ID, "assignment_id": lab})
        data = response.json()
        if isinstance(data, dict) and not data.get("success", True):
            raise ClassServerError(f"{name}: nbgrader {action} of {lab} failed: {data.get('value')}")
        return data

    def upload(self, name: str, path: str, notebook: dict) -> None:
        """Save a notebook into the user's home through the contents API (as the user saves it)."""
        self.server(name, "PUT", f"/api/contents/{path}", json={"type": "notebook", "format": "json", "content": notebook})

    def run(self, name: str, code: str, timeout: float = 300) -> KernelResult:
        """Run `code` in a fresh kernel of `name`'s server and return what it printed; the kernel is shut down."""
        kernel = self.server(name, "POST", "/api/kernels", json={"name": KERNEL_NAME}).json()["id"]
        try:
            return self._execute(name, kernel, code, timeout)
        finally:
            self.http.delete(f"{self.hub_url}/user/{name}/api/kernels/{kernel}")

    def _execute(self, name: str, kernel: str, code: str, timeout: float) -> KernelResult:
        import websocket

        url = self.hub_url.replace("http", "ws", 1) + f"/user/{name}/api/kernels/{kernel}/channels"
        ws = websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=timeout)
        try:
            msg_id = uuid.uuid4().hex
            ws.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name,
                           "session": uuid.uuid4().hex, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True},
            }))
            result, deadline = KernelResult(), time.monotonic() + timeout
            while time.monotonic() < deadline:
                ws.settimeout(max(1.0, min(30.0, deadline - time.monotonic())))
                try:
                    msg = json.loads(ws.recv())
                except websocket.WebSocketTimeoutException:
                    continue  # a kernel that died and restarted never answers: the deadline ends the wait
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    result.stdout += content["text"]
                elif kind == "error":
                    result.error = f"{content['ename']}: {content['evalue']}"
                elif kind in ("execute_result", "display_data"):
                    result.outputs.append(content.get("data", {}))
                elif kind == "status" and content["execution_state"] == "idle":
                    return result
            raise ClassServerError(f"code in {name}'s kernel did not finish within {timeout:.0f}s")
        finally:
            ws.close()
