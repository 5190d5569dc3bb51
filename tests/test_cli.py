"""The `phip` command, run in-process with Typer's runner."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import phip
from phip.cli.main import app
from phip.settings import Settings, SettingsError, get_settings

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
    assert summary["residents"] == round(25019831 * 0.00002)
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


def test_settings_refuse_to_run_without_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PHIP_SECRET_KEY", raising=False)
    monkeypatch.delenv("PHIP_DATA_KEY", raising=False)
    monkeypatch.delenv("PHIP_DEMO", raising=False)
    monkeypatch.setenv("PHIP_VAR_DIR", str(tmp_path / "var"))
    with pytest.raises(SettingsError, match="PHIP_SECRET_KEY"):  # nothing set: not demo, no secret
        Settings().check_secrets()
    monkeypatch.setenv("PHIP_SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="PHIP_SECRET_KEY"):
        Settings().check_secrets()
    monkeypatch.setenv("PHIP_SECRET_KEY", "a-real-secret-of-enough-length-0123456789")
    with pytest.raises(SettingsError, match="PHIP_DATA_KEY"):
        Settings().check_secrets()
    monkeypatch.setenv("PHIP_DATA_KEY", "zz" * 16)
    with pytest.raises(SettingsError, match="PHIP_DATA_KEY"):
        Settings().check_secrets()
    monkeypatch.setenv("PHIP_DATA_KEY", "00" * 16)
    Settings().check_secrets()
    assert not (tmp_path / "var" / "demo-secrets.json").exists()  # nothing generated outside demo


def test_demo_generates_its_own_secrets_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PHIP_SECRET_KEY", "PHIP_DATA_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHIP_DEMO", "true")
    monkeypatch.setenv("PHIP_VAR_DIR", str(tmp_path / "a"))
    first = Settings()
    first.check_secrets()
    again = Settings()
    again.check_secrets()
    assert (first.secret_key, first.data_key) == (again.secret_key, again.data_key)  # kept
    assert len(first.secret_key) >= 32 and len(bytes.fromhex(first.data_key)) == 16
    assert (tmp_path / "a" / "demo-secrets.json").stat().st_mode & 0o077 == 0  # owner only
    monkeypatch.setenv("PHIP_VAR_DIR", str(tmp_path / "b"))
    other = Settings()
    other.check_secrets()
    assert other.secret_key != first.secret_key and other.data_key != first.data_key
    # the data key is not derived from the signing secret
    monkeypatch.setenv("PHIP_SECRET_KEY", first.secret_key)
    monkeypatch.setenv("PHIP_VAR_DIR", str(tmp_path / "c"))
    third = Settings()
    third.check_secrets()
    assert third.secret_key == first.secret_key and third.data_key != first.data_key


def test_cli_without_settings_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PHIP_")}
    env["PHIP_VAR_DIR"] = str(tmp_path / "var")
    code = "from phip.cli.main import main; import sys; sys.argv = ['phip', 'serve']; main()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PHIP_SECRET_KEY" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHIP_DATABASE_URL", raising=False)
    s = Settings()
    assert s.resolved_database_url().startswith("sqlite:///")
    monkeypatch.setenv("PHIP_DATABASE_URL", "postgresql://x@h/db")
    assert Settings().resolved_database_url() == "postgresql://x@h/db"
