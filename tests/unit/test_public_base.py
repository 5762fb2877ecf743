"""The public base a request advertises: public URL, trusted proxy, Host -- and what a header may not do."""

from __future__ import annotations

from typing import Any

import pytest

from mapserver.public_base import parse_public_url, resolve

PROXY = "10.0.0.5"


def base(environ: dict[str, Any], *, public_url: str | None = None, trusted: tuple[str, ...] = (PROXY,)) -> str:
    env = {"wsgi.url_scheme": "http", "SERVER_NAME": "10.1.1.1", "SERVER_PORT": "8000", "REMOTE_ADDR": PROXY,
           **environ}
    return resolve(env, public_url=parse_public_url(public_url) if public_url else None,
                   trusted=frozenset(trusted)).url


@pytest.mark.parametrize(("environ", "expected"), [
    ({"HTTP_HOST": "gis.example:9000"}, "http://gis.example:9000"),
    ({"HTTP_HOST": "GIS.example:80"}, "http://gis.example"),
    ({"HTTP_HOST": "[::1]:18102"}, "http://[::1]:18102"),
    ({}, "http://10.1.1.1:8000"),                                           # no Host: the server's own name
    ({"HTTP_HOST": "evil.example/x?"}, "http://10.1.1.1:8000"),             # not a host: ignored
    ({"HTTP_HOST": "a.example", "wsgi.url_scheme": "https"}, "https://a.example"),
    # a trusted proxy's word, in each spelling
    ({"HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_HOST": "gis.example", "HTTP_X_FORWARDED_PROTO": "https"},
     "https://gis.example"),
    ({"HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_HOST": "gis.example", "HTTP_X_FORWARDED_PORT": "8443",
      "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_PREFIX": "/onemap/"}, "https://gis.example:8443/onemap"),
    ({"HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_HOST": "spoofed.example, gis.example"}, "http://gis.example"),
    ({"HTTP_HOST": "in:8000", "HTTP_FORWARDED": 'for=1.2.3.4;host="gis.example:8443";proto=https'},
     "https://gis.example:8443"),
    ({"HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_PROTO": "gopher"}, "http://in:8000"),
    ({"HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_PREFIX": "//evil.example"}, "http://in:8000"),
    # the same headers from anyone else change nothing
    ({"REMOTE_ADDR": "10.0.0.9", "HTTP_HOST": "in:8000", "HTTP_X_FORWARDED_HOST": "gis.example",
      "HTTP_FORWARDED": "host=gis.example;proto=https"}, "http://in:8000"),
])
def test_the_request_decides_without_a_public_url(environ: dict[str, Any], expected: str) -> None:
    assert base(environ) == expected


def test_the_public_url_wins_over_every_header() -> None:
    for environ in ({"HTTP_HOST": "in:8000"}, {"HTTP_X_FORWARDED_HOST": "gis.example", "HTTP_FORWARDED": "host=x"}):
        assert base(environ, public_url="https://onemap.example.gov.cn/gis/") == "https://onemap.example.gov.cn/gis"


def test_no_proxy_is_trusted_by_default_not_even_loopback() -> None:
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:18102", "HTTP_X_FORWARDED_HOST": "evil.example"}
    assert base(environ, trusted=()) == "http://127.0.0.1:18102"
