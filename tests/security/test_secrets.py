"""Finding 2: no secret is a constant in the code, not even in demo mode. A deployment that sets
nothing refuses to start; a demo generates its own random signing secret and data key at its
first run and keeps them in its working folder (owner-only); the data key is never derived from
the signing secret, so a leaked token key does not open stored identity numbers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phip.settings import Settings, SettingsError


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
