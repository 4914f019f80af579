"""A job table for the scheduler's process tests: one job every second, so periods are seconds.

Each run appends "<pid> <now>" to the file named by SCHEDULER_TEST_TICKS: the job_runs rows say
which runs were claimed, this file says which ones actually ran, and the tests compare the two.
"""

from __future__ import annotations

import os
from datetime import datetime

from jobs.runner import Job, every


def tick(*, now: datetime) -> int:
    # One short write with O_APPEND: lines from two processes never interleave.
    with open(os.environ["SCHEDULER_TEST_TICKS"], "a", encoding="utf-8") as ticks:
        ticks.write(f"{os.getpid()} {now.isoformat()}\n")
    return 1


JOBS = (Job("tick", every(seconds=1), tick),)
