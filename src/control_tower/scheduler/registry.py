"""What features hand the scheduler: jobs, each with a schedule and a body that gets its slot.

Each feature's `tasks.py` builds its jobs; the app adds them to one `JobRegistry` and gives it to
the `Scheduler`. A job's name keys its row in `scheduled_jobs`, so names are unique.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from control_tower.scheduler.schedules import Schedule

MAX_JOB_NAME = 128  # the width of scheduled_jobs.name


@dataclass(frozen=True)
class Slot:
    """The scheduled instant (UTC) a run is for. `late` when catch-up runs it after a later
    slot was already due: a digest may then say "yesterday's", a reminder may skip itself."""

    at: datetime
    late: bool = False


@dataclass(frozen=True)
class Job:
    """`run(slot)` is called once per slot it is due for.

    With `catch_up`, slots missed while CT was down each run, oldest first; without, only the
    latest does. Job bodies key their effects by `slot.at`, so a slot run twice does its work once.
    """

    name: str
    schedule: Schedule
    run: Callable[[Slot], object]
    catch_up: bool = False

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= MAX_JOB_NAME:
            raise ValueError(f"a job name has 1 … {MAX_JOB_NAME} characters: {self.name!r}")


class JobRegistry:
    """The jobs one scheduler runs, in the order they were added."""

    def __init__(self, jobs: Iterable[Job] = ()) -> None:
        self._jobs: dict[str, Job] = {}
        for job in jobs:
            self.add(job)

    def add(self, job: Job) -> None:
        if job.name in self._jobs:
            raise ValueError(f"job {job.name!r} is already registered")
        self._jobs[job.name] = job

    def __iter__(self) -> Iterator[Job]:
        return iter(list(self._jobs.values()))

    def __len__(self) -> int:
        return len(self._jobs)
