"""Reading NDJSON submissions, plain or gzip (several members), line by line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from phip.fhir import ndjson


def _write(path: Path, data: bytes) -> None:
    if path.name.endswith(".gz"):
        # two members, split inside a line, as an appending writer leaves them
        half = len(data) // 2
        path.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("name", ["Encounter.ndjson", "Encounter.ndjson.gz"])
def test_lines_across_blocks_blank_lines_and_no_final_line_end(tmp_path: Path, name: str) -> None:
    # lines longer than the read block, blank lines, CRLF, and a last line with no line end
    long = b'{"id": "' + b"x" * (3 << 20) + b'"}'
    data = b'{"id": "a"}\n\n' + long + b"\r\n   \n" + b'{"id": "b"}\n' * 3 + b'{"id": "c"}'
    path = tmp_path / name
    _write(path, data)
    got = list(ndjson.lines(path))
    assert got == [b'{"id": "a"}', long + b"\r", *[b'{"id": "b"}'] * 3, b'{"id": "c"}']
    assert ndjson.count_lines(path) == data.count(b"\n") + 1
    assert ndjson.resource_type_of(path) == "Encounter" and ndjson.is_ndjson(path)


def test_an_empty_file_has_no_lines(tmp_path: Path) -> None:
    _write(tmp_path / "Patient.ndjson.gz", b"")
    assert list(ndjson.lines(tmp_path / "Patient.ndjson.gz")) == []
    assert ndjson.count_lines(tmp_path / "Patient.ndjson.gz") == 0
