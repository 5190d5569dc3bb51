"""The security suite runs against the same in-process API as the web tests: two facilities in
different prefectures and one account per role, on SQLite and PostgreSQL."""

from tests.web.conftest import api, empi_model  # noqa: F401
