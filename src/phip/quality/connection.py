"""Facility connection: which facilities are connected to the platform, by type and county, when
each last sent a batch and how many days before the judging day that was, and its reporting
rate (batches received and on time of those owed over the last twelve months: DHIS2's reporting
rates) (the connection board).

Connection status comes from the facility registry (the operational database, the source of
truth); submissions from the lake's `submission_batch` table (one row per received batch): when
the facility sent it (the records' own time), not when the platform loaded it, so a bulk load of
a year's data shows each facility's real lag.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from phip.lake.manifest import LakeError
from phip.lake.reader import open_duckdb
from phip.orgunits.models import Facility, OrgUnit
from phip.standards.facility import BY_CODE, TIERS


@dataclass(frozen=True)
class FacilityStatus:
    code: str
    name: str
    type_code: str
    tier: str
    county: str
    connected: bool
    connected_since: date | None
    last_submission: datetime | None
    batches: int
    records: int
    #: batches owed, received and received on time over the last twelve months due
    owed: int = 0
    received: int = 0
    on_time: int = 0

    @property
    def reporting_rate(self) -> float | None:
        return self.received / self.owed if self.owed else None

    @property
    def timeliness(self) -> float | None:
        return self.on_time / self.owed if self.owed else None

    def lag_days(self, today: date) -> int | None:
        if self.last_submission is None:
            return None
        return (today - self.last_submission.date()).days


def last_submissions(lake: Path) -> dict[str, tuple[datetime, int, int]]:
    """facility → (when it last sent a batch, batches, records) from the lake; empty without a
    lake. A batch's time is when the facility sent it (its records' `meta.lastUpdated`), or when
    the platform received it where the records do not say."""
    try:
        con, _ = open_duckdb(lake)
    except LakeError:
        return {}
    rows = con.execute(
        "SELECT facility, max(coalesce(last_sent, finished_at)), count(*), sum(records) "
        "FROM submission_batch WHERE facility IS NOT NULL GROUP BY facility"
    ).fetchall()
    con.close()
    out = {}
    for fac, sent, n, records in rows:
        if sent:
            at = datetime.fromisoformat(str(sent).replace("Z", "+00:00"))
            out[fac] = (at if at.tzinfo else at.replace(tzinfo=UTC), int(n), int(records or 0))
    return out


def reporting_last_year(lake: Path, as_of: date) -> dict[str, tuple[int, int, int]]:
    """facility → (batches owed, received, on time) over the twelve months last due by `as_of`."""
    import duckdb

    from phip.analytics.reporting import due_through, facility_months
    from phip.lake.manifest import read_manifest

    manifest = read_manifest(lake)
    if manifest is None or "facility" not in manifest.tables:
        return {}
    last = due_through(as_of)
    index = int(last[:4]) * 12 + int(last[5:]) - 1 - 11
    first = f"{index // 12:04d}-{index % 12 + 1:02d}"
    con = duckdb.connect()
    try:
        facility_months(con, lake, manifest, as_of)
        rows = con.execute(
            "SELECT code, count(*), count(*) FILTER (WHERE received), count(*) FILTER (WHERE on_time) "
            "FROM owed WHERE month >= ? GROUP BY code",
            [first],
        ).fetchall()
    finally:
        con.close()
    return {code: (int(o), int(r), int(t)) for code, o, r, t in rows}


def records_received(lake: Path, since: datetime, facilities: list[str] | None = None) -> int:
    """Records in the batches received since `since` (all facilities, or these), from the lake."""
    try:
        con, _ = open_duckdb(lake)
    except LakeError:
        return 0
    sql = "SELECT coalesce(sum(records), 0) FROM submission_batch WHERE finished_at >= ?"
    params: list[object] = [since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    if facilities is not None:
        sql += " AND list_contains(?::VARCHAR[], facility)"
        params.append(facilities)
    row = con.execute(sql, params).fetchone()
    con.close()
    return int(row[0]) if row else 0


def facilities(
    session: Session, lake: Path, path_prefix: str | None = None, as_of: date | None = None
) -> list[FacilityStatus]:
    """Every facility under `path_prefix` (None: the province), with its last submission and its
    reporting over the last twelve months due by `as_of` (today unless given)."""
    q = select(Facility).order_by(Facility.county_code, Facility.tier, Facility.code)
    if path_prefix:
        q = q.where(Facility.path.startswith(path_prefix, autoescape=True))
    sent = last_submissions(lake)
    reported = reporting_last_year(lake, as_of or date.today())
    out = []
    for f in session.scalars(q):
        last = sent.get(f.code)
        out.append(
            FacilityStatus(
                f.code,
                f.name,
                f.type_code,
                f.tier,
                f.county_code,
                bool(f.connected),
                f.connected_since,
                last[0] if last else None,
                last[1] if last else 0,
                last[2] if last else 0,
                *reported.get(f.code, (0, 0, 0)),
            )
        )
    return out


def board(session: Session, statuses: list[FacilityStatus], lang: str = "zh") -> dict[str, Any]:
    """Connected / total by facility type and by county × tier, with county names."""
    by_type: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    by_county: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for s in statuses:
        by_type[s.type_code][1] += 1
        by_type[s.type_code][0] += s.connected
        by_type[s.type_code][2] += s.owed
        by_type[s.type_code][3] += s.received
        by_type[s.type_code][4] += s.on_time
        by_county[s.county][s.tier][1] += 1
        by_county[s.county][s.tier][0] += s.connected
    names = dict(
        session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code.in_(list(by_county)))).all()
    )
    zh = lang == "zh"
    types = [
        {
            "type": code,
            "name": (BY_CODE[code].name_zh if zh else BY_CODE[code].name_en) if code in BY_CODE else code,
            "connected": c,
            "total": t,
            "rate": c / t if t else None,
            "reporting_rate": received / owed if owed else None,
            "timeliness": on_time / owed if owed else None,
        }
        for code, (c, t, owed, received, on_time) in sorted(by_type.items())
    ]
    counties = [
        {
            "county": county,
            "name": names.get(county, county),
            "tiers": {tier: {"connected": v[0], "total": v[1]} for tier, v in tiers.items()},
            "connected": sum(v[0] for v in tiers.values()),
            "total": sum(v[1] for v in tiers.values()),
        }
        for county, tiers in sorted(by_county.items())
    ]
    tiers = [{"tier": k, "name": v[0] if zh else v[1]} for k, v in TIERS.items()]
    return {"types": types, "counties": counties, "tiers": tiers}
