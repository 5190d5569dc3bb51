"""The workflow layer the services share: state machines as data (`machine.py`), cases as FHIR
`Task`s moved by allowed transitions with events and idempotency keys (`cases.py`), deadline
timers that survive a restart (`timers.py`)."""

from phip.workflow.cases import (
    Case,
    CaseNotFound,
    IdempotencyConflict,
    get,
    history,
    open_case,
    open_cases,
    record_moves,
    transition,
)
from phip.workflow.machine import IllegalTransition, Machine, MachineError, load, machine, machines
from phip.workflow.timers import fire_due

__all__ = [
    "Case",
    "CaseNotFound",
    "IdempotencyConflict",
    "IllegalTransition",
    "Machine",
    "MachineError",
    "fire_due",
    "get",
    "history",
    "load",
    "machine",
    "machines",
    "open_case",
    "open_cases",
    "record_moves",
    "transition",
]
