"""The FastAPI application: every router is mounted here, in one place."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from phip import __version__, security
from phip.lake.manifest import LakeError
from phip.security.access import Denied
from phip.settings import Settings, get_settings
from phip.store import get_engine, init_db, protect
from phip.store.errors import StoreError
from phip.web import (
    auth_router,
    background,
    card_router,
    console,
    docs,
    empi_router,
    fhir_bulk_router,
    fhir_person_router,
    fhir_router,
    indicators_router,
    quality_router,
)
from phip.web.body import StrictBodies
from phip.web.deps import route_action
from phip.web.headers import SecurityHeaders
from phip.web.outcome import (
    ApiError,
    api_error_handler,
    database_busy_handler,
    database_data_handler,
    denied_handler,
    http_error_handler,
    illegal_transition_handler,
    lake_error_handler,
    store_error_handler,
    unexpected_error_handler,
    validation_error_handler,
    withhold_tracebacks,
)
from phip.workflow import IllegalTransition

#: the API's routers, in mounting order: the `$`-operations and `Patient/$match` come before the
#: FHIR router's `{rtype}` paths, so they are not taken for resource types
ROUTERS = (
    auth_router,
    card_router,
    empi_router,
    indicators_router,
    quality_router,
    fhir_person_router,
    fhir_bulk_router,
    fhir_router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check_secrets()
    app = FastAPI(
        title="PHIP — 全民健康信息平台",
        version=__version__,
        description="Population Health Information Platform: FHIR R4 at /fhir, platform API at /api.",
        lifespan=background.lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN: on the intranet they are blank.
        # `/docs` is served from the platform's own files instead (phip.web.docs); no `/redoc`.
        docs_url=None,
        redoc_url=None,
    )
    engine = get_engine(settings.resolved_database_url())
    init_db(engine)
    protect.configure(settings.data_key)
    security.configure(settings)
    app.state.settings = settings
    app.state.engine = engine
    app.add_exception_handler(StoreError, store_error_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(Denied, denied_handler)
    app.add_exception_handler(IllegalTransition, illegal_transition_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(OperationalError, database_busy_handler)
    app.add_exception_handler(DataError, database_data_handler)
    app.add_exception_handler(LakeError, lake_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    for module in ROUTERS:
        publish_actions(module.router)
        app.include_router(module.router)
    console.install(app)
    docs.install(app)
    app.add_middleware(StrictBodies, settings=settings)
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: on every answer
    withhold_tracebacks()
    return app


def publish_actions(router: APIRouter) -> None:
    """Every API operation names, in the OpenAPI, the access-policy action it demands
    (`x-phip-action`)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            action = route_action(route.dependant)
            if action:
                route.openapi_extra = {**(route.openapi_extra or {}), "x-phip-action": action}
