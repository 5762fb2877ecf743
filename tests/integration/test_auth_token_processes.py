"""API tokens and OGC API Processes: a QGIS Processing or script user runs the safety computations with a token.

Generated from the policy and from what pygeoapi offers: for every process listed at /ogcapi/processes and every
demo role, a token with ``ogc:execute`` runs the process for real (with the example inputs the process publishes)
when the role may execute it; a token of the same person without that scope gets a 403 that names the missing
scope, not the role; a role the policy does not let execute gets the role refusal whatever its token holds.
"""

from __future__ import annotations

import pytest

from access.demo import DEMO_USERS
from access.models import TOKEN_SCOPES
from access.policy.rules import Target, load_policy
from core.identity import Identity
from core.manifest import collect
from tests.integration.auth_support import audit_rows, basic, make_app, sign_in

PROCESSES = dict(collect(None, "processes"))  # every installed module's OGC processes

POLICY = load_policy()
WITHOUT_EXECUTE = sorted(set(TOKEN_SCOPES) - {"ogc:execute"})


def _may_execute(role: str, process: str) -> bool:
    identity = Identity(user_id=1, username="x", roles=frozenset({role}), method="session")
    return POLICY.decide(identity, "execute", Target("process", process)).allowed


@pytest.fixture(scope="module")
def shared(pg_cluster, template_url: str, demo_artifacts):  # noqa: ANN001, ANN201
    """One clone for the module; every demo user signs in once (a TOTP code is accepted once) and mints two
    tokens through the API a user has: one with every scope, one with every scope but ogc:execute."""
    from tests.conftest import clone_database, drop_database

    url = clone_database(pg_cluster, "t_auth_token_processes")
    app = make_app(url, demo_artifacts, rate_limits={"login": {"burst": 1000}, "processes": {"burst": 1000}})
    minted: dict[str, dict[str, str]] = {}
    for user in DEMO_USERS:
        client = app.test_client()
        sign_in(client, user.username)
        minted[user.role] = {}
        for label, scopes in (("with", list(TOKEN_SCOPES)), ("without", WITHOUT_EXECUTE)):
            created = client.post("/api/auth/tokens", json={"name": f"QGIS Processing {label}", "scopes": scopes})
            assert created.status_code == 201, created.get_json()
            assert sorted(created.get_json()["scopes"]) == sorted(scopes)
            minted[user.role][label] = created.get_json()["token"]
    yield app, url, minted
    drop_database(pg_cluster, "t_auth_token_processes")


def _offered(app) -> list[str]:  # noqa: ANN001
    listed = app.test_client().get("/ogcapi/processes?f=json")
    assert listed.status_code == 200, listed.data[:300]
    return sorted(p["id"] for p in listed.get_json()["processes"])


def test_pygeoapi_offers_every_registered_process(shared) -> None:  # noqa: ANN001
    app, _, _ = shared
    assert _offered(app) == sorted(PROCESSES)


def test_every_demo_role_is_covered() -> None:
    """The matrix below runs over the demo users; a role without one would silently drop out of it."""
    from core.identity import ROLES

    assert {u.role for u in DEMO_USERS} == set(ROLES) - {"public"}
    assert any(_may_execute(u.role, p) for u in DEMO_USERS for p in PROCESSES)
    assert any(not _may_execute(u.role, p) for u in DEMO_USERS for p in PROCESSES)


@pytest.mark.parametrize("process", sorted(PROCESSES))
@pytest.mark.parametrize("role", sorted(u.role for u in DEMO_USERS))
def test_process_execution_by_token(shared, role: str, process: str) -> None:  # noqa: ANN001
    app, url, minted = shared
    machine = app.test_client()  # no cookie: a script or QGIS Processing
    described = machine.get(f"/ogcapi/processes/{process}?f=json")  # the published description, for anyone
    assert described.status_code == 200, described.data[:300]
    body = {"inputs": described.get_json()["example"]["inputs"]}
    run = machine.post(f"/ogcapi/processes/{process}/execution", json=body, headers=basic(minted[role]["with"]))
    lacking = machine.post(f"/ogcapi/processes/{process}/execution", json=body,
                           headers={"Authorization": f"Bearer {minted[role]['without']}"})
    if _may_execute(role, process):
        assert run.status_code in (200, 201), (role, process, run.data[:500])
        assert run.get_json(), (role, process)  # a real result, not an empty acknowledgement
        assert lacking.status_code == 403, (role, process, lacking.data[:300])
        message = lacking.get_json()["description"]
        assert "ogc:execute" in message and "your role may not" not in message, message
        denied = [r for r in audit_rows(url, "access.access_denied")
                  if r.object_id == process and r.username == _username(role)]
        assert denied and "ogc:execute" in denied[-1].details["reason"]
    else:
        for refused in (run, lacking):
            assert refused.status_code == 403, (role, process, refused.data[:300])
            message = refused.get_json()["description"]
            assert message == f"your role may not execute process:{process}", message


def test_process_jobs_are_readable_with_an_execute_token(shared) -> None:  # noqa: ANN001
    """A job is the result of an execution: the token that ran the process may look at the job list."""
    app, _, minted = shared
    only_execute = _execute_only_token(app, "city_reg")
    answer = app.test_client().get("/ogcapi/jobs?f=json", headers=basic(only_execute))
    assert answer.status_code not in (401, 403), answer.data[:300]
    assert app.test_client().get("/ogcapi/jobs?f=json", headers=basic(minted["city_regulator"]["with"])
                                 ).status_code not in (401, 403)


def _username(role: str) -> str:
    return next(u.username for u in DEMO_USERS if u.role == role)


def _execute_only_token(app, username: str) -> str:  # noqa: ANN001
    client = app.test_client()
    sign_in(client, username, offset_steps=1)
    created = client.post("/api/auth/tokens", json={"name": "only execute", "scopes": ["ogc:execute"]})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["token"]
