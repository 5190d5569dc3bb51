"""The rule catalogue: consistent as data, and table-driven cases for the SQL of rules whose
logic is more than a comparison (ranges, sex-specific codes, deadlines, outliers, copies)."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from phip.quality.catalogue import DIMENSIONS, RuleError, catalogue, parse
from phip.quality.compile import rule_sql

GOOD = """
version: 1
sources:
  s: "SELECT _rid, facility, month, {column} AS v FROM t"
rules:
  - id: R1
    title: {zh: 甲, en: A}
    dimension: accuracy
    severity: error
    resource: any
    element: x
    from: {source: s, column: x}
    where: "v > 1"
    value: v
    hint: {zh: 改, en: fix}
"""


def test_catalogue_is_consistent() -> None:
    cat = catalogue()
    assert len(cat.rules) >= 25
    assert {r.dimension for r in cat.rules} == set(DIMENSIONS)
    assert len({r.id for r in cat.rules}) == len(cat.rules)
    for r in cat.rules:
        assert r.title["zh"] and r.title["en"] and r.hint["zh"] and r.hint["en"], r.id
        assert r.where and r.value and r.source, r.id
    # the checks the issue names are all there
    ids = {r.id for r in cat.rules}
    assert {
        "CONF-ID-CHECK",
        "CONF-CODE",
        "COMP-REQUIRED",
        "COMP-ID-MISSING",
        "ACC-OBS-RANGE",
        "ACC-AGE",
    } <= ids
    assert {"CONS-ID-BIRTH", "CONS-SEX-DX", "CONS-AFTER-DEATH", "COMP-INPATIENT-DX", "UNIQ-DUP-RECORD"} <= ids
    assert {"UNIQ-DUP-PATIENT", "TIME-LATE-BATCH", "ACC-MONTHLY-OUTLIER"} <= ids
    assert cat.rule("COMP-ID-MISSING").weight_at("village") < cat.rule("COMP-ID-MISSING").weight_at(
        "hospital"
    )


def test_a_good_catalogue_parses() -> None:
    cat = parse(GOOD)
    assert cat.rules[0].source == "SELECT _rid, facility, month, x AS v FROM t"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("dimension: accuracy", "dimension: beauty"), "unknown dimension"),
        (("severity: error", "severity: fatal"), "unknown severity"),
        (("hint: {zh: 改, en: fix}", "hint: {zh: 改}"), "hint needs zh and en"),
        (("element: x", "element: x\n    weight: {galaxy: 2}"), "weights are given per tier"),
        (("{source: s, column: x}", "{source: nope, column: x}"), "unknown source"),
        (("{source: s, column: x}", "{source: s, column: 'x; DROP'}"), "must be a column name"),
        (('    where: "v > 1"\n', ""), "where is missing"),
    ],
)
def test_a_bad_catalogue_is_refused(change: tuple[str, str], message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse(GOOD.replace(*change))


def test_duplicate_rule_ids_are_refused() -> None:
    second = GOOD[GOOD.index("  - id: R1") :]
    with pytest.raises(RuleError, match="unique"):
        parse(GOOD + second)


def _run(rule_id: str, tables: dict[str, tuple[str, list[tuple[Any, ...]]]]) -> set[str]:
    """Run one rule over small tables: name → (column list, rows); returns the flagged records."""
    con = duckdb.connect()
    for name, (cols, rows) in tables.items():
        names = [c.split()[0] for c in cols.split(",")]
        con.execute(f"CREATE TABLE {name} ({cols})")
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' for _ in names)})", rows)
    cat = catalogue()
    return {r[1] for r in con.execute(rule_sql(cat.rule(rule_id), cat)).fetchall()}


OBS = (
    "_rid VARCHAR, source_facility VARCHAR, month VARCHAR, value DOUBLE, unit VARCHAR, "
    "systolic DOUBLE, diastolic DOUBLE"
)


def test_measurement_ranges() -> None:
    rows = [
        ("Observation/ok-height", "F", "2025-01", 172.0, "cm", None, None),
        ("Observation/height-350", "F", "2025-01", 350.0, "cm", None, None),
        ("Observation/weight-900", "F", "2025-01", 900.0, "kg", None, None),
        ("Observation/glucose-neg", "F", "2025-01", -1.0, "mmol/L", None, None),
        ("Observation/ok-glucose", "F", "2025-01", 5.6, "mmol/L", None, None),
        ("Observation/temp-48", "F", "2025-01", 48.5, "Cel", None, None),
        ("Observation/ok-bp", "F", "2025-01", None, None, 128.0, 82.0),
        ("Observation/bp-400", "F", "2025-01", None, None, 400.0, 80.0),
        ("Observation/bp-inverted", "F", "2025-01", None, None, 80.0, 120.0),
    ]
    assert _run("ACC-OBS-RANGE", {"observation": (OBS, rows)}) == {
        "Observation/height-350",
        "Observation/weight-900",
        "Observation/glucose-neg",
        "Observation/temp-48",
    }
    assert _run("ACC-BP-RANGE", {"observation": (OBS, rows)}) == {
        "Observation/bp-400",
        "Observation/bp-inverted",
    }


def test_sex_specific_diagnoses() -> None:
    cond = "_rid VARCHAR, source_facility VARCHAR, month VARCHAR, icd10 VARCHAR, patient_key VARCHAR"
    pat = "patient_key VARCHAR, gender VARCHAR"
    found = _run(
        "CONS-SEX-DX",
        {
            "condition": (
                cond,
                [
                    ("Condition/m-o80", "F", "2025-01", "O80", "Patient/m"),
                    ("Condition/m-n76", "F", "2025-01", "N76.0", "Patient/m"),
                    ("Condition/m-i10", "F", "2025-01", "I10", "Patient/m"),
                    ("Condition/f-c61", "F", "2025-01", "C61", "Patient/f"),
                    ("Condition/f-n40", "F", "2025-01", "N40", "Patient/f"),
                    ("Condition/f-o80", "F", "2025-01", "O80", "Patient/f"),
                    ("Condition/u-o80", "F", "2025-01", "O80", "Patient/u"),
                ],
            ),
            "patient": (pat, [("Patient/m", "male"), ("Patient/f", "female"), ("Patient/u", "unknown")]),
        },
    )
    assert found == {"Condition/m-o80", "Condition/m-n76", "Condition/f-c61", "Condition/f-n40"}


def test_late_batches_by_the_deadline_and_history_not_judged() -> None:
    cols = "facility VARCHAR, month VARCHAR, first_sent VARCHAR"
    rows = [
        ("A", "2019-03", "2025-02-05T09:00:00+08:00"),  # history loaded with the first round
        ("A", "2025-01", "2025-02-05T09:00:00+08:00"),
        ("A", "2025-02", "2025-03-10T23:00:00+08:00"),  # on the deadline day: in time
        ("A", "2025-03", "2025-04-11T08:00:00+08:00"),
        ("A", "2025-12", "2026-01-12T08:00:00+08:00"),  # December's deadline is in January
        ("B", "2025-11", "2025-12-01T08:00:00+08:00"),
        # C's first submission brought February; January came a week later: late, not history
        ("C", "2025-02", "2025-03-08T10:00:00+08:00"),
        ("C", "2025-01", "2025-03-19T14:00:00+08:00"),
        # D, connected in 2022, first submitted January in March: late, not history; E, connected
        # on 1 March 2025: January (due 10 February) was history, February (due 10 March) late
        ("D", "2025-01", "2025-03-22T12:00:00+08:00"),
        ("D", "2025-02", "2025-03-22T12:00:00+08:00"),
        ("E", "2025-01", "2025-03-22T12:00:00+08:00"),
        ("E", "2025-02", "2025-03-22T12:00:00+08:00"),
    ]
    facilities = [("D", "2022-09-01"), ("E", "2025-03-01"), ("A", None)]
    found = _run(
        "TIME-LATE-BATCH",
        {
            "submission_batch": (cols, rows),
            "facility": ("code VARCHAR, connected_since VARCHAR", facilities),
        },
    )
    assert found == {
        "Submission/A/2025-03",
        "Submission/A/2025-12",
        "Submission/C/2025-01",
        "Submission/D/2025-01",
        "Submission/D/2025-02",
        "Submission/E/2025-02",
    }


def test_monthly_outliers_by_modified_z_score() -> None:
    cols = "_rid VARCHAR, source_facility VARCHAR, month VARCHAR, class VARCHAR"
    rows = []
    counts = {
        "2025-01": 40,
        "2025-02": 38,
        "2025-03": 45,
        "2025-04": 41,
        "2025-05": 160,
        "2025-06": 39,
        "2025-07": 43,
    }
    for month, n in counts.items():
        rows += [(f"Encounter/{month}-{i}", "A", month, "AMB") for i in range(n)]
    rows += [(f"Encounter/b-{m}", "B", f"2025-0{m}", "AMB") for m in range(1, 4)]  # too few months
    # a small facility whose months lie close together: 59 against a median of 48.5 is chance
    # (its MAD of 1 would make it z = 7), a month keyed in four times is not
    small = {"2025-01": 48, "2025-02": 49, "2025-03": 47, "2025-04": 49, "2025-05": 48, "2025-06": 50}
    small |= {"2025-07": 59, "2025-08": 49, "2025-09": 196}
    for month, n in small.items():
        rows += [(f"Encounter/c-{month}-{i}", "C", month, "AMB") for i in range(n)]
    found = _run("ACC-MONTHLY-OUTLIER", {"encounter": (cols, rows)})
    assert found == {"Submission/A/2025-05", "Submission/C/2025-09"}


def test_copies_are_flagged_and_the_referenced_record_kept() -> None:
    row = "_rid VARCHAR, source_facility VARCHAR, month VARCHAR, seq BIGINT"
    enc = f"{row}, encounter_key VARCHAR, patient_key VARCHAR, class VARCHAR, start VARCHAR"
    other = f"{row}, fingerprint VARCHAR, encounter_key VARCHAR"
    t = "2025-03-01T09:00:00+08:00"
    tables = {
        "encounter": (
            enc,
            [
                ("Encounter/copy1", "A", "2025-03", 1, "Encounter/copy1", "Patient/p", "AMB", t),
                ("Encounter/copy2", "A", "2025-03", 2, "Encounter/copy2", "Patient/p", "AMB", t),
                ("Encounter/orig", "A", "2025-03", 3, "Encounter/orig", "Patient/p", "AMB", t),
                ("Encounter/other-fac", "B", "2025-03", 4, "Encounter/other-fac", "Patient/p", "AMB", t),
            ],
        ),
        "condition": (
            other,
            [
                ("Condition/c1", "A", "2025-03", 5, "fp1", "Encounter/orig"),
                ("Condition/c1-copy", "A", "2025-03", 6, "fp1", "Encounter/orig"),
                ("Condition/c1-elsewhere", "B", "2025-03", 7, "fp1", "Encounter/other-fac"),
            ],
        ),
        "observation": (other, []),
        "immunization": (other.replace(", encounter_key VARCHAR", ""), []),
        "medication_request": (other.replace(", encounter_key VARCHAR", ""), []),
    }
    assert _run("UNIQ-DUP-VISIT", tables) == {"Encounter/copy1", "Encounter/copy2"}
    assert _run("UNIQ-DUP-RECORD", tables) == {"Condition/c1-copy"}


QREC = (
    "_rid VARCHAR, res_type VARCHAR, facility VARCHAR, month VARCHAR, seq BIGINT, resolved BOOLEAN, "
    "fingerprint VARCHAR, elements BIGINT, visit_key VARCHAR, id_status VARCHAR, phone_token VARCHAR"
)
#: the refused Patient's facts the rules comparing a resident's records read
QREC_PATIENT = (
    QREC + ", id_token VARCHAR, name_token VARCHAR, birth_date VARCHAR, name_script VARCHAR, "
    "phone_status VARCHAR, id_birth_date VARCHAR, name_length VARCHAR"
)


def test_refused_copies_are_flagged_and_the_most_complete_kept() -> None:
    visit = "Patient/p|AMB|2025-03-01T09:00:00+08:00"
    rows = [
        # three copies keyed before the diagnosis was added, then the complete visit: all refused
        ("Encounter/copy1", "Encounter", "A", "2025-03", 1, False, "fa", 9, visit, None, None),
        ("Encounter/copy2", "Encounter", "A", "2025-03", 2, False, "fa", 9, visit, None, None),
        ("Encounter/orig", "Encounter", "A", "2025-03", 3, False, "fb", 10, visit, None, None),
        ("Encounter/elsewhere", "Encounter", "B", "2025-03", 4, False, "fa", 9, visit, None, None),
        # content copies; a resubmission since accepted is no longer a copy
        ("Condition/c1", "Condition", "A", "2025-03", 5, False, "fc", 7, None, None, None),
        ("Condition/c1-copy", "Condition", "A", "2025-03", 6, False, "fc", 7, None, None, None),
        ("Condition/c1-fixed", "Condition", "A", "2025-03", 7, True, "fc", 7, None, None, None),
        # Patients are UNIQ-DUP-PATIENT's; an unparseable payload has no fingerprint
        ("Patient/x1", "Patient", "A", "2025-03", 8, False, "fp", 8, None, "valid", None),
        ("Patient/x2", "Patient", "A", "2025-03", 9, False, "fp", 8, None, "valid", None),
        ("Quarantine/1", None, "A", "2025-03", 10, False, None, None, None, None, None),
        ("Quarantine/2", None, "A", "2025-03", 11, False, None, None, None, None, None),
    ]
    found = _run("UNIQ-DUP-REFUSED", {"quarantine_record": (QREC, rows)})
    assert found == {"Encounter/copy1", "Encounter/copy2", "Condition/c1-copy"}


#: the Patient columns the rules comparing a resident's records read
PATIENT = (
    "_rid VARCHAR, source_facility VARCHAR, month VARCHAR, seq BIGINT, patient_key VARCHAR, "
    "name_token VARCHAR, name_script VARCHAR, birth_date VARCHAR, id_birth_date VARCHAR, "
    "phone_token VARCHAR, phone_status VARCHAR, name_length BIGINT"
)


def _patient(rid: str, facility: str, seq: int, **facts: str | None) -> tuple[Any, ...]:
    """A lake Patient row: `name`, `script`, `length` (of the name, 3 by default), `birth`,
    `id_birth`, `phone`, `phone_status`."""
    length = facts.get("length") or ("3" if facts.get("name") else None)
    return (
        f"Patient/{rid}",
        facility,
        "none",
        seq,
        f"Patient/{rid}",
        facts.get("name"),
        facts.get("script", "han" if facts.get("name") else None),
        facts.get("birth"),
        facts.get("id_birth"),
        facts.get("phone"),
        facts.get("phone_status", "mobile" if facts.get("phone") else None),
        int(length) if length else None,
    )


def test_refused_patients_are_checked_against_their_person() -> None:
    cols = PATIENT
    patients = [
        _patient("a", "A", 1, phone="t1", name="n1", birth="1980-03-05"),
        _patient("b", "B", 2, phone="t1", name="n1", birth="1980-03-05"),
        _patient("c", "C", 3, phone="t2", name="n1", birth="1980-03-05"),
    ]

    def refused(
        rid: str, fac: str, seq: int, resolved: bool, status: str, phone: str, **facts: str
    ) -> tuple[Any, ...]:
        token = f"id-{rid}" if status == "valid" else None
        return (
            f"Patient/{rid}",
            "Patient",
            fac,
            "2025-02",
            seq,
            resolved,
            f"f{rid}",
            8,
            None,
            status,
            phone,
            token,
            facts.get("name"),
            facts.get("birth"),
            "han" if facts.get("name") else None,
            "mobile",
            None,
            "3" if facts.get("name") else None,
        )

    rows = [
        # a phone that differs from the person's prevailing one, on a record refused for its number
        # (found by the valid number a typo away) whose name or birth date agrees with the person's
        refused("r1", "D", 10, False, "invalid-check_digit", "t9", name="n1"),
        refused("r6", "D", 15, False, "invalid-area_code", "t9", birth="1980-03-05"),
        refused("r7", "D", 16, False, "invalid-birth_date", "t9", name="n1", birth="1980-03-05"),
        # found by a number a typo away, and nothing else agrees: perhaps another resident's number
        refused("r8", "D", 17, False, "invalid-check_digit", "t9", name="n7", birth="1990-01-01"),
        # refused for another reason, found by its own valid number
        refused("r2", "E", 11, False, "valid", "t1"),
        refused("r3", "F", 12, False, "valid", "t8"),
        # accepted since: its findings are the accepted record's
        refused("r4", "G", 13, True, "valid", "t7"),
        # nobody's: its person is not known
        refused("r5", "H", 14, False, "missing", "t6"),
    ]
    persons = [("Patient/a", "P1"), ("Patient/b", "P1"), ("Patient/c", "P1")]
    found = _run(
        "CONS-PHONE-XFAC",
        {
            "patient": (cols, patients),
            "patient_person": ("patient_key VARCHAR, person_id VARCHAR", persons),
            "facility": ("code VARCHAR, tier VARCHAR", [("A", "primary")]),
            "quarantine_record": (QREC_PATIENT, rows),
            "refused_person": (
                "_rid VARCHAR, person_id VARCHAR",
                [(f"Patient/r{i}", "P1") for i in (1, 2, 3, 4, 6, 7, 8)],
            ),
        },
    )
    # the four refused t9 phones at facility D are one registration refused again and again: one
    # vote, which does not outvote t1 (two accepted records)
    assert found == {"Patient/c", "Patient/r1", "Patient/r6", "Patient/r7", "Patient/r3"}


#: facilities by tier: P a township centre (the resident health record's holder), H a hospital,
#: V and W village clinics
TIERS = [("P", "primary"), ("H", "hospital"), ("V", "village"), ("W", "village")]
IMPOSSIBLE = "1875-01-01"


@pytest.mark.parametrize(
    ("rule", "records", "flagged"),
    [
        # the value most records give prevails
        (
            "CONS-NAME-XFAC",
            [("a", "V", dict(name="n1")), ("b", "H", dict(name="n1")), ("c", "P", dict(name="n2"))],
            {"c"},
        ),
        # two against two: the resident health record's holder (the township centre), then the
        # record submitted first
        ("CONS-PHONE-XFAC", [("a", "H", dict(phone="t1")), ("b", "P", dict(phone="t2"))], {"a"}),
        ("CONS-PHONE-XFAC", [("a", "V", dict(phone="t1")), ("b", "W", dict(phone="t2"))], {"b"}),
        # a second registration at the same facility does not vote (UNIQ-DUP-PATIENT's finding)
        (
            "CONS-PHONE-XFAC",
            [
                ("a", "V", dict(phone="t1")),
                ("b", "V", dict(phone="t2")),
                ("c", "W", dict(phone="t2")),
                ("d", "H", dict(phone="t1")),
            ],
            {"c"},
        ),
        # a name in Chinese characters prevails over pinyin, however many records give the pinyin
        (
            "CONS-NAME-XFAC",
            [
                ("a", "V", dict(name="n1")),
                ("b", "H", dict(name="py", script="latin")),
                ("c", "W", dict(name="py", script="latin")),
            ],
            {"b", "c"},
        ),
        # only pinyin: the pinyin most records give is the resident's name as far as anyone knows
        (
            "CONS-NAME-XFAC",
            [
                ("a", "V", dict(name="py", script="latin")),
                ("b", "H", dict(name="py", script="latin")),
                ("c", "W", dict(name="p2", script="latin")),
            ],
            {"c"},
        ),
        # on a tie, a name with a character left out gives way to the longer name (over the
        # holder's, and refused or not); a majority still prevails over the longer name
        (
            "CONS-NAME-XFAC",
            [("a", "P", dict(name="n2", length="2")), ("b", "H", dict(name="n1", length="3"))],
            {"a"},
        ),
        (
            "CONS-NAME-XFAC",
            [("r1", "V", dict(name="n1", length="3")), ("b", "P", dict(name="n2", length="2"))],
            {"b"},
        ),
        (
            "CONS-NAME-XFAC",
            [
                ("a", "P", dict(name="n2", length="2")),
                ("b", "V", dict(name="n2", length="2")),
                ("c", "H", dict(name="n1", length="3")),
            ],
            {"c"},
        ),
        # a well-formed phone prevails over a malformed one
        (
            "CONS-PHONE-XFAC",
            [("a", "P", dict(phone="bad", phone_status="invalid")), ("b", "H", dict(phone="t1"))],
            {"a"},
        ),
        # the birth date the identity number carries prevails over the majority (day and month swapped twice)
        (
            "CONS-BIRTH-XFAC",
            [
                ("a", "P", dict(birth="1980-05-03")),
                ("b", "H", dict(birth="1980-05-03")),
                ("c", "V", dict(birth="1980-03-05", id_birth="1980-03-05")),
            ],
            {"a", "b"},
        ),
        # and over the holder on a tie
        (
            "CONS-BIRTH-XFAC",
            [
                ("a", "P", dict(birth="1980-05-03")),
                ("b", "V", dict(birth="1980-03-05", id_birth="1980-03-05")),
            ],
            {"a"},
        ),
        # an impossible birth date neither prevails nor is flagged (ACC-AGE's finding)
        (
            "CONS-BIRTH-XFAC",
            [("a", "P", dict(birth=IMPOSSIBLE)), ("b", "V", dict(birth="1980-03-05"))],
            set(),
        ),
        (
            "CONS-BIRTH-XFAC",
            [
                ("a", "P", dict(birth=IMPOSSIBLE)),
                ("b", "H", dict(birth=IMPOSSIBLE)),
                ("c", "V", dict(birth="1980-03-05")),
                ("d", "W", dict(birth="1980-03-06")),
            ],
            {"d"},
        ),
        # on a tie, a phone another resident also gives (the household's) prevails over the
        # township centre's that nobody else gives
        (
            "CONS-PHONE-XFAC",
            [("a", "P", dict(phone="t1")), ("b", "V", dict(phone="t2")), ("x", "W", dict(phone="t2"))],
            {"a"},
        ),
        # a record refused for another element still says what its facility knows: on a tie with
        # the only accepted record, the township centre's refused record prevails
        ("CONS-PHONE-XFAC", [("r1", "P", dict(phone="t1")), ("b", "V", dict(phone="t2"))], {"b"}),
        ("CONS-PHONE-XFAC", [("r1", "V", dict(phone="t1")), ("b", "P", dict(phone="t2"))], {"r1"}),
        # refused again and again at one facility: one vote; beside an accepted record there: none
        (
            "CONS-NAME-XFAC",
            [
                ("r1", "V", dict(name="n2")),
                ("r2", "V", dict(name="n2")),
                ("a", "H", dict(name="n1")),
                ("b", "W", dict(name="n1")),
            ],
            {"r1", "r2"},
        ),
        (
            "CONS-NAME-XFAC",
            [
                ("a", "V", dict(name="n1")),
                ("r1", "V", dict(name="n2")),
                ("b", "H", dict(name="n2")),
                ("c", "W", dict(name="n1")),
            ],
            {"b", "r1"},
        ),
        # every record agreeing: nothing to flag; no value: nothing to compare
        (
            "CONS-PHONE-XFAC",
            [("a", "P", dict(phone="t1")), ("b", "V", dict(phone="t1")), ("c", "H", dict())],
            set(),
        ),
    ],
)
def test_the_value_that_prevails_among_a_residents_records(
    rule: str, records: list[tuple[str, str, dict[str, str]]], flagged: set[str]
) -> None:
    """Records named r… were refused at the door for another element (their own identity number
    valid): they vote when their facility has no accepted record of the resident."""
    patients, refused = [], []
    for seq, (rid, fac, facts) in enumerate(records, start=1):
        row = _patient(rid, fac, seq, **facts)
        if rid.startswith("r"):
            refused.append(
                (
                    *(row[0], "Patient", fac, "2025-02", seq, False, f"f{rid}", 8, None, "valid", row[9]),
                    *(f"id-{rid}", row[5], row[7], row[6], row[10], row[8]),
                    None if row[11] is None else str(row[11]),
                )
            )
        else:
            patients.append(row)
    found = _run(
        rule,
        {
            "patient": (PATIENT, patients),
            # x… records are another resident's
            "patient_person": (
                "patient_key VARCHAR, person_id VARCHAR",
                [(p[4], "P2" if p[4].startswith("Patient/x") else "P1") for p in patients],
            ),
            "facility": ("code VARCHAR, tier VARCHAR", TIERS),
            "quarantine_record": (QREC_PATIENT, refused),
            "refused_person": ("_rid VARCHAR, person_id VARCHAR", [(q[0], "P1") for q in refused]),
        },
    )
    assert found == {f"Patient/{r}" for r in flagged}


@pytest.mark.parametrize(
    ("records", "flagged"),
    [
        # two accepted registrations at one facility: the later one
        ([("a", "V", 1, False), ("b", "V", 2, False), ("c", "H", 3, False)], {"b"}),
        # the first registration and its copy both refused (the copy carries the first one's
        # mistyped number): the copy, by the order they were submitted
        ([("a", "H", 1, False), ("r1", "V", 5, True), ("r2", "V", 6, True)], {"r2"}),
        # an accepted registration and a refused one: the refused one
        ([("r1", "V", 1, True), ("a", "V", 9, False)], {"r1"}),
    ],
)
def test_a_resident_registered_twice_at_a_facility(
    records: list[tuple[str, str, int, bool]], flagged: set[str]
) -> None:
    patients = [_patient(rid, fac, seq, phone="t1") for rid, fac, seq, refused in records if not refused]
    refused = [
        (
            f"Patient/{rid}",
            "Patient",
            fac,
            "2025-02",
            seq,
            False,
            f"f{rid}",
            8,
            None,
            "valid",
            "t1",
            f"id-{rid}",
            None,
            None,
            None,
            "mobile",
            None,
            None,
        )
        for rid, fac, seq, is_refused in records
        if is_refused
    ]
    found = _run(
        "UNIQ-DUP-PATIENT",
        {
            "patient": (PATIENT, patients),
            "patient_person": ("patient_key VARCHAR, person_id VARCHAR", [(p[4], "P1") for p in patients]),
            "quarantine_record": (QREC_PATIENT, refused),
            "refused_person": ("_rid VARCHAR, person_id VARCHAR", [(q[0], "P1") for q in refused]),
        },
    )
    assert found == {f"Patient/{r}" for r in flagged}
