"""Rules to SQL: each rule becomes one SELECT of its failing records over the lake, written in
DuckDB's dialect and translated for the engine that runs it by its dialect (sqlglot)."""

from __future__ import annotations

import re

from phip.engines.dialects import Dialect, dialect, quote
from phip.lake.tables import fact_tables
from phip.quality.catalogue import Catalogue, Rule

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")

#: the columns every rule's result has
COLUMNS = ("rule_id", "resource", "facility", "month", "value")


def _source(rule: Rule) -> str:
    if _IDENT.match(rule.source):
        if rule.source in fact_tables():  # fact rows name their submitting facility
            return f"SELECT *, source_facility AS facility FROM {rule.source}"
        return f"SELECT * FROM {rule.source}"
    return rule.source


def rule_sql(rule: Rule, cat: Catalogue, sql_dialect: Dialect | str = "duckdb") -> str:
    source = _source(rule).replace("{deadline_day}", str(cat.deadline_day))
    sql = (
        f"SELECT {quote(rule.id)} AS rule_id, q._rid AS resource, q.facility, q.month, "
        f"CAST(({rule.value}) AS VARCHAR) AS value FROM ({source}) q WHERE ({rule.where})"
    )
    return dialect(sql_dialect).transpile(sql)


#: records checked per facility and resource kind (the denominators of the scores)
CHECKED_SQL = """
SELECT facility, resource, sum(n) AS records FROM (
    SELECT source_facility AS facility, 'Patient' AS resource, count(*) AS n FROM patient GROUP BY 1
    UNION ALL SELECT source_facility, 'Encounter', count(*) FROM encounter GROUP BY 1
    UNION ALL SELECT source_facility, 'Condition', count(*) FROM condition GROUP BY 1
    UNION ALL SELECT source_facility, 'Observation', count(*) FROM observation GROUP BY 1
    UNION ALL SELECT source_facility, 'other', count(*) FROM immunization GROUP BY 1
    UNION ALL SELECT source_facility, 'other', count(*) FROM medication_request GROUP BY 1
    UNION ALL SELECT facility, coalesce(res_type, 'other'), count(DISTINCT _rid) FROM quarantine
        WHERE NOT resolved GROUP BY 1, 2
    UNION ALL SELECT facility, 'Submission', count(DISTINCT month) FROM submission_batch GROUP BY 1
) t WHERE facility IS NOT NULL GROUP BY facility, resource
"""


def checked_sql(sql_dialect: Dialect | str = "duckdb") -> str:
    return dialect(sql_dialect).transpile(CHECKED_SQL)
