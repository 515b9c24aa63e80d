"""The limits a submission is graded under: their one home, with their defaults.

Kept apart from the sandbox that enforces them (`grading.sandbox`, which needs jupyter_client) so
that the command line can show the defaults without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Times in seconds, sizes in bytes."""

    cell_timeout: int = 120
    notebook_timeout: int = 1800
    memory_bytes: int = 4 * 2**30
    max_processes: int = 128
    max_file_bytes: int = 2 * 2**30
    max_output_bytes: int = 2 * 2**20
    # Threads of the numerical libraries (OpenMP, BLAS) in each kernel; 0: their own default.
    # A batch sets it to its share of the cores: more would only make the kernels fight for them.
    threads: int = 0
