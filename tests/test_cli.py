"""The `phip` command, run in-process with Typer's runner."""

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import phip
from phip.cli.main import app
from phip.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PHIP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _last_json(output: str) -> dict:  # type: ignore[type-arg]
    start = output.rfind("\n{") + 1 if not output.lstrip().startswith("{") else output.index("{")
    return json.loads(output[start:])


def test_synth_then_orgunits(env: Path) -> None:
    out = env / "prov"
    result = runner.invoke(
        app, ["synth", "--scale", "0.00002", "--seed", "3", "--out", str(out), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    # the residents at the start of the year are the scaled population; those born in the year
    # are residents too
    with open(out / "truth" / "people.csv", encoding="utf-8") as f:
        people = list(csv.DictReader(f))
    born = sum(1 for p in people if p["birth_date"] >= "2025-01-01")
    assert summary["residents"] == len(people) and len(people) - born == round(25019831 * 0.00002)
    assert (out / "manifest.json").exists()
    # refusing to overwrite is a clear error, not a traceback
    again = runner.invoke(app, ["synth", "--scale", "0.00002", "--out", str(out)])
    assert again.exit_code == 2
    assert "--force" in again.output
    loaded = runner.invoke(app, ["orgunits", "load", str(out / "registry")])
    assert loaded.exit_code == 0, loaded.output
    counts = _last_json(loaded.stdout)
    assert counts["divisions"] == 1506 and counts["facilities"] > 0
    shown = runner.invoke(app, ["orgunits", "show", "--level", "prefecture"])
    assert shown.exit_code == 0
    assert "兰州市" in shown.stdout
    missing = runner.invoke(app, ["orgunits", "load", str(env / "nowhere")])
    assert missing.exit_code == 2
    bad_level = runner.invoke(app, ["orgunits", "show", "--level", "planet"])
    assert bad_level.exit_code == 2 and "unknown level" in bad_level.output


def test_synth_config_file(env: Path) -> None:
    cfg = env / "synth.json"
    cfg.write_text(json.dumps({"defects": {"id_typo": 0.5}}))
    result = runner.invoke(
        app, ["synth", "--scale", "0.00001", "--out", str(env / "p"), "--config", str(cfg), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((env / "p" / "manifest.json").read_text())
    assert manifest["config"]["defects"]["id_typo"] == 0.5
    bad = env / "bad.json"
    bad.write_text(json.dumps({"defects": {"nope": 1}}))
    result = runner.invoke(app, ["synth", "--out", str(env / "q"), "--config", str(bad)])
    assert result.exit_code == 2 and "nope" in result.output
    result = runner.invoke(app, ["synth", "--out", str(env / "q"), "--scale", "3"])
    assert result.exit_code == 2 and "scale" in result.output


def test_synth_gzip_then_lake_from_the_folder(env: Path) -> None:
    out = env / "gz"
    args = ["synth", "--scale", "0.00001", "--seed", "4", "--out", str(out), "--workers", "1", "--gzip"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    files = [p.name for p in (out / "submissions").rglob("*") if p.is_file()]
    assert files and all(f.endswith(".ndjson.gz") for f in files)
    # resuming a finished run changes nothing (and adds no plain files beside the gzip ones)
    before = {p: p.stat().st_size for p in (out / "submissions").rglob("*")}
    again = runner.invoke(app, [*args[:-1], "--resume"])
    assert again.exit_code == 0, again.output
    assert {p: p.stat().st_size for p in (out / "submissions").rglob("*")} == before
    assert _last_json(again.stdout)["residents"] == _last_json(result.stdout)["residents"]
    (out / "manifest.json").unlink()  # neither finished nor checkpointed: a clear error
    nothing = runner.invoke(app, [*args, "--resume"])
    assert nothing.exit_code == 2 and "--force" in nothing.output
    loaded = runner.invoke(app, ["orgunits", "load", str(out / "registry")])
    assert loaded.exit_code == 0, loaded.output
    lake = env / "lake"
    built = runner.invoke(app, ["lake", "refresh", "--lake", str(lake), "--source", str(out / "submissions")])
    assert built.exit_code == 0, built.output
    report = _last_json(built.stdout)
    assert report["resumed"] is False and report["changed_resources"]["encounter"] > 0
    assert sum(report["changed_resources"].values()) > len(files)


def test_bench_rejects_unknown_name() -> None:
    result = runner.invoke(app, ["bench", "nope"])
    assert result.exit_code == 2


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == phip.__version__


def test_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHIP_DATABASE_URL", raising=False)
    s = Settings()
    assert s.resolved_database_url().startswith("sqlite:///")
    monkeypatch.setenv("PHIP_DATABASE_URL", "postgresql://x@h/db")
    assert Settings().resolved_database_url() == "postgresql://x@h/db"
