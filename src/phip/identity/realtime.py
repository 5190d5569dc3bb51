"""Real-time matching: candidates from indexed blocking keys in the operational database, scored
in process with the trained model's weights (`scorer.py`), no Splink round trip.

The keys are the batch blocking rules (`splink_model.BLOCKING_RULES`) as values, stored as keyed
HMAC-SM3 hashes; a record's derived features are stored SM4-encrypted. A phone key is kept too:
it finds household members, whose shared phone is weaker evidence (the `exact_shared` level).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from phip.identity import splink_model
from phip.identity.models import PersonKey, PersonRecordRow
from phip.identity.person import Person
from phip.identity.scorer import Scorer
from phip.store.bulkwrite import insert_tuples
from phip.store.protect import decrypt_bytes, encrypt_bytes, lookup_hash

#: records read per key at most (a key shared by very many records says little)
PER_KEY = 200


def blocking_keys(p: Person) -> list[str]:
    """The values of the blocking rules for this record (a rule needs all its parts)."""
    birth, sex, county = p.birth_any, p.sex_any, p.county
    parts = [
        ("i", p.id18),
        ("r", p.id_raw),
        ("k", p.id14),
        ("pb", p.pinyin, birth),
        ("bp3", birth, p.pinyin[:3]),
        ("nc", p.name, county),
        ("ps", p.phone, p.surname),
        ("bcs", birth, county, sex),
        ("sm", p.surname, birth[:7] if birth else "", county),
        ("p", p.phone),
    ]
    return ["|".join(k) for k in parts if all(k[1:])]


def _dump(p: Person) -> bytes:
    return encrypt_bytes(orjson.dumps(asdict(p)))


def load_features(blob: bytes) -> Person:
    d = orjson.loads(decrypt_bytes(blob))
    d["name_parts"] = tuple(d["name_parts"])
    d["id_repairs"] = tuple(d["id_repairs"])
    return Person(**d)


@dataclass(frozen=True)
class Candidate:
    record_id: str
    person_id: str | None
    match_weight: float
    probability: float
    grade: str  # FHIR match-grade: certain / probable / possible
    levels: dict[str, str]


def grade(probability: float) -> str:
    if probability >= splink_model.MATCH_THRESHOLD:
        return "certain"
    if probability >= 0.9:
        return "probable"
    return "possible"


class PersonIndex:
    def __init__(self, session: Session, scorer: Scorer | None = None):
        """`scorer` is needed to match, not to index."""
        self.session = session
        self.scorer = scorer

    def add(
        self,
        people: Sequence[Person],
        person_ids: dict[str, str] | None = None,
        status: dict[str, str] | None = None,
        probs: dict[str, float] | None = None,
    ) -> None:
        """Index (or re-index) records: features, blocking keys, person, link status (auto
        unless given) and link probability."""
        ids = [p.record_id for p in people]
        conn = self.session.connection()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            self.session.execute(delete(PersonKey).where(PersonKey.record_id.in_(chunk)))
            self.session.execute(delete(PersonRecordRow).where(PersonRecordRow.record_id.in_(chunk)))
        now = datetime.now(UTC)
        pids, st, pr = person_ids or {}, status or {}, probs or {}
        rows = [
            (
                p.record_id,
                pids.get(p.record_id),
                _dump(p),
                now,
                st.get(p.record_id, "auto"),
                pr.get(p.record_id),
            )
            for p in people
        ]
        cols = ("record_id", "person_id", "features", "updated_at", "link_status", "link_prob")
        insert_tuples(conn, "person_record", cols, rows)
        keys = {(lookup_hash(k), p.record_id) for p in people for k in blocking_keys(p)}
        insert_tuples(conn, "person_key", ("key", "record_id"), sorted(keys))

    def candidates(self, p: Person) -> list[tuple[Person, str | None]]:
        hashes = [lookup_hash(k) for k in blocking_keys(p)]
        if not hashes:
            return []
        ids: set[str] = set()
        for h in hashes:
            ids.update(
                self.session.scalars(select(PersonKey.record_id).where(PersonKey.key == h).limit(PER_KEY))
            )
        ids.discard(p.record_id)
        if not ids:
            return []
        rows = self.session.execute(
            select(PersonRecordRow.features, PersonRecordRow.person_id).where(
                PersonRecordRow.record_id.in_(ids)
            )
        )
        return [(load_features(f), pid) for f, pid in rows]

    def match(self, p: Person, threshold: float = splink_model.REVIEW_THRESHOLD) -> list[Candidate]:
        """Indexed records at or above `threshold`, best first."""
        if self.scorer is None:
            raise ValueError("matching needs the trained model's scorer")
        found = self.candidates(p)
        names = {c.pinyin or c.name for c, _pid in found if c.phone and c.phone == p.phone}
        shared = {p.phone} if p.phone and len(names | {p.pinyin or p.name}) > 1 else set()
        out = []
        for c, pid in found:
            weight, prob, levels = self.scorer.score(p, c, shared)
            if prob >= threshold:
                out.append(Candidate(c.record_id, pid, weight, prob, grade(prob), levels))
        return sorted(out, key=lambda m: -m.match_weight)
