"""An interrupted long job, for the tests of resuming: a progress callback that fails on its n-th
call, as a crash or a stopped session would cut a run short."""

from __future__ import annotations


class Crash(Exception):
    """The interruption (not an error of the code under test)."""


class CrashAfter:
    """A progress callback (any arguments) that raises `Crash` on its n-th call."""

    def __init__(self, n: int):
        self.n, self.calls = n, 0

    def __call__(self, *_progress: object) -> None:
        self.calls += 1
        if self.calls == self.n:
            raise Crash
