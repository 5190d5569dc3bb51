"""The HTTP protocol `phip serve` runs under uvicorn: h11, with a clear answer to a request line
that holds raw (not percent-encoded) UTF-8.

HTTP allows only ASCII in a request's address; browsers percent-encode the rest (`张` is sent as
`%E5%BC%A0`), but `curl '…/fhir/Patient?name=张'` sends the raw bytes, and h11 refuses them before
the application sees the request. uvicorn then answers a bare "Invalid HTTP request received.".
Here the refusal says what is wrong and how to send the request instead (both languages), with
the platform's security headers; every other refusal is unchanged.
"""

from __future__ import annotations

import re

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from phip.web.headers import COMMON, CSP

#: how much of a connection's latest bytes are kept to explain a refusal (a request line is short)
KEEP = 16 * 1024
#: a request line whose address holds a byte outside ASCII
RAW_UTF8_LINE = re.compile(rb"(?m)^[A-Z]+ [^\r\n ]*[\x80-\xff][^\r\n]* HTTP/\d\.\d\r?$")
NOT_ASCII = (
    "400 Bad Request: the request's address (URL) holds characters that are not ASCII, such as\n"
    "Chinese text in a query. HTTP sends them percent-encoded (UTF-8), as browsers do: ?name=张 is\n"
    "?name=%E5%BC%A0. With curl, let it encode the parameter:\n"
    "  curl --get --data-urlencode 'name=张' -H 'Authorization: Bearer …' http://HOST:PORT/fhir/Patient\n"
    "请求地址（URL）中含有非 ASCII 字符（例如查询中的中文）。请按 UTF-8 进行百分号编码后发送，\n"
    "如 ?name=张 应写作 ?name=%E5%BC%A0；使用 curl 时可用 --get --data-urlencode 'name=张'。\n"
)


class ClearH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, whose 400 explains a raw UTF-8 request line."""

    _recent: bytes = b""

    def data_received(self, data: bytes) -> None:
        self._recent = (self._recent + data)[-KEEP:]
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not RAW_UTF8_LINE.search(self._recent):
            super().send_400_response(msg)
            return
        body = NOT_ASCII.encode("utf-8")
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *COMMON,
            (b"content-security-policy", CSP.encode()),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
