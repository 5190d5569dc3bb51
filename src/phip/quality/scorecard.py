"""Scorecards: the facility scores of a round rolled up to townships, counties, prefectures and
the province (from the sums of weighted failures and checked records, `score.py`), as league
tables (worst first), and one unit's trend over the rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.lake.reader import open_duckdb
from phip.quality.models import QualityRound, QualityScore
from phip.quality.score import Tally, roll_up
from phip.quality.service import facility_registry, latest_round

LEVELS = ("facility", "township", "county", "prefecture", "province")
_LEVEL_INDEX = {"township": 0, "county": 1, "prefecture": 2, "province": 3}


def _tallies(session: Session, round_id: int) -> dict[str, Tally]:
    q = select(QualityScore).where(QualityScore.round_id == round_id)
    return {
        s.facility: Tally.from_json(orjson.loads(s.dimensions), s.records, s.findings)
        for s in session.scalars(q)
    }


def _names(lake: Path) -> dict[str, str]:
    con, _ = open_duckdb(lake)
    names = dict(con.sql("SELECT code, name FROM org_unit").fetchall())
    names.update(dict(con.sql("SELECT code, name FROM facility").fetchall()))
    con.close()
    return names


def unit_tallies(
    session: Session,
    lake: Path,
    level: str,
    round_id: int,
    units: dict[str, list[str | None]] | None = None,
) -> dict[str, Tally]:
    """Tallies of the units at `level`; `units` (facility → its units) is read from the lake
    when not given."""
    tallies = _tallies(session, round_id)
    if level == "facility":
        return tallies
    if units is None:
        _, units = facility_registry(lake)
    i = _LEVEL_INDEX[level]
    return roll_up(tallies, {fac: [u[i]] for fac, u in units.items()})


def scorecard(
    session: Session,
    lake: Path,
    level: str = "county",
    round_id: int | None = None,
    within: set[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per unit at `level` (only `within`, when given), worst score first."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    if round_id is None:
        latest = latest_round(session)
        if latest is None:
            return []
        round_id = latest.id
    names = _names(lake)
    rows = []
    for unit, t in unit_tallies(session, lake, level, round_id).items():
        if within is not None and unit not in within:
            continue
        score = t.score()
        if score is None:
            continue
        rows.append(
            {
                "unit": unit,
                "name": names.get(unit),
                "level": level,
                "round": round_id,
                "score": score,
                "dimensions": t.dimension_scores(),
                "records": t.records,
                "findings": t.findings,
            }
        )
    rows.sort(key=lambda r: (r["score"], r["unit"]))
    for rank, r in enumerate(rows, 1):
        r["rank"] = rank
    return rows


def trend(session: Session, lake: Path, level: str, unit: str) -> list[dict[str, Any]]:
    """The unit's score in every finished round, oldest first."""
    rounds = session.scalars(
        select(QualityRound).where(QualityRound.finished_at.is_not(None)).order_by(QualityRound.id)
    ).all()
    _, units = facility_registry(lake)  # once, not per round
    out = []
    for rnd in rounds:
        t = unit_tallies(session, lake, level, rnd.id, units).get(unit)
        if t is not None and t.score() is not None:
            out.append(
                {
                    "round": rnd.id,
                    "at": rnd.started_at.isoformat(),
                    "score": t.score(),
                    "findings": t.findings,
                }
            )
    return out
