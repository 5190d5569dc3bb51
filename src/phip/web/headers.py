"""Security headers on every response, and the platform's public address.

Every response says: do not sniff types, never frame me, send no referrer elsewhere, run only
this origin's scripts (console pages and the API docs at `/docs` load nothing from anywhere else
and run no inline script). Behind a TLS proxy (`PHIP_TLS_PROXY`) it adds HSTS. Links the
platform writes (`fullUrl`, paging links, Content-Location) start with `PHIP_PUBLIC_BASE_URL`, or
the address the server listens on: never the request's Host header, which any caller can set.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeaders:
    """Pure ASGI middleware (streaming responses pass through untouched)."""

    def __init__(self, app: Any, settings: Any):
        self.app, self.settings = app, settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        static = path.startswith("/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                present = {k.lower() for k, _ in headers}
                extra = [
                    h for h in COMMON if h[0] not in present and not (static and h[0] == b"cache-control")
                ]
                extra.append((b"content-security-policy", CSP.encode()))
                if self.settings.tls_proxy or scope.get("scheme") == "https":
                    extra.append(HSTS)
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def public_base(request: Request) -> str:
    """The platform's public base URL, without a trailing slash."""
    configured: str = request.app.state.settings.public_base_url
    if configured:
        return configured.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 8000)
    scheme = request.scope.get("scheme", "http")
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" if default or port is None else f"{scheme}://{host}:{port}"


def client_address(request: Request) -> str:
    """The caller's address for throttling: the peer, or behind a trusted reverse proxy the
    nearest `X-Forwarded-For` address that is not one of the trusted proxies (addresses further
    left were written by the client and prove nothing)."""
    peer = request.client.host if request.client else "-"
    trusted = set(request.app.state.settings.trusted_proxies)
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop[:64]
    return peer
