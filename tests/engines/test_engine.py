"""The engine interface, the same on DuckDB and on Spark: tables in (Arrow, Parquet, empty),
results out (Arrow, rows), kept and dropped tables, errors, and the dialect primitives giving the
same values on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from phip.engines import ENGINES, DuckDBEngine, Engine, QueryError, SparkEngine, dialect, engine_for
from phip.engines.dialects import DIALECTS

PEOPLE = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": ["Wang Fang", "Li Na", None],
        "tags": [["a", "b"], [], ["c"]],
    }
)


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow])]
)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    e = engine_for(request.param)
    yield e
    e.close()


def test_registry_and_engine_for() -> None:
    from phip.settings import Settings

    # the setting accepts exactly the registered engines
    assert set(ENGINES) == set(DIALECTS) == set(get_args(Settings.model_fields["engine"].annotation))
    for name, kind in ENGINES.items():
        assert kind.name == name
    e = engine_for("duckdb")
    assert isinstance(e, DuckDBEngine) and e.dialect.name == "duckdb"
    assert engine_for(e) is e
    e.close()
    with pytest.raises(ValueError, match="unknown engine 'oracle'"):
        engine_for("oracle")
    with pytest.raises(ValueError, match="unknown dialect"):
        dialect("oracle")


def test_engine_for_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from phip.settings import get_settings

    monkeypatch.setenv("PHIP_ENGINE", "duckdb")
    get_settings.cache_clear()
    try:
        e = engine_for(None)
        assert isinstance(e, DuckDBEngine)
        e.close()
    finally:
        get_settings.cache_clear()


def test_arrow_in_arrow_and_rows_out(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    out = engine.query("SELECT id, name, tags FROM people ORDER BY id")
    assert out.column_names == ["id", "name", "tags"]
    assert out.column("id").to_pylist() == [1, 2, 3]
    assert out.column("name").to_pylist() == ["Wang Fang", "Li Na", None]
    assert out.column("tags").to_pylist() == [["a", "b"], [], ["c"]]
    assert engine.rows("SELECT id, tags FROM people ORDER BY id") == [(1, ["a", "b"]), (2, []), (3, ["c"])]
    # registering again replaces the table
    engine.register("people", PEOPLE.slice(0, 1))
    assert engine.rows("SELECT count(*) FROM people") == [(1,)]
    engine.drop("people")


def test_parquet_files_and_an_empty_table(engine: Engine, tmp_path: Path) -> None:
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    pq.write_table(PEOPLE.slice(0, 2), one)
    pq.write_table(PEOPLE.slice(2), two)
    engine.register("first", one)
    assert engine.rows("SELECT count(*) FROM first") == [(2,)]
    engine.read_parquet("together", [one, two])
    assert engine.rows("SELECT sum(id) FROM together") == [(6,)]
    engine.read_parquet("nothing", [], [("id", "BIGINT"), ("name", "VARCHAR"), ("ok", "BOOLEAN")])
    empty = engine.query("SELECT * FROM nothing")
    assert empty.num_rows == 0 and empty.column_names == ["id", "name", "ok"]
    assert [str(t) for t in empty.schema.types] == ["int64", "string", "bool"]
    for name in ("first", "together", "nothing"):
        engine.drop(name)


def test_materialize_and_drop(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    engine.materialize("kept", "SELECT id * 10 AS ten FROM people")
    engine.drop("people")
    assert engine.rows("SELECT sum(ten) FROM kept") == [(60,)]
    engine.drop("kept")
    engine.drop("kept")  # dropping what is not there is a no-op
    with pytest.raises(QueryError):
        engine.query("SELECT * FROM kept")


def test_errors_are_query_errors(engine: Engine) -> None:
    with pytest.raises(QueryError):
        engine.rows("SELECT no_such_column FROM (SELECT 1 AS a) t")
    with pytest.raises(QueryError):
        engine.execute("SELEKT 1")
    with pytest.raises(QueryError, match="stop here"):
        engine.rows(f"SELECT {engine.dialect.fail('stop here')}")


def test_duckdb_sql_runs_everywhere_once_transpiled(engine: Engine) -> None:
    engine.register("people", PEOPLE)
    sql = "SELECT CAST(id AS VARCHAR) || '-' || coalesce(name, '?') AS label FROM people ORDER BY id"
    labels = engine.query(engine.dialect.transpile(sql)).column("label").to_pylist()
    assert labels == ["1-Wang Fang", "2-Li Na", "3-?"]
    keep = engine.dialect.materialized
    twice = f"WITH t AS{keep} (SELECT id FROM people) SELECT count(*) FROM t a JOIN t b ON a.id = b.id"
    assert engine.rows(engine.dialect.transpile(twice)) == [(3,)]
    engine.drop("people")


def test_dialect_primitives_give_the_same_values(engine: Engine) -> None:
    d = dialect(engine.dialect.name)
    nums = d.array(["1", "2", "3"])
    x = d.fresh()
    checks = {
        "doubled": (d.transform(nums, [x], f"{x} * 2"), [2, 4, 6]),
        "kept": (d.filter(nums, x, f"{x} > 1"), [2, 3]),
        "length": (d.length(nums), 3),
        "first": (d.first_item(nums), 1),
        "flat": (d.flatten(d.array([nums, d.array(["4"])])), [1, 2, 3, 4]),
        "both": (d.concat([nums, d.array(["4"])]), [1, 2, 3, 4]),
        "shared": (d.length(d.intersect(d.split("'a|b|c'", "|"), d.split("'c|d'", "|"))), 1),
        "all_in": (d.contains_all(d.split("'a|b|c'", "|"), d.split("'c|a'", "|")), True),
        "not_all": (d.contains_all(d.split("'a|b'", "|"), d.split("'c'", "|")), False),
        "bound": (d.let("21", x, f"{x} * 2"), 42),
        "part": (d.split_part("'1.25'", ".", 2), "25"),
        "no_part": (d.split_part("'1'", ".", 2), ""),
        "last_day": (d.last_day("'2024-02-10'"), "2024-02-29"),
        "days": (d.days_between("CAST('2024-01-30' AS DATE)", "CAST('2024-03-01' AS DATE)"), 31),
        "one_sub": (d.one_substitution("'13800138000'", "'13800138001'"), True),
        "two_sub": (d.one_substitution("'13800138000'", "'13800138011'"), False),
        "edits": (d.damerau_levenshtein("'abcd'", "'abdc'"), 1),
        "similar": (d.jaro_winkler("'zhangwei'", "'zhangwei'") + " >= 0.99", True),
        "field": (d.field(d.struct([("a", "1"), ("b", "'x'")]), "b"), "x"),
        "typed": (f"CAST('7' AS {d.type_name('bigint')})", 7),
        "json": (d.json_value(d.json_member(d.parse("'{\"a\": [5]}'"), "a"), "bigint"), 5),
        "json_items": (
            d.length(d.json_items(d.parse('\'{"a": [{"b": [1, 2]}, {"b": [3]}]}\''), ["a", "b"])),
            3,
        ),
        "json_kind": (d.json_kind(d.json_literal("text")), "string"),
    }
    sql = "SELECT " + ", ".join(f"{expr} AS {name}" for name, (expr, _) in checks.items())
    got = dict(zip(checks, engine.rows(sql)[0], strict=True))
    assert got == {name: want for name, (_, want) in checks.items()}


def test_rows_exploded_from_structs(engine: Engine) -> None:
    d = engine.dialect
    engine.register("people", PEOPLE)
    rows = d.array([d.struct([("id", "id"), ("n", "1")]), d.struct([("id", "id"), ("n", "2")])])
    sql = d.explode_rows(rows, "people", "id < 3", ("name",))
    got = sorted(engine.rows(sql))
    assert got == [(1, 1, "Wang Fang"), (1, 2, "Wang Fang"), (2, 1, "Li Na"), (2, 2, "Li Na")]
    engine.drop("people")


def test_duckdb_over_a_given_connection_leaves_it_open() -> None:
    con = duckdb.connect()
    e = DuckDBEngine(con, threads=1)
    e.register("people", PEOPLE)
    e.read_parquet("nothing", [], [("id", "BIGINT")])
    assert con.execute("SELECT count(*) FROM people").fetchone() == (3,)
    e.close()  # forgets its tables, keeps the connection
    assert con.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM people")
    con.close()


def test_splink_api(engine: Engine) -> None:
    from splink import DuckDBAPI, SparkAPI

    api = engine.splink_api()
    assert isinstance(api, SparkAPI if isinstance(engine, SparkEngine) else DuckDBAPI)
