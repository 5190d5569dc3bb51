"""Cases of a lifecycle: each one a FHIR `Task` in the resource store, moved only by the
transitions its machine allows, every move an event with actor, time and reason.

- `open_case()` creates the Task in the machine's initial state; `transition()` moves it. Both
  take an idempotency key (`command_key`): the same key again returns the first result without
  acting twice, and the same key used for another command is refused (`IdempotencyConflict`).
- A transition not allowed from the current state raises `IllegalTransition` (the web answers
  409 with an OperationOutcome naming the allowed ones). A transition that names an access-policy
  action is checked with the caller's `require` before anything changes.
- Entering a state arms its deadlines (`timers.py`); leaving it cancels them.
- Each move is announced in the store's outbox (topic `workflow.transition`), in the same
  transaction, for the domains that follow a lifecycle (notifications, projections).

The Task's `businessStatus` is the machine's state; `status` is the FHIR code the machine maps
it to; `identifier` is `<machine>/<key>`; `code` names the machine; `focus`, `for` and `owner`
point at what the case is about, the resident and the facility that holds it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from phip.store import outbox
from phip.store.codec import instant, now_utc
from phip.store.errors import Conflict, NotFound, PreconditionFailed
from phip.store.models import Resource
from phip.store.repository import PLATFORM_IDS, Incoming, Repository
from phip.workflow.machine import Machine, machine
from phip.workflow.models import WorkflowCommand, WorkflowEvent, WorkflowTimer

CASE_SYSTEM = "https://phip.health/fhir/sid/workflow-case"
MACHINE_SYSTEM = "https://phip.health/fhir/CodeSystem/workflow"
STATE_SYSTEM = "https://phip.health/fhir/CodeSystem/workflow-state"
TRANSITION_TOPIC = outbox.declare_topic("workflow.transition")
ESCALATION_TOPIC = outbox.declare_topic("workflow.escalation")
_NS = uuid.UUID("6f1c2b1e-3d6a-4e0f-9a51-0c7d2f4b8e11")


class CaseNotFound(NotFound):
    pass


class IdempotencyConflict(Conflict):
    """An idempotency key already used for another command."""


@dataclass(frozen=True)
class Case:
    machine: str
    key: str
    state: str
    task_id: str
    version: int
    allowed: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "allowed": list(self.allowed)}


def task_id(machine_name: str, key: str) -> str:
    """The Task id of a case: derived from machine and key, so opening is idempotent by itself."""
    return PLATFORM_IDS[0] + uuid.uuid5(_NS, f"{machine_name}/{key}").hex


def get(session: Session, machine_name: str, key: str) -> Case | None:
    """The case, or None (read by the platform: the domain decides who may see a case)."""
    try:
        task = Repository(session).read("Task", task_id(machine_name, key))
    except NotFound:
        return None
    return _case(machine(machine_name), key, task)


def open_case(
    session: Session,
    machine_name: str,
    key: str,
    *,
    actor: str,
    facility: str | None = None,
    org_path: str | None = None,
    focus: str | None = None,
    subject: str | None = None,
    reason: str = "",
    command_key: str | None = None,
    now: datetime | None = None,
) -> Case:
    """Open a case in its machine's initial state (an existing one is returned as it is)."""
    m = machine(machine_name)
    done = _replayed(session, command_key, machine_name, key, "open")
    if done is not None:
        return done
    existing = get(session, machine_name, key)
    if existing is not None:
        return existing
    now = now or now_utc()
    task = _task(m, key, m.initial, now, reason, focus, subject, facility)
    written = Repository(session).create(task, facility=facility, org_path=org_path)
    case = _case(m, key, written.resource)
    _record(session, m, key, "open", "", m.initial, actor, reason, command_key, now)
    _arm(session, m, key, m.initial, now)
    _remember(session, command_key, case, "open", actor, now)
    return case


def open_cases(
    session: Session,
    machine_name: str,
    keys: list[str],
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> int:
    """Open many cases at once (a batch job's output, e.g. the review items of a relink): the
    Tasks through the repository's bulk path, their events, timers and outbox events in bulk.
    Cases that exist already are left as they are. Returns how many were opened."""
    m = machine(machine_name)
    now = now or now_utc()
    existing = set(
        session.scalars(
            select(Resource.res_id).where(
                Resource.res_type == "Task", Resource.res_id.in_([task_id(machine_name, k) for k in keys])
            )
        )
    )
    fresh = [k for k in dict.fromkeys(keys) if task_id(machine_name, k) not in existing]
    if not fresh:
        return 0
    Repository(session).bulk_upsert(
        [Incoming(_task(m, k, m.initial, now, reason, None, None, None)) for k in fresh]
    )
    events = [
        {
            "machine": m.name,
            "case_key": k,
            "transition": "open",
            "from_state": "",
            "to_state": m.initial,
            "actor": actor[:120],
            "reason": reason[:500],
            "command_key": None,
            "at": now,
        }
        for k in fresh
    ]
    session.execute(insert(WorkflowEvent), events)
    timers = [
        {
            "machine": m.name,
            "case_key": k,
            "state": m.initial,
            "due_at": now + d.after,
            "transition": d.transition,
            "escalate": d.escalate,
            "done": False,
            "outcome": "",
        }
        for k in fresh
        for d in m.deadlines_of(m.initial)
    ]
    if timers:
        session.execute(insert(WorkflowTimer), timers)
    outbox.emit_many(
        session,
        (
            (
                TRANSITION_TOPIC,
                f"{m.name}/{k}",
                {"machine": m.name, "case": k, "transition": "open", "to": m.initial},
            )
            for k in fresh
        ),
    )
    return len(fresh)


def transition(
    session: Session,
    machine_name: str,
    key: str,
    name: str,
    *,
    actor: str,
    reason: str = "",
    command_key: str | None = None,
    require: Callable[[str], Any] | None = None,
    now: datetime | None = None,
) -> Case:
    """Take transition `name` of the case: IllegalTransition when its state does not allow it,
    `require(action)` first when the transition names an access-policy action."""
    m = machine(machine_name)
    done = _replayed(session, command_key, machine_name, key, name)
    if done is not None:
        return done
    repo = Repository(session)
    tid = task_id(machine_name, key)
    row = session.get(Resource, ("Task", tid))
    if row is not None:
        session.refresh(row)  # the committed state, not what this session saw before
    try:
        task = repo.read("Task", tid)
    except NotFound as exc:
        raise CaseNotFound(f"no {machine_name} case {key}") from exc
    before = _state(task)
    t = m.step(before, name)
    if require is not None and t.action:
        require(t.action)
    now = now or now_utc()
    version = int(task["meta"]["versionId"])
    moved = _task(m, key, t.target, now, reason, None, None, None, task)
    try:
        written = repo.update("Task", tid, moved, if_match=version)
    except PreconditionFailed as exc:  # another transition got there first
        raise Conflict(f"{machine_name} case {key} changed meanwhile; read it again") from exc
    case = _case(m, key, written.resource)
    _record(session, m, key, name, before, t.target, actor, reason, command_key, now)
    _disarm(session, machine_name, key)
    _arm(session, m, key, t.target, now)
    _remember(session, command_key, case, name, actor, now)
    return case


def record_moves(
    session: Session,
    machine_name: str,
    moves: list[tuple[str, str, str]],
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> list[str]:
    """Cases kept as a domain's own rows, with no Task: a lifecycle of very many cases moved by
    batch jobs (a quality round verifies and reopens findings by the hundred thousand), where a
    Task per case would multiply the store. Each move `(key, from_state, transition)` is checked
    against the same machine (`IllegalTransition` for the first that is not allowed, before
    anything is recorded) and recorded as an event, in bulk. Returns the states the cases move
    to, in order; the domain writes them to its rows in the same transaction."""
    m = machine(machine_name)
    targets = [m.step(state, name).target for _key, state, name in moves]
    if moves:
        now = now or now_utc()
        session.execute(
            insert(WorkflowEvent),
            [
                {
                    "machine": m.name,
                    "case_key": key,
                    "transition": name,
                    "from_state": state,
                    "to_state": target,
                    "actor": actor[:120],
                    "reason": reason[:500],
                    "command_key": None,
                    "at": now,
                }
                for (key, state, name), target in zip(moves, targets, strict=True)
            ],
        )
    return targets


def history(session: Session, machine_name: str, key: str) -> list[dict[str, Any]]:
    """The case's transitions, oldest first."""
    rows = session.scalars(
        select(WorkflowEvent)
        .where(WorkflowEvent.machine == machine_name, WorkflowEvent.case_key == key)
        .order_by(WorkflowEvent.id)
    )
    return [
        {
            "transition": e.transition,
            "from": e.from_state,
            "to": e.to_state,
            "actor": e.actor,
            "reason": e.reason,
            "at": instant(e.at),
        }
        for e in rows
    ]


# ---- the Task ------------------------------------------------------------------------------------


def _state(task: dict[str, Any]) -> str:
    for c in (task.get("businessStatus") or {}).get("coding") or []:
        if str(c.get("system", "")).startswith(STATE_SYSTEM):
            return str(c["code"])
    raise Conflict(f"Task/{task.get('id')} carries no workflow state")


def _case(m: Machine, key: str, task: dict[str, Any]) -> Case:
    state = _state(task)
    return Case(m.name, key, state, task["id"], int(task["meta"]["versionId"]), tuple(m.allowed(state)))


def _task(
    m: Machine,
    key: str,
    state: str,
    now: datetime,
    reason: str,
    focus: str | None,
    subject: str | None,
    facility: str | None,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    s = m.states[state]
    if current is not None:
        task = {k: v for k, v in current.items() if k not in ("meta", "statusReason")}
    else:
        task = {
            "resourceType": "Task",
            "id": task_id(m.name, key),
            "identifier": [{"system": CASE_SYSTEM, "value": f"{m.name}/{key}"}],
            "intent": "order",
            "code": {"coding": [{"system": MACHINE_SYSTEM, "code": m.name, "display": m.zh}], "text": m.en},
            "authoredOn": instant(now),
        }
        if focus:
            task["focus"] = {"reference": focus}
        if subject:
            task["for"] = {"reference": subject}
        if facility:
            task["owner"] = {"reference": f"Organization/{facility}"}
    task["status"] = s.task
    task["businessStatus"] = {
        "coding": [{"system": f"{STATE_SYSTEM}/{m.name}", "code": state, "display": s.zh}],
        "text": s.en,
    }
    task["lastModified"] = instant(now)
    if reason:
        task["statusReason"] = {"text": reason[:500]}
    return task


# ---- events, commands, timers --------------------------------------------------------------------


def _record(
    session: Session,
    m: Machine,
    key: str,
    name: str,
    before: str,
    after: str,
    actor: str,
    reason: str,
    command_key: str | None,
    now: datetime,
) -> None:
    session.add(
        WorkflowEvent(
            machine=m.name,
            case_key=key,
            transition=name,
            from_state=before,
            to_state=after,
            actor=actor[:120],
            reason=reason[:500],
            command_key=command_key,
            at=now,
        )
    )
    payload = {"machine": m.name, "case": key, "transition": name, "from": before, "to": after}
    outbox.emit(session, TRANSITION_TOPIC, f"{m.name}/{key}", payload)


def _replayed(
    session: Session, command_key: str | None, machine_name: str, key: str, name: str
) -> Case | None:
    """The stored result of a command already carried out under `command_key`."""
    if not command_key:
        return None
    done = session.get(WorkflowCommand, command_key)
    if done is None:
        return None
    if (done.machine, done.case_key, done.transition) != (machine_name, key, name):
        raise IdempotencyConflict(f"the idempotency key {command_key[:40]} was used for another command")
    data = orjson.loads(done.result)
    return Case(**{**data, "allowed": tuple(data["allowed"])})


def _remember(
    session: Session, command_key: str | None, case: Case, name: str, actor: str, now: datetime
) -> None:
    if command_key:
        session.add(
            WorkflowCommand(
                key=command_key[:120],
                machine=case.machine,
                case_key=case.key,
                transition=name,
                actor=actor[:120],
                result=orjson.dumps(case.as_dict()).decode(),
                at=now,
            )
        )
    session.flush()


def _arm(session: Session, m: Machine, key: str, state: str, now: datetime) -> None:
    for d in m.deadlines_of(state):
        session.add(
            WorkflowTimer(
                machine=m.name,
                case_key=key,
                state=state,
                due_at=now + d.after,
                transition=d.transition,
                escalate=d.escalate,
                done=False,
                outcome="",
            )
        )


def _disarm(session: Session, machine_name: str, key: str) -> None:
    session.execute(
        update(WorkflowTimer)
        .where(
            WorkflowTimer.machine == machine_name,
            WorkflowTimer.case_key == key,
            WorkflowTimer.done.is_(False),
        )
        .values(done=True, outcome="cancelled")
    )
