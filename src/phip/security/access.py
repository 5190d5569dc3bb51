"""The access policy, and one `Access` per request that applies it.

Every role and every action the platform offers is data (`data/policy.yaml`; services add their
own actions with `register()`): an action names the roles that may use it and whether the
caller's *records* scope (identified records: province, subtree, facility, own, none) or *area*
scope (aggregates: province, subtree, facility, none) applies. Faces (the API, the console, the
CLI) never name a role: they ask an `Access` built for the caller whether an action is allowed
(`allows`), demand it (`require`, which writes every denial to the audit log itself), get the
repository already scoped to the caller (`repo`), the org units in scope (`units`, `sees_unit`,
`sees_facility`), and record what was done (`log`). `docs/access.md` is generated from the
policy (`python -m phip.security.access`); a test keeps it true.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.security import audit
from phip.security.principals import Principal
from phip.store.repository import Repository, Scope

POLICY = Path(__file__).parent / "data" / "policy.yaml"
RECORD_SCOPES = ("province", "subtree", "facility", "own", "none")
AREA_SCOPES = ("province", "subtree", "facility", "none")
#: a scope that matches no record (no facility code has a tilde)
NO_RECORDS = Scope(facility="~no-records~")


class PolicyError(ValueError):
    """The policy file is not well formed."""


class Denied(Exception):
    """The caller may not do this (already audited): the faces answer 403."""

    def __init__(self, action: str, detail: str):
        super().__init__(detail)
        self.action, self.detail = action, detail


@dataclass(frozen=True)
class Role:
    name: str
    zh: str
    en: str
    kind: str  # staff / facility / resident: the kind of account that holds it
    records: str
    area: str
    needs: str | None = None  # facility / org_unit: what an account of this role must name
    care: bool = False

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Action:
    name: str
    zh: str
    en: str
    scope: str  # records / area
    roles: frozenset[str]
    denied: str

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass
class Policy:
    roles: dict[str, Role]
    actions: dict[str, Action]

    def action(self, name: str) -> Action:
        try:
            return self.actions[name]
        except KeyError:
            raise PolicyError(f"no action {name!r} in the access policy") from None

    def role(self, name: str) -> Role | None:
        return self.roles.get(name)

    def roles_of(self, kind: str) -> list[str]:
        return [r.name for r in self.roles.values() if r.kind == kind]


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(f"{where}: `{key}` must be a non-empty text")
    return value


def _roles(raw: Any) -> dict[str, Role]:
    if not isinstance(raw, dict):
        raise PolicyError("`roles` must be a mapping")
    out = {}
    for name, r in raw.items():
        where = f"role {name}"
        if not isinstance(r, dict):
            raise PolicyError(f"{where} must be a mapping")
        records, area = _text(r, "records", where), _text(r, "area", where)
        if records not in RECORD_SCOPES or area not in AREA_SCOPES:
            raise PolicyError(f"{where}: records one of {RECORD_SCOPES}, area one of {AREA_SCOPES}")
        kind = _text(r, "kind", where)
        if kind not in ("staff", "facility", "resident"):
            raise PolicyError(f"{where}: kind must be staff, facility or resident")
        needs = r.get("needs")
        if needs not in (None, "facility", "org_unit"):
            raise PolicyError(f"{where}: needs must be facility or org_unit")
        out[name] = Role(
            name,
            _text(r, "zh", where),
            _text(r, "en", where),
            kind,
            records,
            area,
            needs,
            bool(r.get("care")),
        )
    return out


def _actions(raw: Any, roles: dict[str, Role], known: dict[str, Action]) -> dict[str, Action]:
    if not isinstance(raw, dict):
        raise PolicyError("`actions` must be a mapping")
    out = {}
    for name, a in raw.items():
        where = f"action {name}"
        if name in known:
            raise PolicyError(f"{where} is declared twice")
        if not isinstance(a, dict) or not isinstance(a.get("roles"), list):
            raise PolicyError(f"{where} must be a mapping with a list of roles")
        unknown = [r for r in a["roles"] if r not in roles]
        if unknown:
            raise PolicyError(f"{where}: unknown roles {unknown}")
        scope = _text(a, "scope", where)
        if scope not in ("records", "area"):
            raise PolicyError(f"{where}: scope must be records or area")
        label = _text(a, "en", where)
        out[name] = Action(
            name,
            _text(a, "zh", where),
            label,
            scope,
            frozenset(a["roles"]),
            str(a.get("denied") or f"this role may not use: {label}"),
        )
    return out


def load(path: Path = POLICY) -> Policy:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise PolicyError(f"{path.name} must be a mapping")
    roles = _roles(raw.get("roles"))
    return Policy(roles, _actions(raw.get("actions"), roles, {}))


@cache
def policy() -> Policy:
    """The platform's policy (loaded once; `register` adds to it)."""
    return load()


def register(path: Path) -> list[str]:
    """Add a service's actions (a file with an `actions:` mapping over the platform's roles)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    current = policy()
    added = _actions((raw or {}).get("actions"), current.roles, current.actions)
    current.actions.update(added)
    return sorted(added)


# -- one request's access ------------------------------------------------------------------------


@dataclass(frozen=True)
class Area:
    """The org units whose aggregates a caller sees: the province, a subtree (`path`, the path of
    `unit`) or one facility."""

    kind: str  # province / subtree / facility / none
    unit: str | None = None
    path: str | None = None
    facility: str | None = None


class Access:
    """What one caller may do, asked by every face; denials are audited here."""

    def __init__(self, who: Principal, session: Session, province: str):
        self.who, self.session, self.province = who, session, province
        self.policy = policy()
        self.role = self.policy.role(who.role)

    @property
    def actor(self) -> str:
        return self.who.actor

    @property
    def kind(self) -> str:
        return self.who.kind

    @property
    def role_name(self) -> str:
        """The role's code, for the domain functions that record it."""
        return self.who.role

    def role_label(self, lang: str) -> str:
        return self.role.label(lang) if self.role is not None else self.who.role

    # -- actions

    def allows(self, action: str) -> bool:
        act = self.policy.action(action)
        return self.role is not None and self.role.kind == self.who.kind and self.who.role in act.roles

    def allowed(self, actions: Iterable[str]) -> list[str]:
        return [a for a in actions if self.allows(a)]

    def require(self, action: str, verb: str | None = None, target: str = "") -> None:
        """Go on if the caller may use `action`; else audit the denial (as `verb`, the name the
        audit log knows the interaction by) and raise `Denied`."""
        act = self.policy.action(action)
        if not self.allows(action):
            self.deny(action, verb, target, act.denied)
        if act.scope == "records" and self.records_kind() == "facility" and not self.who.facility:
            self.deny(action, verb, target, "this account names no facility")

    def deny(self, action: str, verb: str | None, target: str, detail: str) -> None:
        """Audit a denial (committed at once, whatever the request does next) and raise."""
        audit.record(
            self.session, self.actor, self.who.role, verb or action, (target or action)[:200], "denied"
        )
        self.session.commit()
        raise Denied(action, detail)

    def log(self, verb: str, target: str, outcome: str = "ok", detail: str = "") -> None:
        """Record an interaction in the audit log, in the caller's transaction."""
        audit.record(self.session, self.actor, self.who.role, verb, target[:200], outcome, detail)

    # -- identified records

    def records_kind(self) -> str:
        if self.role is None or self.role.kind != self.who.kind:
            return "none"
        return self.role.records

    def records(self) -> Scope:
        """The records the caller reads, as the repository applies them in SQL."""
        kind = self.records_kind()
        if kind == "own":
            return Scope(patient_ids=self.who.patient_ids or ("-",))
        if kind == "facility":
            return Scope(facility=self.who.facility or "-")
        if kind == "subtree":
            return Scope(org_path=self.who.org_path or "-")
        if kind == "province":
            return Scope()
        return NO_RECORDS

    def repo(self) -> Repository:
        """The repository acting for the caller: it reads within the caller's records, writes
        only as the caller's facility (never another's records) and audits every write here."""
        return Repository(self.session, self.records(), writer=self.writes_as, auditor=self)

    # -- the repository's auditor

    def written(self, verb: str, target: str, outcome: str) -> None:
        self.log(verb, target, outcome)

    def refused(self, verb: str, target: str, outcome: str) -> None:
        """A refused write, committed at once (the request fails after it)."""
        self.log(verb, target, outcome)
        self.session.commit()

    @property
    def writes_as(self) -> str | None:
        """The facility the caller writes as, if it may write records at all."""
        return self.who.facility if self.allows("records.write") else None

    @property
    def org_path(self) -> str | None:
        return self.who.org_path

    @property
    def patient_ids(self) -> tuple[str, ...]:
        return self.who.patient_ids

    @property
    def care(self) -> bool:
        """Whether the caller may see other facilities' records on evidence of care."""
        return self.role is not None and self.role.care

    @property
    def masked(self) -> bool:
        """Personal values are masked for stewards above a facility (they decide on links,
        not on care)."""
        return self.records_kind() != "facility"

    # -- aggregates

    def area(self) -> Area:
        kind = "none" if self.role is None or self.role.kind != self.who.kind else self.role.area
        if kind == "province":
            return Area("province", self.province)
        if kind == "facility":
            return Area("facility", None, self.who.org_path, self.who.facility or "-")
        if kind == "subtree":
            path = self.who.org_path or "-"
            return Area("subtree", path.strip("/").rsplit("/", 1)[-1], path)
        return Area("none")

    def units(self) -> set[str] | None:
        """The org units and facilities the caller may see (None: all of them)."""
        from phip.orgunits.models import Facility, OrgUnit

        area = self.area()
        if area.kind == "province":
            return None
        if area.kind == "facility":
            return {area.facility or "-"}
        if area.kind == "none":
            return set()
        units = set(
            self.session.scalars(select(OrgUnit.code).where(OrgUnit.path.startswith(area.path or "-")))
        )
        facs = set(self.session.scalars(select(Facility.code).where(Facility.org_unit_code.in_(units))))
        return units | facs

    def sees_unit(self, code: str) -> bool:
        """Whether an org unit lies in the caller's area (a facility's area has none)."""
        from phip.orgunits.models import OrgUnit

        area = self.area()
        unit = self.session.get(OrgUnit, code)
        if unit is None or area.kind in ("facility", "none"):
            return False
        return area.kind == "province" or unit.path.startswith(area.path or "-")

    def sees_facility(self, code: str) -> bool:
        from phip.orgunits.models import Facility

        area = self.area()
        if area.kind == "facility":
            return code == area.facility
        fac = self.session.get(Facility, code)
        if fac is None or area.kind == "none":
            return False
        return area.kind == "province" or fac.path.startswith(area.path or "-")

    def require_facility(self, action: str, code: str, verb: str | None = None) -> None:
        """`require(action)` and the facility within the caller's area."""
        self.require(action, verb, f"{action}:{code}")
        if not self.sees_facility(code):
            self.deny(action, verb, f"{(verb or action)}:{code}", "this facility is outside your scope")

    def require_unit(self, action: str, code: str, verb: str | None = None) -> None:
        self.require(action, verb, f"{action}:{code}")
        if not (self.sees_unit(code) or self.sees_facility(code)):
            self.deny(action, verb, f"{(verb or action)}:{code}", "this unit is outside your scope")


def reference() -> str:
    """`docs/access.md`: every role and every action with the roles that may use it."""
    pol = policy()
    scope_text = {
        "province": "the province",
        "subtree": "its org unit and below",
        "facility": "its facility",
        "own": "own records",
        "none": "none",
    }
    lines = [
        "# Access policy",
        "",
        "Generated from `src/phip/security/data/policy.yaml` by `python -m phip.security.access`",
        "(a test fails when this page is out of date). Every route of the API and the console",
        "names one of these actions; a caller whose role is not listed gets 403, and the denial",
        "is in the audit log. *Records* is what a role reads of identified records (and writes",
        "as, for writers); *area* is whose aggregates it sees.",
        "",
        "## Roles",
        "",
        "| role | 中文 | English | account | records | area | care relationship |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in pol.roles.values():
        lines.append(
            f"| `{r.name}` | {r.zh} | {r.en} | {r.kind} | {scope_text[r.records]} | {scope_text[r.area]} |"
            f" {'yes' if r.care else ''} |"
        )
    lines += ["", "## Actions", "", "| action | 中文 | English | scope | roles |", "|---|---|---|---|---|"]
    for a in pol.actions.values():
        roles = ", ".join(f"`{r}`" for r in pol.roles if r in a.roles)
        lines.append(f"| `{a.name}` | {a.zh} | {a.en} | {a.scope} | {roles} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(reference())
