"""/healthz: status for anyone; the database, extension versions and the feature count of every registry layer only
for operators (whom the policy lets administer the system) and for a probe on this host (loopback, the forwarded
address behind a trusted proxy)."""

from __future__ import annotations

import pytest

from access.demo import DEMO_USERS
from access.policy.rules import Target, load_policy
from core.identity import ROLES, Identity
from layers.registry import default_registry
from tests.conftest import free_port
from tests.integration.auth_support import make_app, sign_in

REMOTE = "203.0.113.7"  # TEST-NET-3: an address that is not this host


def _operator_roles() -> set[str]:
    policy = load_policy()
    return {role for role in ROLES
            if policy.decide(Identity(1, role, frozenset({role}), method="session"), "admin",
                             Target("module", "admin")).allowed}


def _assert_detail(body: dict) -> None:
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["postgis"].startswith("3.")
    assert body["database"]["pgrouting"]
    assert set(body["layers"]) == set(default_registry().ids)
    assert all(count > 0 for count in body["layers"].values()), body["layers"]


def test_local_probe_sees_every_layer(demo_app) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    _assert_detail(response.get_json())
    assert response.get_json()["layers"]["enterprises"] == 5000
    ipv6 = demo_app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "::1"})
    _assert_detail(ipv6.get_json())


@pytest.mark.parametrize("headers", [
    {},
    {"X-Forwarded-For": "127.0.0.1"},  # forged: the peer is not a trusted proxy
    {"Forwarded": "for=127.0.0.1"},
    {"X-Real-IP": "::1"},
], ids=["plain", "xff", "forwarded", "x-real-ip"])
def test_anonymous_remote_caller_gets_status_only(demo_app, headers: dict[str, str]) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/healthz", headers=headers, environ_base={"REMOTE_ADDR": REMOTE})
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_unconfigured_proxy_on_this_host_is_not_a_local_probe(demo_app) -> None:  # noqa: ANN001
    """nginx on 127.0.0.1 that nobody listed in auth.trusted_proxies: its requests come from elsewhere."""
    response = demo_app.test_client().get("/healthz", headers={"X-Forwarded-For": REMOTE},
                                          environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.get_json() == {"status": "ok"}


@pytest.mark.parametrize(("proxy", "forwarded_for", "detail"), [
    ("10.0.0.2", REMOTE, False),
    ("10.0.0.2", "127.0.0.1", True),   # the proxy forwarded a probe made on its host
    ("127.0.0.1", REMOTE, False),      # a trusted proxy on this host: the forwarded client counts, not the peer
    ("127.0.0.1", f"127.0.0.1, {REMOTE}", False),  # the client's own X-Forwarded-For is not believed
])
def test_behind_a_trusted_proxy_the_forwarded_address_counts(demo_db, demo_artifacts, proxy: str,  # noqa: ANN001
                                                             forwarded_for: str, detail: bool) -> None:
    app = make_app(demo_db, demo_artifacts, trusted_proxies=[proxy])
    response = app.test_client().get("/healthz", headers={"X-Forwarded-For": forwarded_for},
                                     environ_base={"REMOTE_ADDR": proxy})
    assert response.status_code == 200
    if detail:
        _assert_detail(response.get_json())
    else:
        assert response.get_json() == {"status": "ok"}


def test_operators_see_detail_and_no_other_role_does(fresh_db, demo_artifacts) -> None:  # noqa: ANN001
    """Every demo user (one per role) signs in from a remote address; the policy decides who is an operator."""
    operators = _operator_roles()
    assert operators == {"system_admin"}  # the policy's system administration rule; 三权分立 keeps others out
    app = make_app(fresh_db, demo_artifacts)
    tried = set()
    for n, user in enumerate(DEMO_USERS):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"203.0.113.{10 + n}"
        sign_in(client, user.username)
        body = client.get("/healthz").get_json()
        if user.role in operators:
            _assert_detail(body)
        else:
            assert body == {"status": "ok"}, user.username
        tried.add(user.role)
    # every role but "public" has a demo user; "public" is the anonymous caller's role, tried here as well
    anonymous = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": REMOTE}).get_json()
    assert anonymous == {"status": "ok"} and "public" not in operators
    tried.add("public")
    assert tried == set(ROLES)


def test_healthz_without_database_is_503(app_factory) -> None:  # noqa: ANN001
    app = app_factory(f"postgresql://nobody:pw@127.0.0.1:{free_port()}/none")
    remote = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": REMOTE})
    assert remote.status_code == 503
    assert remote.get_json() == {"status": "unavailable"}
    local = app.test_client().get("/healthz", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert local.status_code == 503
    body = local.get_json()
    assert body["status"] == "unavailable"
    assert "cannot connect" in body["database"]["error"]
    assert "pw@" not in body["database"]["error"]


def test_unknown_route_is_problem_json(demo_app) -> None:  # noqa: ANN001
    response = demo_app.test_client().get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_home_lists_services_and_every_layer(demo_app) -> None:  # noqa: ANN001
    html = demo_app.test_client().get("/services").get_data(as_text=True)
    assert "虚构城市" in html
    for layer in default_registry():
        assert f"ogcapi/collections/{layer.id}/items" in html and layer.title_zh in html
