"""The one interface the domains run SQL through, whichever engine runs it: tables in (Arrow
tables, Parquet files), a query's result out (Arrow, or rows), the engine's SQL dialect, and a
Splink database API over it for linkage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import pyarrow as pa

from phip.engines.dialects import Dialect

#: a column of a table given by Parquet files: (name, type as DuckDB names it)
Column = Sequence[str]


class QueryError(RuntimeError):
    """The engine refused or failed a statement (the message is the engine's)."""


class Engine(ABC):
    """An analytical engine holding named tables. `close()` (or leaving a `with` block) forgets
    the tables this object registered and releases what it holds."""

    #: the registry key (`ENGINES`) and the value of the `PHIP_ENGINE` setting
    name: ClassVar[str] = ""
    dialect: Dialect

    # ---- tables in ----
    def register(self, name: str, data: pa.Table | Path | str) -> None:
        """Make `data` queryable as table `name`: an Arrow table (copied into the engine) or a
        Parquet file (read where it lies)."""
        if isinstance(data, pa.Table):
            self.load_arrow(name, data)
        else:
            self.read_parquet(name, [Path(data)])

    @abstractmethod
    def load_arrow(self, name: str, table: pa.Table) -> None:
        """Table `name` holding the rows of an Arrow table (replacing one of that name)."""

    @abstractmethod
    def read_parquet(self, name: str, files: Sequence[Path], columns: Sequence[Column] = ()) -> None:
        """Table `name` as the rows of Parquet files (the files are read at each query). With no
        files, an empty table of `columns`."""

    @abstractmethod
    def materialize(self, name: str, sql: str) -> None:
        """Keep the rows of query `sql` as table `name` for the queries that follow (computed once)."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Forget table `name` (a no-op when there is none)."""

    # ---- results out ----
    @abstractmethod
    def query(self, sql: str) -> pa.Table:
        """The result of a query as an Arrow table."""

    @abstractmethod
    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The result rows of a query (lists as Python lists)."""

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run a statement for its effect."""

    # ---- linkage ----
    @abstractmethod
    def splink_api(self) -> Any:
        """A Splink database API over this engine (its tables are Splink's input tables)."""

    # ---- lifetime ----
    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
