"""A person in a browser who needs to sign in is sent to the sign-in page and brought back afterwards; scripts,
API and OGC clients keep their 401 problem+json or OGC exception; the way back never leaves the site."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from access.demo import DEMO_PASSWORD
from access.policy.browser import requested_path, safe_next
from tests.integration.auth_support import code, make_app, sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
NO_RATE_LIMIT = {"login": {"burst": 1000}}


@pytest.fixture(scope="module")
def app(pg_cluster, template_url: str, demo_artifacts):  # noqa: ANN001, ANN201
    """One clone for the module: these tests only sign in users without TOTP (a TOTP code is accepted once)."""
    from tests.conftest import clone_database, drop_database

    yield make_app(clone_database(pg_cluster, "t_auth_pages_shared"), demo_artifacts, rate_limits=NO_RATE_LIMIT)
    drop_database(pg_cluster, "t_auth_pages_shared")


def test_anonymous_browser_is_sent_to_sign_in_with_the_way_back(app) -> None:  # noqa: ANN001
    response = app.test_client().get("/screen", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login?next=%2Fscreen"
    assert response.headers["Cache-Control"] == "no-store"
    with_query = app.test_client().get("/screen?theme=night&x=1", headers=BROWSER)
    assert parse_qs(urlsplit(with_query.headers["Location"]).query)["next"] == ["/screen?theme=night&x=1"]
    # The sign-in page carries the way back in its form.
    page = app.test_client().get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/screen"' in page


@pytest.mark.parametrize("accept", ["application/json", "*/*", None, "application/json, text/html;q=0.5"])
def test_scripts_keep_401_problem_json(app, accept: str | None) -> None:  # noqa: ANN001
    response = app.test_client().get("/screen", headers={"Accept": accept} if accept else {})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json" and "Location" not in response.headers


def test_ogc_and_api_requests_from_a_browser_keep_their_own_answers(app) -> None:  # noqa: ANN001
    client = app.test_client()
    api = client.get("/api/audit", headers=BROWSER)
    assert api.status_code == 401 and api.mimetype == "application/problem+json"
    ogc = client.get("/ogcapi/collections/hazard_sources/items", headers=BROWSER)
    assert ogc.status_code == 401 and "Location" not in ogc.headers
    wms = client.get("/ows?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=hazard_sources&STYLES=&CRS=EPSG:4490"
                     "&BBOX=32,119,32.1,119.1&WIDTH=10&HEIGHT=10&FORMAT=image/png", headers=BROWSER)
    assert wms.status_code == 401 and "xml" in wms.mimetype and wms.headers["WWW-Authenticate"].startswith("Basic")


def test_a_form_post_is_not_redirected(app) -> None:  # noqa: ANN001
    response = app.test_client().post("/security/users", headers=BROWSER, data={"username": "x"})
    assert response.status_code == 401 and response.mimetype == "text/html"
    assert "/auth/login" in response.get_data(as_text=True)


def test_signed_in_browser_without_the_role_gets_a_403_page(app) -> None:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, "grid_worker")
    page = client.get("/screen", headers=BROWSER)
    assert page.status_code == 403 and page.mimetype == "text/html"
    assert "无权访问" in page.get_data(as_text=True) and "Location" not in page.headers
    script = client.get("/screen", headers={"Accept": "application/json"})
    assert script.status_code == 403 and script.get_json()["code"] == "forbidden"
    # A page that checks the role itself (三权分立) answers the same way.
    tokens_page = client.get("/security/users", headers=BROWSER)
    assert tokens_page.status_code == 403 and tokens_page.mimetype == "text/html"


def test_pages_that_check_sign_in_themselves_redirect_too(app) -> None:  # noqa: ANN001
    response = app.test_client().get("/auth/tokens", headers=BROWSER)
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login?next=%2Fauth%2Ftokens"
    api = app.test_client().get("/auth/tokens", headers={"Accept": "application/json"})
    assert api.status_code == 401 and api.mimetype == "application/problem+json"


def test_login_alias_keeps_only_a_safe_next(app) -> None:  # noqa: ANN001
    client = app.test_client()
    assert client.get("/login?next=/screen").headers["Location"] == "/auth/login?next=%2Fscreen"
    for evil in ("//evil.example", "https://evil.example/", "/\\evil.example", "/\t/evil.example"):
        assert client.get("/login", query_string={"next": evil}).headers["Location"] == "/auth/login", evil


def _form_sign_in(client, username: str, next_value: str):  # noqa: ANN001, ANN202
    page = client.get("/auth/login", query_string={"next": next_value}).get_data(as_text=True)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page).group(1)
    return client.post("/auth/login", data={"username": username, "password": DEMO_PASSWORD, "login_csrf": token,
                                            "next": next_value})


@pytest.mark.parametrize("evil", ["//evil.example", "https://evil", "//evil.example/screen", "/\\evil.example",
                                  "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)", " /screen"])
def test_after_sign_in_next_never_leaves_the_site(app, evil: str) -> None:  # noqa: ANN001
    done = _form_sign_in(app.test_client(), "grid_worker", evil)
    assert done.status_code == 303 and done.headers["Location"] == "/", evil


def test_after_sign_in_with_totp_the_browser_is_back_on_the_page(fresh_db: str, demo_artifacts) -> None:  # noqa: ANN001
    app = make_app(fresh_db, demo_artifacts, rate_limits=NO_RATE_LIMIT)
    client = app.test_client()
    to_login = client.get("/screen?theme=night", headers=BROWSER).headers["Location"]
    next_value = parse_qs(urlsplit(to_login).query)["next"][0]
    step = _form_sign_in(client, "dispatcher", next_value)
    assert step.status_code == 303
    assert step.headers["Location"] == "/auth/totp?next=%2Fscreen%3Ftheme%3Dnight"
    page = client.get(step.headers["Location"]).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert 'name="next" value="/screen?theme=night"' in page
    done = client.post("/auth/totp", data={"code": code("dispatcher"), "csrf_token": csrf, "next": next_value})
    assert done.status_code == 303 and done.headers["Location"] == "/screen?theme=night"
    assert client.get(done.headers["Location"], headers=BROWSER).status_code == 200


@pytest.mark.parametrize(("target", "expected"), [
    ("/screen", "/screen"), ("/screen?a=1&b=%2F", "/screen?a=1&b=%2F"), ("/", "/"), (None, "/"), ("", "/"),
    ("screen", "/"), ("//evil.example", "/"), ("///evil.example", "/"), ("/\\evil", "/"), ("/a\\b", "/"),
    ("https://evil", "/"), ("/\x00", "/"), ("/ü", "/"), ("/" + "a" * 2000, "/"),
])
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_the_requested_path_is_percent_encoded() -> None:
    environ = {"PATH_INFO": "/screen/区".encode().decode("latin-1"), "QUERY_STRING": "q=a b"}
    assert requested_path(environ) == "/screen/%E5%8C%BA?q=a%20b"
