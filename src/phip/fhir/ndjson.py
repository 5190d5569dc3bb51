"""NDJSON files as submissions come: `<Type>.ndjson` or gzip-compressed `<Type>.ndjson.gz` (a
file of one or several gzip members, as `phip synth --gzip` appends them)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

SUFFIXES = (".ndjson", ".ndjson.gz")


def is_ndjson(path: Path) -> bool:
    return path.name.endswith(SUFFIXES)


def resource_type_of(path: Path) -> str:
    """The resource type a file is named for: `Encounter.ndjson.gz` → `Encounter`."""
    return path.name.split(".", 1)[0]


def open_ndjson(path: Path) -> BinaryIO:
    """The file's uncompressed bytes, to read line by line."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def type_files(folder: Path, resource_type: str) -> list[Path]:
    """`<folder>/*/<Type>.ndjson[.gz]` in name order (a province's submissions, per facility)."""
    return sorted(p for s in SUFFIXES for p in folder.glob(f"*/{resource_type}{s}"))


def lines(path: Path) -> Iterator[bytes]:
    """The file's non-blank lines, without their line ends. Read in large blocks and split:
    gzip's own line reading is Python code run once per line, several times slower."""
    rest = b""
    with open_ndjson(path) as f:
        while block := f.read(1 << 20):
            parts = (rest + block).split(b"\n") if rest else block.split(b"\n")
            rest = parts.pop()
            for line in parts:
                if line.strip():
                    yield line
    if rest.strip():
        yield rest


def count_lines(path: Path) -> int:
    """Lines in the file, read in large blocks (for progress totals: a blank line counts too)."""
    total, last = 0, b"\n"
    with open_ndjson(path) as f:
        while block := f.read(1 << 22):
            total += block.count(b"\n")
            last = block[-1:]
    return total + (last != b"\n")
