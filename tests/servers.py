"""Starting and stopping local servers in tests: free ports, readiness polling, clean shutdown.

The logic lives in `mlops_course.serving` (Lab 04 uses it too); tests import it from here.
"""

from mlops_course.serving import free_port, running, serve_app, stop_group, wait_for

__all__ = ["free_port", "running", "serve_app", "stop_group", "wait_for"]
