"""The README works when pasted.

Every shell block of README.md carries a mark on the line before it, and the test does what the
mark says:

- `<!-- readme-test: demo -->`: the commands run verbatim, one by one and in order, in one bash
  shell (a variable one command sets is there for the next), against a real `phip serve` on a
  demo-like province, from a folder laid out as the checkout is after `make demo` (`var/` with the
  demo's database, lake and `demo-secrets.json`; `.venv/`). The one substitution: the address
  `make demo` serves on (`127.0.0.1:8000`) becomes the test server's free port. Each command must
  exit 0 and say something meaningful (curl runs with `--fail-with-body`, so an HTTP error fails).
- `<!-- readme-test: shell -->`: the commands run verbatim in a fresh shell, no server needed.
- `<!-- readme-test: dry-run (why) -->`: `make` commands a test cannot run (`make demo` serves
  until stopped, `make test` runs the whole suite): `make -n TARGET` proves the target exists.

The demo-like province is the session's small province (`lake_store`: ingested, linked, lake
built, indicators computed), then what the rest of `make demo` does, with the settings it exports
(demo mode, `PHIP_AS_OF`): `phip quality run`, `phip accounts demo`, `phip serve`. Also: the
`make` targets, `phip` commands and files the README's prose names exist, and the README's old
FHIR search (Chinese unencoded in the address) gets an answer that explains how to send it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI, TEST_DATA_KEY, LakeStore

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: where `make demo` serves (Makefile: DEMO_PORT), as the README writes it
DEMO_ADDRESS = "127.0.0.1:8000"
MARK = re.compile(r"<!--\s*readme-test:\s*(demo|shell|dry-run)\b[^>]*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}
VENV = Path(sys.prefix)


@dataclass(frozen=True)
class Block:
    line: int  # where the block starts in README.md (1-based)
    lang: str
    mark: str | None  # demo, shell, dry-run or None
    text: str

    def commands(self) -> list[str]:
        """The block's commands: comment and blank lines dropped, `\\` continuations joined."""
        out: list[str] = []
        pending = ""
        for raw in self.text.splitlines():
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if raw.endswith("\\"):
                pending += raw[:-1] + " "
                continue
            out.append(pending + raw)
            pending = ""
        assert not pending, f"README.md:{self.line}: a command ends with a continuation"
        return out


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        mark = MARK.search(prev)
        found.append(Block(i + 1, m.group(1), mark.group(1) if mark else None, "\n".join(lines[i + 1 : j])))
        i = j + 1
    return found


def shell_blocks() -> list[Block]:
    return [b for b in blocks(README.read_text(encoding="utf-8")) if b.lang in SHELL_LANGS or b.mark]


def prose() -> str:
    """The README without its code blocks."""
    return re.sub(r"(?ms)^```.*?^```\s*$", "", README.read_text(encoding="utf-8"))


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A newcomer's shell: no `PHIP_` settings (the test session sets some), and the virtualenv
    not on PATH (the README must say `.venv/bin/phip`, not rely on an activated venv)."""
    venv_bin = str(VENV / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHIP_") and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(extra or {})
    return env


# ---- the README's own shape ----


def test_every_shell_block_is_marked() -> None:
    found = shell_blocks()
    assert found, "README.md has no shell blocks"
    unmarked = [b.line for b in found if b.mark is None]
    assert not unmarked, (
        f"README.md: shell blocks at lines {unmarked} carry no `<!-- readme-test: demo|shell|dry-run -->` "
        "mark on the line before them (tests/test_readme.py)"
    )
    assert any(b.mark == "demo" for b in found)


def test_no_command_outside_the_blocks() -> None:
    """A `curl` in prose is not run by this test: commands belong in marked blocks."""
    inline = re.findall(r"`([^`\n]+)`", prose())
    offenders = [c for c in inline if re.match(r"\s*(curl|wget|python3?|bash|sh|\.venv/)\s", c)]
    assert not offenders, f"commands in README.md's prose, put them in a marked block: {offenders}"


def test_make_targets_exist() -> None:
    """Dry-run blocks and every `make X` the README names: the Makefile has the target."""
    need("make")
    targets = set(re.findall(r"`make ([\w-]+)[` ]", README.read_text(encoding="utf-8")))
    for b in shell_blocks():
        if b.mark == "dry-run":
            for cmd in b.commands():
                words = cmd.split("#")[0].split()
                assert words[:1] == ["make"] and len(words) == 2, f"README.md:{b.line}: {cmd!r}"
                targets.add(words[1])
    assert {"demo", "test"} <= targets
    for target in sorted(targets):
        r = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"`make {target}` (README.md): {r.stderr}"


def test_phip_commands_named_in_the_prose_exist() -> None:
    named = set(re.findall(r"`phip ([a-z][\w-]*(?: [a-z][\w-]*)?)", README.read_text(encoding="utf-8")))
    assert named
    for words in sorted(named):
        r = subprocess.run(
            [str(VENV / "bin" / "phip"), *words.split(), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(),
        )
        assert r.returncode == 0, f"`phip {words}` (README.md) is not a command: {r.stdout}{r.stderr}"


def test_files_the_readme_names_exist() -> None:
    text = README.read_text(encoding="utf-8")
    names = set(re.findall(r"\]\(([^)#\s]+)\)", text))  # Markdown links
    names |= set(re.findall(r"`?((?:docs|src|scripts)/[\w./-]+\.\w+)`?", text))
    names = {n for n in names if "://" not in n}
    assert "docs/cli.md" in names
    missing = sorted(n for n in names if not (ROOT / n).exists())
    assert not missing, f"README.md names files that do not exist: {missing}"


def test_shell_blocks_run() -> None:
    need("bash", "python3")
    ran = 0
    for b in shell_blocks():
        if b.mark != "shell":
            continue
        for cmd in b.commands():
            r = subprocess.run(
                ["bash", "-o", "pipefail", "-c", cmd],
                capture_output=True,
                text=True,
                timeout=60,
                env=clean_env(),
            )
            assert r.returncode == 0 and r.stdout.strip(), f"README.md:{b.line}: {cmd}\n{r.stderr}"
            ran += 1
    assert ran


def test_the_secrets_command_makes_valid_secrets() -> None:
    from phip.settings import Settings

    cmd = next(c for b in shell_blocks() if b.mark == "shell" for c in b.commands() if "secrets" in c)
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60, check=True).stdout
    secret, key = out.split()
    Settings(secret_key=secret, data_key=key, demo=False).check_secrets()


# ---- a demo-like platform, served as `make demo` serves it ----


@dataclass
class Demo:
    folder: Path  # laid out as the checkout: var/, .venv
    base: str  # http://127.0.0.1:PORT
    port: int
    password: str


def need(*tools: str) -> None:
    """The README's commands assume these tools (it names them as prerequisites)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if IN_CI:
            pytest.fail(f"the README's commands need {missing}, which this machine lacks")
        pytest.skip(f"{missing} not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_exports() -> dict[str, str]:
    """The settings `make demo` exports to its commands (`demo: export NAME = VALUE` in the
    Makefile: demo mode, and the date the demo's data is judged as of)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = dict(re.findall(r"(?m)^demo:\s*export\s+(\w+)\s*\??=\s*(\S+)\s*$", text))
    assert found.get("PHIP_DEMO") == "true", found
    return found


def _phip(folder: Path, *args: str) -> str:
    r = subprocess.run(
        [str(folder / ".venv" / "bin" / "phip"), *args],
        cwd=folder,
        env=clean_env(demo_exports()),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, f"phip {' '.join(args)}: {r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def demo(lake_store: LakeStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from sqlalchemy import text

    from phip.settings import DEMO_SECRETS_FILE
    from phip.store import get_engine

    need("bash", "curl", "python3")
    folder = tmp_path_factory.mktemp("readme-demo")
    with get_engine(lake_store.db_url).connect() as conn:  # everything into the main file
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    var = folder / "var"
    shutil.copytree(
        lake_store.var_dir, var, ignore=shutil.ignore_patterns("*.db-wal", "*.db-shm", "_tmp", "*.lock")
    )
    (folder / ".venv").symlink_to(VENV, target_is_directory=True)
    # what the demo's first run writes (settings.demo_secrets), with the data key the session's
    # store is encrypted with
    password = "readme-" + os.urandom(9).hex()
    secrets_file = var / DEMO_SECRETS_FILE
    secrets_file.write_text(
        json.dumps({"secret_key": os.urandom(32).hex(), "data_key": TEST_DATA_KEY, "password": password}),
        encoding="utf-8",
    )
    secrets_file.chmod(0o600)
    # the rest of `make demo`: a quality round, the demo logins, then `phip serve`
    _phip(folder, "quality", "run")
    _phip(folder, "accounts", "demo", str(lake_store.province / "registry"))
    port = _free_port()
    log = (folder / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(folder / ".venv" / "bin" / "phip"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=folder,
        env=clean_env(demo_exports()),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert proc.poll() is None, (folder / "serve.log").read_text()
            try:
                if httpx.get(base + "/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("phip serve did not start")
        yield Demo(folder, base, port, password)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)  # a copy of the session's store: disk, not evidence


def _json(out: str) -> Any:
    return json.loads(out)


def _has_score(text: str) -> bool:
    return re.search(r"│ \d{1,3}\.\d", text) is not None


@dataclass(frozen=True)
class Ran:
    cmd: str
    out: str  # stdout, stripped (for `NAME=$(…)`: the variable's value)
    err: str
    folder: Path

    def file(self) -> bytes:
        """The file the command wrote with `-o FILE`."""
        m = re.search(r"\s-o\s+(\S+)", self.cmd)
        assert m, self.cmd
        return (self.folder / m.group(1)).read_bytes()


#: what a command's output must show, by a piece of the command, the first that matches (every
#: demo command must match one, so a new command comes with its check)
EXPECT: list[tuple[str, Callable[[Ran], bool]]] = [
    ("PASSWORD=", lambda r: len(r.out) >= 12),
    ("TOKEN=", lambda r: r.out.count(".") == 2 and len(r.out) > 40),  # a signed token
    ("FACILITY=", lambda r: re.fullmatch(r"\d{6}[\w-]+", r.out) is not None),  # a facility code
    (" -o ", lambda r: r.file()[:2] == b"PK"),  # an Excel file (a zip)
    ("/fhir/Patient", lambda r: _json(r.out)["resourceType"] == "Bundle" and len(_json(r.out)["entry"]) >= 1),
    ("/api/indicators?", lambda r: len(_json(r.out)["rows"]) > 0),
    ("/api/quality/scorecard", lambda r: len(_json(r.out)["rows"]) > 0),
    ("/api/empi/review", lambda r: "items" in _json(r.out) and "counts" in _json(r.out)),
    # a table (Rich draws it on stderr today): a header, rows of units with their scores
    ("phip quality scores", lambda r: "unit" in r.out + r.err and _has_score(r.out + r.err)),
]


@pytest.mark.slow
def test_demo_commands_run_verbatim(demo: Demo) -> None:
    commands = [(b.line, c) for b in shell_blocks() if b.mark == "demo" for c in b.commands()]
    assert commands
    out_dir = demo.folder / "readme-run"
    out_dir.mkdir()
    script = ["set -o pipefail", f"cd {shlex.quote(str(demo.folder))}"]
    for i, (_, cmd) in enumerate(commands):
        assert DEMO_ADDRESS in cmd or "curl" not in cmd, f"a curl that does not use {DEMO_ADDRESS}: {cmd}"
        run = cmd.replace(DEMO_ADDRESS, f"127.0.0.1:{demo.port}")  # the one substitution
        script.append(f"{{ {run}\n}} > {out_dir}/{i}.out 2> {out_dir}/{i}.err; echo $? > {out_dir}/{i}.rc")
        assigned = re.fullmatch(r"([A-Za-z_]\w*)=(\$\(.*\)|\S*)", cmd.strip())  # not `X=1 command`
        if assigned:  # a variable for the next commands: its value is the command's output
            script.append(f'printf "%s" "${assigned.group(1)}" > {out_dir}/{i}.out')
    r = subprocess.run(
        ["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=900, env=clean_env()
    )
    assert r.returncode == 0, r.stderr
    for i, (line, cmd) in enumerate(commands):
        rc = int((out_dir / f"{i}.rc").read_text())
        out = (out_dir / f"{i}.out").read_text(encoding="utf-8")
        err = (out_dir / f"{i}.err").read_text(encoding="utf-8")
        where = (
            f"README.md (block at line {line}): {cmd}\nexit {rc}\nstdout: {out[:2000]}\nstderr: {err[:2000]}"
        )
        assert rc == 0, where
        check = next((check for piece, check in EXPECT if piece in cmd), None)
        assert check, f"no expectation for this README command in tests/test_readme.py: {cmd}"
        assert check(Ran(cmd, out.strip(), err, demo.folder)), where


@pytest.mark.slow
def test_the_readme_names_the_demo_logins(demo: Demo) -> None:
    """The logins the README lists are the ones `phip accounts demo` creates, and they log in."""
    text = README.read_text(encoding="utf-8")
    listed = re.search(r"log in as (.+?) with the password", text, re.S)
    assert listed, "the README lists the demo logins"
    names = re.findall(r"`([a-z]+)`", listed.group(1))
    assert len(names) >= 8
    for name in names:
        r = httpx.post(
            demo.base + "/api/auth/login", json={"username": name, "password": demo.password}, timeout=30
        )
        assert r.status_code == 200, (name, r.text)


@pytest.mark.slow
def test_the_old_readme_search_is_answered_clearly(demo: Demo) -> None:
    """The README used to say `curl … '127.0.0.1:8000/fhir/Patient?name=张'`: curl sends 张 as raw
    UTF-8, which HTTP does not allow, and the server's parser refused it with a bare 400. It is
    still refused, with an answer that says why and how to send it."""
    r = subprocess.run(
        ["curl", "-sS", "-i", f"127.0.0.1:{demo.port}/fhir/Patient?name=张"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HTTP/1.1 400"), r.stdout
    assert "--data-urlencode" in r.stdout and "%E5%BC%A0" in r.stdout


@pytest.mark.slow
def test_docs_page_on_the_demo(demo: Demo) -> None:
    """`/docs` (the README points to it) is this server's own page, and what it loads is served."""
    page = httpx.get(demo.base + "/docs", timeout=30)
    assert page.status_code == 200
    refs = [u for u in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not u.startswith("data:")]
    assert refs and all(u.startswith("/") and not u.startswith("//") for u in refs), refs
    for ref in refs:
        assert httpx.get(demo.base + ref, timeout=30).status_code == 200, ref
