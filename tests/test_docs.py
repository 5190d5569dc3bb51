"""The documentation is part of the product: every setting, command and defect kind is documented."""

from dataclasses import fields
from pathlib import Path

import typer

from phip.cli.main import app
from phip.settings import Settings
from phip.synth.config import DefectRates

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in text, name
        assert f"`PHIP_{name.upper()}`" in text, name


def _commands(group: typer.Typer, prefix: str = "phip") -> list[str]:
    out = []
    for cmd in group.registered_commands:
        name = cmd.name or (cmd.callback.__name__ if cmd.callback else "")
        out.append(f"{prefix} {name.replace('_', '-')}")
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        out.extend(_commands(sub.typer_instance, f"{prefix} {sub.name}"))
    return out


def test_every_cli_command_is_documented() -> None:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    commands = _commands(app)
    assert "phip synth" in commands and "phip orgunits load" in commands
    for command in commands:
        assert f"`{command}" in text, command


def test_every_defect_kind_is_documented() -> None:
    text = (ROOT / "docs" / "synth.md").read_text(encoding="utf-8")
    for f in fields(DefectRates):
        assert f"`{f.name}`" in text, f.name


def test_every_package_has_a_readme() -> None:
    for init in (ROOT / "src" / "phip").glob("*/__init__.py"):
        assert (init.parent / "README.md").exists(), init.parent.name


def test_every_package_readme_lists_its_modules() -> None:
    """A newcomer finds each module from its package's README: every `*.py` of a package (and of
    its sub-packages, which the parent README may describe) is named there."""
    for init in (ROOT / "src" / "phip").glob("*/__init__.py"):
        package = init.parent
        texts = [(package / "README.md").read_text(encoding="utf-8")]
        for module in package.rglob("*.py"):
            rel = module.relative_to(package)
            if module.name == "__init__.py" or rel.parts[0] == "migrations":
                continue
            own = module.parent / "README.md"
            text = "\n".join(texts + ([own.read_text(encoding="utf-8")] if own.exists() else []))
            assert module.name in text, f"{package.name}/README.md: {rel}"


def test_one_version() -> None:
    """The version lives in pyproject.toml only; the package and `phip version` read it, and the
    changelog's newest release is that version."""
    import re
    from importlib.metadata import version

    import phip

    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared and phip.__version__ == declared.group(1) == version("phip")
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    newest = re.search(r"^## \[?(\d+\.\d+\.\d+)", changelog, re.M)
    assert newest and newest.group(1) == phip.__version__, (newest and newest.group(1), phip.__version__)


def test_top_level_documents_exist() -> None:
    for name in ("README.md", "ARCHITECTURE.md", "CHANGELOG.md"):
        assert (ROOT / name).read_text(encoding="utf-8").strip()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")


def test_identity_model_is_documented() -> None:
    """docs/identity.md names every comparison level, blocking rule and threshold in code."""
    from phip.identity import splink_model
    from phip.identity.compare import LEVELS

    text = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
    for levels in LEVELS.values():
        for level in levels:
            assert f"`{level}`" in text, level
    rules = splink_model.BLOCKING_RULES + splink_model.TRAINING_BLOCKS + splink_model.FALLBACK_TRAINING_BLOCKS
    for rule in rules + splink_model.DETERMINISTIC_RULES:
        assert f"`{rule}`" in text, rule
    assert f"**{splink_model.MATCH_THRESHOLD}**" in text and f"**{splink_model.REVIEW_THRESHOLD}**" in text


def test_indicator_reference_is_up_to_date() -> None:
    """docs/indicators.md is generated from the catalogue: every indicator and source is in it."""
    from phip.analytics.catalogue import catalogue
    from phip.analytics.reference import markdown

    text = (ROOT / "docs" / "indicators.md").read_text(encoding="utf-8")
    assert text == markdown(), "run: python -m phip.analytics.reference > docs/indicators.md"
    for iid in catalogue():
        assert f"## `{iid}`" in text


def test_quality_rule_reference_is_up_to_date() -> None:
    """docs/quality-rules.md is generated from the rule catalogue: every rule is in it."""
    from phip.quality.catalogue import catalogue
    from phip.quality.reference import markdown

    text = (ROOT / "docs" / "quality-rules.md").read_text(encoding="utf-8")
    assert text == markdown(), "run: python -m phip.quality.reference > docs/quality-rules.md"
    for rule in catalogue().rules:
        assert f"### `{rule.id}`" in text
