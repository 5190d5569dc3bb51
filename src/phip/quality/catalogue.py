"""The rule catalogue as data (`data/rules.yaml`), loaded and checked."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

#: the six dimensions: Chinese name, weight in a facility's overall score, and the weighted share
#: of failing records at which the dimension's score reaches 0 (records: 10 %; monthly batches,
#: of which a facility has twelve a year: all of them)
DIMENSIONS: dict[str, tuple[str, float, float]] = {
    "conformance": ("规范性", 0.2, 0.1),
    "completeness": ("完整性", 0.2, 0.1),
    "accuracy": ("准确性", 0.2, 0.1),
    "consistency": ("一致性", 0.2, 0.1),
    "uniqueness": ("唯一性", 0.1, 0.1),
    "timeliness": ("时效性", 0.1, 1.0),
}
SEVERITIES = ("error", "warning", "info")
TIERS = ("hospital", "primary", "village")
#: what a record of each resource kind a rule names is counted against (the records checked)
RESOURCES = ("any", "Patient", "Encounter", "Condition", "Observation", "Submission")
#: what an incremental round re-checks of a rule: the changed partitions, the changed counties, all
SCOPES = ("record", "facility", "all")


class RuleError(ValueError):
    """The catalogue is inconsistent."""


@dataclass(frozen=True)
class Rule:
    id: str
    title: dict[str, str]
    dimension: str
    severity: str
    resource: str
    element: str
    source: str  # a lake table or a SELECT
    where: str
    value: str
    hint: dict[str, str]
    weight: dict[str, float]
    detects: tuple[str, ...] = ()
    personal: bool = False
    scope: str = "all"

    def weight_at(self, tier: str | None) -> float:
        return self.weight.get(tier or "", 1.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "dimension": self.dimension,
            "severity": self.severity,
            "resource": self.resource,
            "element": self.element,
            "weight": {t: self.weight_at(t) for t in TIERS},
            "hint": self.hint,
            "detects": list(self.detects),
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Catalogue:
    version: int
    deadline_day: int
    rules: tuple[Rule, ...]
    digest: str

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _from(raw: Any, rid: str, sources: dict[str, str]) -> str:
    """A rule's `from`: a table, a SELECT, or {source: NAME, param: value…} naming a shared query
    of the catalogue's `sources` whose {param} placeholders are filled in."""
    if not isinstance(raw, dict):
        return str(raw).strip()
    name = raw.get("source")
    if name not in sources:
        raise RuleError(f"rule {rid}: unknown source {name!r}")
    sql = sources[name]
    for key, value in raw.items():
        if key != "source":
            if not str(value).replace("_", "").isalnum():
                raise RuleError(f"rule {rid}: parameter {key} must be a column name")
            sql = sql.replace("{" + key + "}", str(value))
    return sql.strip()


def _rule(raw: dict[str, Any], sources: dict[str, str]) -> Rule:
    rid = str(raw.get("id", ""))
    for key in (
        "id",
        "title",
        "dimension",
        "severity",
        "resource",
        "element",
        "from",
        "where",
        "value",
        "hint",
    ):
        if key not in raw:
            raise RuleError(f"rule {rid or '?'}: {key} is missing")
    if raw["dimension"] not in DIMENSIONS:
        raise RuleError(f"rule {rid}: unknown dimension {raw['dimension']!r}")
    if raw["severity"] not in SEVERITIES:
        raise RuleError(f"rule {rid}: unknown severity {raw['severity']!r}")
    if raw["resource"] not in RESOURCES:
        raise RuleError(f"rule {rid}: resource must be one of {', '.join(RESOURCES)}")
    for key in ("title", "hint"):
        if set(raw[key]) != {"zh", "en"}:
            raise RuleError(f"rule {rid}: {key} needs zh and en")
    if raw.get("scope", "all") not in SCOPES:
        raise RuleError(f"rule {rid}: scope must be one of {', '.join(SCOPES)}")
    weight = {str(k): float(v) for k, v in (raw.get("weight") or {}).items()}
    if set(weight) - set(TIERS) or any(v < 0 for v in weight.values()):
        raise RuleError(f"rule {rid}: weights are given per tier ({', '.join(TIERS)}), not negative")
    return Rule(
        id=rid,
        title=dict(raw["title"]),
        dimension=raw["dimension"],
        severity=raw["severity"],
        resource=raw["resource"],
        element=str(raw["element"]),
        source=_from(raw["from"], rid, sources),
        where=str(raw["where"]).strip(),
        value=str(raw["value"]).strip(),
        hint=dict(raw["hint"]),
        weight=weight,
        detects=tuple(raw.get("detects") or ()),
        personal=bool(raw.get("personal", False)),
        scope=str(raw.get("scope", "all")),
    )


def parse(text: str) -> Catalogue:
    data = yaml.safe_load(text)
    sources = {str(k): str(v) for k, v in (data.get("sources") or {}).items()}
    rules = tuple(_rule(r, sources) for r in data["rules"])
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise RuleError("rule ids must be unique")
    return Catalogue(
        version=int(data["version"]),
        deadline_day=int(data.get("deadline_day", 10)),
        rules=rules,
        digest=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


@cache
def catalogue() -> Catalogue:
    return parse((resources.files("phip.quality") / "data" / "rules.yaml").read_text(encoding="utf-8"))
