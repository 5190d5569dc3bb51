"""What an import reports: the submission's totals (`IngestSummary`), and the tally kept per
facility and batch month (records, accepted, quarantined, when they were sent, their lag)
that is written to `submission_batch` with every commit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from phip.exchange.prepare import Prepared
from phip.store.models import Submission, SubmissionBatch

Progress = Callable[[int], None]

#: the submission's running totals, kept on its row as well as in the summary
TOTALS = ("submitted", "accepted", "quarantined", "created", "updated", "unchanged")


@dataclass
class IngestSummary:
    submission_id: str
    submitted: int = 0
    accepted: int = 0
    quarantined: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    files: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission_id,
            "files": self.files,
            "resumed": self.resumed,
            "reasons": dict(self.reasons.most_common()),
            "warnings": dict(self.warnings.most_common()),
            "submitted": self.submitted,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


class Tally:
    """Per facility and batch month (the month the facility's submission declares in
    `meta.source`, else the record's clinical month): counts, when it was sent, and lag; and
    the submission's lag histogram and the period its records cover."""

    def __init__(self, sub: Submission):
        self.sub = sub
        self.batches: dict[tuple[str, str], list[Any]] = {}
        self.lags: Counter[int] = Counter(
            {int(k): v for k, v in orjson.loads(sub.lag_histogram or "{}").items()}
        )

    def account(self, p: Prepared, accepted: bool) -> None:
        fac, month, when, sent = p.facility, p.month, p.when, p.sent
        if fac is None or month is None:
            return
        st = self.batches.get((fac, month))
        if st is None:
            st = self.batches[(fac, month)] = [0, 0, 0, sent, sent, Counter()]
        st[0] += 1
        st[1 if accepted else 2] += 1
        if sent:
            if not st[3] or sent < st[3]:
                st[3] = sent
            if not st[4] or sent > st[4]:
                st[4] = sent
        if p.lag is not None and when:
            self.lags[p.lag] += 1
            st[5][p.lag] += 1
            sub = self.sub
            if not sub.period_start or when < sub.period_start:
                sub.period_start = when
            if not sub.period_end or when > sub.period_end:
                sub.period_end = when

    def flush(self, session: Session, summary: IngestSummary) -> None:
        """Add the batches tallied since the last flush to their rows and bring the submission's
        totals and lag histogram up to `summary` (the caller commits)."""
        for (fac, month), (n, acc, quar, first, last, lags) in self.batches.items():
            row = session.get(SubmissionBatch, (self.sub.id, fac, month))
            if row is None:
                row = SubmissionBatch(
                    submission_id=self.sub.id,
                    facility=fac,
                    month=month,
                    records=0,
                    accepted=0,
                    quarantined=0,
                    first_sent=first,
                    last_sent=last,
                    lag_histogram="{}",
                )
                session.add(row)
            row.records += n
            row.accepted += acc
            row.quarantined += quar
            if first:
                row.first_sent = min(row.first_sent or first, first)
            if last:
                row.last_sent = max(row.last_sent or last, last)
            if lags:
                merged = Counter({int(k): v for k, v in orjson.loads(row.lag_histogram or "{}").items()})
                merged.update(lags)
                row.lag_histogram = orjson.dumps({str(k): v for k, v in sorted(merged.items())}).decode()
        self.batches.clear()
        sub = self.sub
        for name in TOTALS:
            setattr(sub, name, getattr(summary, name))
        sub.lag_histogram = orjson.dumps({str(k): v for k, v in self.lags.items()}).decode()

    def finish(self) -> None:
        """The submission's median and longest lag, in days."""
        total = sum(self.lags.values())
        if not total:
            return
        acc = 0
        for days in sorted(self.lags):
            acc += self.lags[days]
            if acc * 2 >= total:
                self.sub.lag_days_median = float(days)
                break
        self.sub.lag_days_max = float(max(self.lags))
