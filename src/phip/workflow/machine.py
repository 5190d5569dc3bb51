"""State machines as data: a lifecycle's states, the transitions between them (each naming the
access-policy action it needs), and the deadlines that fire while a case stays in a state.

A machine is written in a `states.yaml` next to the domain that owns it and loaded with
`load()`; `check()` refuses a machine whose graph is wrong (an unknown state, a transition out
of a final state, a deadline whose transition cannot leave its state), so a mistake fails at
import, not on a user's request.

```yaml
name: bulk-job
zh: 批量任务
en: Bulk job
initial: queued
states:
  queued:    {zh: 排队中, en: Queued, task: requested}
  completed: {zh: 已完成, en: Completed, task: completed, final: false}
transitions:
  start:  {from: [queued], to: running, action: null, zh: 开始, en: Start}
deadlines:
  - {state: completed, after: PT24H, transition: expire}
  - {state: queued, after: PT1H, escalate: bulk-job-stuck}
```
`task` is the FHIR `Task.status` a case in that state has (the machine's own state is
`Task.businessStatus`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

#: FHIR R4 Task.status codes
TASK_STATUSES = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)


class MachineError(ValueError):
    """A machine definition that cannot be right."""


class IllegalTransition(Exception):
    """A transition the case's current state does not allow (409, naming the allowed ones)."""

    def __init__(self, machine: str, state: str, transition: str, allowed: list[str]):
        self.machine, self.state, self.transition, self.allowed = machine, state, transition, allowed
        names = ", ".join(allowed) if allowed else "none (the case is closed)"
        super().__init__(f"{machine}: '{transition}' is not allowed from '{state}'; allowed: {names}")


@dataclass(frozen=True)
class State:
    name: str
    zh: str
    en: str
    task: str
    final: bool = False


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    #: the access-policy action a person needs to take it (None: taken by the platform itself)
    action: str | None
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Deadline:
    state: str
    after: timedelta
    #: the transition taken when it passes, or
    transition: str | None = None
    #: the escalation announced (an outbox event `workflow.escalation`) when it passes
    escalate: str | None = None


@dataclass(frozen=True)
class Machine:
    name: str
    zh: str
    en: str
    initial: str
    states: dict[str, State]
    transitions: dict[str, Transition]
    deadlines: tuple[Deadline, ...] = field(default_factory=tuple)

    def allowed(self, state: str) -> list[str]:
        """The transitions that may be taken from `state`, in definition order."""
        return [t.name for t in self.transitions.values() if state in t.sources]

    def step(self, state: str, transition: str) -> Transition:
        """The transition, if `state` allows it; else IllegalTransition."""
        t = self.transitions.get(transition)
        if t is None or state not in t.sources:
            raise IllegalTransition(self.name, state, transition, self.allowed(state))
        return t

    def deadlines_of(self, state: str) -> list[Deadline]:
        return [d for d in self.deadlines if d.state == state]


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours, minutes and seconds (`P2D`, `PT48H`, `PT90S`)."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT"):
        raise MachineError(f"not an ISO 8601 duration of days/hours/minutes/seconds: {text!r}")
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def from_dict(doc: dict[str, Any]) -> Machine:
    """A machine from its YAML document, checked."""
    try:
        states = {
            name: State(name, str(s["zh"]), str(s["en"]), str(s["task"]), bool(s.get("final", False)))
            for name, s in (doc.get("states") or {}).items()
        }
        transitions = {
            name: Transition(
                name,
                frozenset(t["from"]),
                str(t["to"]),
                t.get("action"),
                str(t.get("zh", "")),
                str(t.get("en", "")),
            )
            for name, t in (doc.get("transitions") or {}).items()
        }
        deadlines = tuple(
            Deadline(str(d["state"]), duration(str(d["after"])), d.get("transition"), d.get("escalate"))
            for d in doc.get("deadlines") or []
        )
        machine = Machine(
            str(doc["name"]),
            str(doc["zh"]),
            str(doc["en"]),
            str(doc["initial"]),
            states,
            transitions,
            deadlines,
        )
    except (KeyError, TypeError) as exc:
        raise MachineError(f"incomplete machine definition: {exc}") from exc
    check(machine)
    return machine


def check(m: Machine) -> None:
    """Refuse a machine whose graph cannot be right."""
    if m.initial not in m.states:
        raise MachineError(f"{m.name}: the initial state {m.initial!r} is not a state")
    for s in m.states.values():
        if s.task not in TASK_STATUSES:
            raise MachineError(f"{m.name}: state {s.name} has Task.status {s.task!r}, not a FHIR code")
    for t in m.transitions.values():
        unknown = (t.sources | {t.target}) - set(m.states)
        if unknown:
            raise MachineError(f"{m.name}: transition {t.name} names unknown states {sorted(unknown)}")
        closed = [s for s in t.sources if m.states[s].final]
        if closed:
            raise MachineError(f"{m.name}: transition {t.name} leaves final states {closed}")
    for d in m.deadlines:
        if d.state not in m.states:
            raise MachineError(f"{m.name}: a deadline names the unknown state {d.state!r}")
        if (d.transition is None) == (d.escalate is None):
            raise MachineError(f"{m.name}: a deadline of {d.state} needs one of transition or escalate")
        if d.transition is not None and d.state not in m.transitions.get(d.transition, _NONE).sources:
            raise MachineError(f"{m.name}: deadline transition {d.transition} cannot leave {d.state}")


_NONE = Transition("", frozenset(), "", None)
_MACHINES: dict[str, Machine] = {}


def load(path: Path | Traversable) -> Machine:
    """Load a `states.yaml` and register its machine (once per name)."""
    machine = from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    old = _MACHINES.get(machine.name)
    if old is not None and old != machine:
        raise MachineError(f"two different machines are named {machine.name}")
    _MACHINES[machine.name] = machine
    return machine


def machine(name: str) -> Machine:
    """A registered machine (the domains' modules are loaded first)."""
    if name not in _MACHINES:
        from phip.store import plugins

        plugins.load()
    return _MACHINES[name]


def machines() -> dict[str, Machine]:
    from phip.store import plugins

    plugins.load()
    return dict(_MACHINES)
