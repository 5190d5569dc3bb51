"""In-process scoring of a record pair with a trained model: the weights Splink would use, read
once from the model, applied to the Python comparison levels (`compare.py`). Real-time matching
scores candidates with it, without a round trip through Splink or DuckDB; a test checks it gives
Splink's match weights.

Weights: the prior log2(λ/(1−λ)) plus, per comparison, the level's log2(m/u); for levels with a
term-frequency adjustment, plus w·(log2 u_exact − log2 max(tf_l, tf_r)), where tf is the value's
relative frequency among the records the model was trained on (as Splink computes it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from phip.identity.compare import MISSING, compare
from phip.identity.person import Person


def tf_value(p: Person, column: str) -> str | None:
    """The value of a term-frequency column for a record (the feature table's column)."""
    if column == "name":
        return p.name or None
    if column == "pinyin":
        return p.pinyin or None
    if column == "birth":
        return p.birth_any or None
    raise KeyError(column)


def term_frequencies(people: Iterable[Person], columns: Iterable[str]) -> dict[str, dict[str, float]]:
    """Relative frequency of each value among the records that have one, per column."""
    cols = list(columns)
    counts: dict[str, Counter[str]] = {c: Counter() for c in cols}
    for p in people:
        for c in cols:
            v = tf_value(p, c)
            if v is not None:
                counts[c][v] += 1
    return {
        c: {v: n / total for v, n in cnt.items()} for c, cnt in counts.items() if (total := sum(cnt.values()))
    }


@dataclass
class TfRule:
    column: str
    weight: float
    log2_u_exact: float
    min_u: float


@dataclass
class Scorer:
    prior: float  # match weight of the prior λ
    weights: dict[str, dict[str, float]]  # comparison → level → log2(m/u)
    tf_rules: dict[tuple[str, str], TfRule] = field(default_factory=dict)
    tf: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: dict[str, Any], tf: dict[str, dict[str, float]] | None = None) -> Scorer:
        from splink.internals.settings_creator import SettingsCreator

        core = SettingsCreator.from_path_or_dict(model).get_settings("duckdb").core_model_settings
        lam = core.probability_two_random_records_match
        weights: dict[str, dict[str, float]] = {}
        rules: dict[tuple[str, str], TfRule] = {}
        for comp in core.comparisons:
            name = comp.output_column_name
            levels = comp.comparison_levels
            weights[name] = {}
            for lvl in levels:
                label = lvl.label_for_charts
                mw = lvl._match_weight
                weights[name][label] = 0.0 if lvl.is_null_level or mw is None else float(mw)
                if lvl._has_tf_adjustments and not lvl.is_null_level and lvl._tf_adjustment_weight:
                    rules[(name, label)] = TfRule(
                        lvl._tf_adjustment_input_column_name,
                        float(lvl._tf_adjustment_weight),
                        math.log2(lvl._u_probability_corresponding_to_exact_match(levels)),
                        float(lvl._tf_minimum_u_value),
                    )
        return cls(math.log2(lam / (1 - lam)), weights, rules, tf or {})

    def score(
        self, a: Person, b: Person, shared_phones: Container[str] = frozenset()
    ) -> tuple[float, float, dict[str, str]]:
        """(match weight, match probability, levels) of a pair."""
        levels = compare(a, b, shared_phones)
        w = self.prior
        for comp, level in levels.items():
            if level == MISSING:
                continue
            w += self.weights[comp][level]
            rule = self.tf_rules.get((comp, level))
            if rule is not None:
                table = self.tf.get(rule.column, {})
                va, vb = tf_value(a, rule.column), tf_value(b, rule.column)
                # Splink: greatest(coalesce(tf_l, tf_r), coalesce(tf_r, tf_l), minimum)
                found = [f for f in (table.get(va or ""), table.get(vb or "")) if f is not None]
                if found:
                    u = max(*found, rule.min_u)
                    w += rule.weight * (rule.log2_u_exact - math.log2(u))
        return w, probability(w), levels


def probability(weight: float) -> float:
    bf = 2.0**weight if weight < 1000 else math.inf
    return 1.0 if bf == math.inf else bf / (1 + bf)
