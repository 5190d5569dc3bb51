"""Tables derived in the lake from its other tables at each refresh (SQL, written whole):

- `patient_person`: every Patient record's person (the person index's id; a record the index has
  not linked yet stands for itself), so analytics count residents, not records;
- `person`: one row per person with the attributes analytics break down by, each the value most
  of the person's records give (ties: the smallest), and the poverty-household status from
  active `Flag`s. No names, identity numbers or phones;
- `refused_person`: the person a refused Patient record belongs to, found by its identity number's
  pseudonym or, when the number fails its check, by the one valid number one edit away that the
  lake's Patients carry (only when exactly one person matches).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from phip.lake.manifest import Manifest, TableFiles
from phip.lake.reader import open_duckdb

_PATIENT_PERSON = """
SELECT p.patient_key, coalesce(rp.person_id, p.patient_key) AS person_id
FROM (SELECT DISTINCT patient_key FROM patient WHERE patient_key IS NOT NULL) p
LEFT JOIN record_person rp ON rp.patient_key = p.patient_key
"""


def _pick(column: str) -> str:
    return f"""
    (SELECT person_id, {column} FROM (
        SELECT person_id, {column}, row_number() OVER (
            PARTITION BY person_id ORDER BY count(*) DESC, {column}) AS n
        FROM recs WHERE {column} IS NOT NULL GROUP BY person_id, {column}) WHERE n = 1)"""


_PERSON = f"""
WITH recs AS (
    SELECT pp.person_id, p.gender, p.birth_date, p.ethnicity, p.deceased, p.deceased_at,
           coalesce(o.township_code, o.county_code) AS township, o.county_code AS county
    FROM patient p JOIN lake_patient_person pp ON pp.patient_key = p.patient_key
    LEFT JOIN org_unit o ON o.code = p.division
),
poor AS (
    SELECT DISTINCT pp.person_id FROM flag f JOIN lake_patient_person pp ON pp.patient_key = f.patient_key
    WHERE f.code = 'registered' AND f.status = 'active'
),
ids AS (SELECT DISTINCT person_id FROM recs)
SELECT ids.person_id, g.gender, b.birth_date, e.ethnicity, t.township AS township_code,
       c.county AS county_code,
       coalesce(d.dead, false) AS deceased, d.deceased_at,
       (poor.person_id IS NOT NULL) AS poverty
FROM ids
LEFT JOIN {_pick("gender")} g ON g.person_id = ids.person_id
LEFT JOIN {_pick("birth_date")} b ON b.person_id = ids.person_id
LEFT JOIN {_pick("ethnicity")} e ON e.person_id = ids.person_id
LEFT JOIN {_pick("township")} t ON t.person_id = ids.person_id
LEFT JOIN {_pick("county")} c ON c.person_id = ids.person_id
LEFT JOIN (SELECT person_id, min(deceased_at) AS deceased_at,
                  bool_or(coalesce(deceased, false) OR deceased_at IS NOT NULL) AS dead
           FROM recs GROUP BY person_id) d ON d.person_id = ids.person_id
LEFT JOIN poor ON poor.person_id = ids.person_id
"""


_REFUSED_PERSON = """
WITH t AS (
    SELECT _rid, id_token AS token FROM quarantine_record WHERE res_type = 'Patient' AND id_token IS NOT NULL
    UNION ALL
    SELECT _rid, unnest(string_split(id_repairs, ' ')) FROM quarantine_record
    WHERE res_type = 'Patient' AND id_token IS NULL AND coalesce(id_repairs, '') <> ''
),
m AS (
    SELECT DISTINCT t._rid, pp.person_id FROM t
    JOIN patient p ON p.id_token = t.token
    JOIN lake_patient_person pp ON pp.patient_key = p.patient_key
)
SELECT _rid, min(person_id) AS person_id FROM m GROUP BY _rid HAVING count(*) = 1
"""


def _write(con: duckdb.DuckDBPyConnection, lake: Path, run: str, name: str, query: str) -> TableFiles:
    rel = f"tables/{name}/{run}/data.parquet"
    (lake / rel).parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE lake_{name} AS {query}")
    con.execute(f"COPY lake_{name} TO '{(lake / rel).as_posix()}' (FORMAT parquet, COMPRESSION zstd)")
    columns = [[r[0], r[1]] for r in con.execute(f"DESCRIBE lake_{name}").fetchall()]
    rows = int(con.execute(f"SELECT count(*) FROM lake_{name}").fetchone()[0])  # type: ignore[index]
    return TableFiles(columns, [{"path": rel, "county": "none", "month": "none", "rows": rows}], "", False)


def write_derived(con: duckdb.DuckDBPyConnection, lake: Path, run: str, manifest: Manifest) -> None:
    """Add the derived tables to `manifest` (its other tables already written)."""
    open_duckdb(lake, con, manifest)
    manifest.tables["patient_person"] = _write(con, lake, run, "patient_person", _PATIENT_PERSON)
    manifest.tables["person"] = _write(con, lake, run, "person", _PERSON)
    manifest.tables["refused_person"] = _write(con, lake, run, "refused_person", _REFUSED_PERSON)
