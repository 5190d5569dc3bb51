from tests.web.conftest import api  # noqa: F401
