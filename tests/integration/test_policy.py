"""The authorisation policy on its own: evaluation (roles, scopes, grants and their expiry, API token scopes), fail-
closed defaults, validation errors that name file and field, and the scope predicate checked against PostGIS."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from access.policy.rules import ACTIONS, Authz, PolicyError, Target, load_policy
from core.identity import ANONYMOUS, ROLES, Identity
from core.scope import CITY, Scope, scope_links
from layers.registry import default_registry

POLICY = load_policy()
REGISTRY = default_registry()
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
USCC = "91329902MA0XRPNH8P"


def who(role: str, **kw: object) -> Identity:
    return Identity(user_id=7, username=role, roles=frozenset({role}), method="session", **kw)  # type: ignore[arg-type]


def layer(name: str) -> Target:
    return Target("layer", name)


def grant(**kw: object) -> SimpleNamespace:
    base = {"id": 1, "role": None, "permission": None, "layer": None, "module": None, "district_code": None,
            "starts_at": NOW - dt.timedelta(hours=1), "expires_at": NOW + dt.timedelta(hours=1)}
    return SimpleNamespace(**{**base, **kw})


# -- evaluation -------------------------------------------------------------------------------------------------------
def test_every_role_and_action_is_used_somewhere() -> None:
    roles = {r for rule in POLICY.rules for r in rule.roles}
    actions = {a for rule in POLICY.rules for a in rule.actions}
    assert set(ROLES) <= roles | {"*"} and set(ACTIONS) == actions


def test_district_regulator_sees_public_layers_city_wide_and_the_rest_in_the_district() -> None:
    dr = who("district_regulator", district_code="329902")
    assert POLICY.decide(dr, "read", layer("hospitals")).scope == CITY
    decision = POLICY.decide(dr, "read", layer("hazard_sources"))
    assert decision.allowed and decision.scope == Scope(districts=frozenset({"329902"}))
    assert decision.rules == ("district-data",)
    # without a district the account is misconfigured: closed, not city-wide
    assert not POLICY.decide(who("district_regulator"), "read", layer("hazard_sources")).allowed
    assert POLICY.decide(who("district_regulator"), "read", layer("hospitals")).allowed


def test_enterprise_users_see_their_own_enterprise_only() -> None:
    eu = who("enterprise_user", enterprise_uscc=USCC)
    for name in ("enterprises", "hazard_sources", "sensors", "incidents"):
        assert POLICY.decide(eu, "read", layer(name)).scope == Scope(enterprises=frozenset({USCC})), name
    for name in ("depots", "experts", "grid_cells"):
        assert not POLICY.decide(eu, "read", layer(name)).allowed, name
    assert not POLICY.decide(eu, "export", layer("hazard_sources")).allowed
    assert not POLICY.decide(who("enterprise_user", enterprise_uscc="not-a-uscc"), "read",
                             layer("hazard_sources")).allowed


@pytest.mark.parametrize("role", ["auditor", "system_admin", "security_admin"])
def test_separated_roles_see_no_business_data(role: str) -> None:
    for name in REGISTRY.ids:
        assert not POLICY.decide(who(role), "read", layer(name)).allowed, name
    assert not POLICY.decide(who(role), "read", Target("page", "console")).allowed
    own = {"auditor": ("audit", "audit"), "system_admin": ("admin", "admin"), "security_admin": ("admin", "security")}
    action, module = own[role]
    assert POLICY.decide(who(role), action, Target("module", module)).allowed
    others = {"audit", "admin", "security"} - {module}
    assert not any(POLICY.decide(who(role), a, Target("module", m)).allowed for m in others for a in ACTIONS)


def test_anonymous_callers_get_public_layers_and_public_pages() -> None:
    assert POLICY.visible(ANONYMOUS) == {lyr.id for lyr in REGISTRY if lyr.access == "public"}
    assert POLICY.decide(ANONYMOUS, "read", Target("page", "console")).allowed
    assert not POLICY.decide(ANONYMOUS, "export", layer("roads")).allowed
    assert not POLICY.decide(ANONYMOUS, "execute", Target("process", "gaussian-plume")).allowed


@pytest.mark.parametrize(("action", "target"), [
    ("read", layer("no_such_layer")), ("read", Target("module", "no_such_module")), ("read", Target("kind", "x")),
    ("delete", layer("roads")), ("write", layer("roads")), ("execute", Target("process", "no-such-process")),
])
def test_whatever_no_rule_names_is_denied(action: str, target: Target) -> None:
    for role in ROLES:
        assert not POLICY.decide(who(role, district_code="329902"), action, target).allowed, role


def test_unclaimed_paths_have_no_route() -> None:
    assert POLICY.route("/screenx") is None and POLICY.route("/api") is None and POLICY.route("/x/") is None
    assert POLICY.route("/api/console/layers").name == "console_catalog"   # the longest prefix wins
    assert POLICY.route("/api/console/layersx").name == "console"
    assert POLICY.route("/api/emergency/incidents/3").name == "emergency"  # a module owns /api/<name> by default


MAP_USERS = set(ROLES) - {"auditor", "system_admin", "security_admin"}


def _asks(path: str, method: str) -> list[tuple[str, Target]]:
    from access.policy.classify import classify

    return [(a.action, a.target) for a in classify({"PATH_INFO": path, "REQUEST_METHOD": method}, POLICY).accesses]


def test_the_console_api_is_open_to_every_map_user_and_its_query_post_only_reads() -> None:
    # the row scope comes from each layer; the module only says who may use the console at all
    query = _asks("/api/console/spatial-query", "POST")
    assert query == [("read", Target("module", "console_query"))]
    export = _asks("/api/console/spatial-query/export", "POST")
    assert export == [("export", Target("module", "console"))]
    assert _asks("/api/console/features/enterprises/1", "GET") == [("read", Target("module", "console"))]
    for role in ROLES:
        identity = who(role, district_code="329902", enterprise_uscc=USCC)
        for action, target in (*query, ("read", Target("module", "console"))):
            assert POLICY.decide(identity, action, target).allowed is (role in MAP_USERS), (role, target)
        may_export = role in ("city_regulator", "dispatcher", "district_regulator")
        assert POLICY.decide(identity, *export[0]).allowed is may_export, role
    assert POLICY.decide(ANONYMOUS, "read", Target("module", "console")).allowed


def test_temporary_grants_extend_until_they_expire() -> None:
    iu = who("intermediary_user")
    g = grant(permission="layer:read", layer="hazard_sources", district_code="329903")
    assert not POLICY.decide(iu, "read", layer("hazard_sources"), now=NOW).allowed
    decision = POLICY.decide(iu, "read", layer("hazard_sources"), grants=[g], now=NOW)
    assert decision.allowed and decision.scope == Scope(districts=frozenset({"329903"}))
    assert decision.rules == ("grant-1",)
    for at in (g.expires_at, g.expires_at + dt.timedelta(seconds=1), g.starts_at - dt.timedelta(seconds=1)):
        assert not POLICY.decide(iu, "read", layer("hazard_sources"), grants=[g], now=at).allowed, at
    revoked = grant(permission="read", layer="hazard_sources", revoked_at=NOW - dt.timedelta(minutes=1))
    assert not POLICY.decide(iu, "read", layer("hazard_sources"), grants=[revoked], now=NOW).allowed
    # a permission grant opens exactly what it names
    assert not POLICY.decide(iu, "export", layer("hazard_sources"), grants=[g], now=NOW).allowed
    assert not POLICY.decide(iu, "read", layer("sensors"), grants=[g], now=NOW).allowed


def test_a_role_grant_narrowed_to_a_district_narrows_the_role() -> None:
    g = grant(role="dispatcher", district_code="329905")
    decision = POLICY.decide(who("grid_worker", district_code="329902"), "read", layer("hazard_sources"),
                             grants=[g], now=NOW)
    assert decision.scope == Scope(districts=frozenset({"329905"}))
    assert POLICY.decide(who("public"), "write", Target("module", "emergency"), grants=[grant(role="dispatcher")],
                         now=NOW).scope == CITY


def test_api_tokens_are_limited_to_their_scopes() -> None:
    token = Identity(user_id=3, username="qgis", roles=frozenset({"city_regulator"}), method="basic",
                     token_scopes=frozenset({"ogc:read"}))
    assert POLICY.decide(token, "read", layer("hazard_sources")).allowed
    assert not POLICY.decide(token, "export", layer("hazard_sources")).allowed
    assert not POLICY.decide(token, "write", layer("incidents")).allowed
    assert not POLICY.decide(token, "read", Target("module", "console")).allowed
    api = Identity(user_id=3, username="etl", roles=frozenset({"city_regulator"}), method="token",
                   token_scopes=frozenset({"api:read", "api:write"}))
    assert POLICY.decide(api, "write", Target("module", "emergency")).allowed
    assert not POLICY.decide(api, "read", layer("roads")).allowed


def test_authz_memoises_and_lists_visible_layers() -> None:
    authz = Authz(POLICY, who("grid_worker", district_code="329902"))
    assert authz.visible_layers() == POLICY.visible(who("grid_worker", district_code="329902"))
    assert authz.scope("experts") == Scope() and authz.scope("enterprises").districts == {"329902"}


# -- validation --------------------------------------------------------------------------------------------------------
def _broken(tmp_path: Path, rules: str, head: str = "") -> list[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(textwrap.dedent(head) + "version: 1\nrules:\n" + textwrap.indent(textwrap.dedent(rules), "  "),
                    encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    return err.value.problems


@pytest.mark.parametrize(("rules", "expected"), [
    ("- {id: r1, roles: [chief], actions: [read], layers: {access: [public]}}",
     "policy.yaml: rules[0](id=r1).roles: unknown role 'chief'"),
    ("- {id: r1, roles: [dispatcher], actions: [read], layers: {ids: [enterprisez]}}",
     "policy.yaml: rules[0](id=r1).layers.ids: unknown layer 'enterprisez'"),
    ("- {id: r1, roles: [dispatcher], actions: [execute], layers: {ids: [roads]}}",
     "policy.yaml: rules[0](id=r1).actions: 'execute' does not apply to layers"),
    ("- {id: r1, roles: [dispatcher], actions: [read], modules: [nowhere]}",
     "policy.yaml: rules[0](id=r1).modules: unknown module 'nowhere'"),
    ("- {id: r1, roles: [dispatcher], actions: [read], processes: [fly]}",
     "policy.yaml: rules[0](id=r1).processes: unknown process 'fly'"),
    ("- {id: r1, roles: [grid_worker], actions: [read], layers: {ids: [roads]}, scope: district}",
     "policy.yaml: rules[0](id=r1).scope: layer 'roads' is public"),
    ("- {id: r1, roles: [enterprise_user], actions: [read], layers: {ids: [depots]}, scope: enterprise}",
     "policy.yaml: rules[0](id=r1).scope: layer 'depots' has no link to an enterprise"),
    ("- {id: r1, roles: [dispatcher], actions: [read], coverages: [population], scope: district}",
     "policy.yaml: rules[0](id=r1).scope: coverages cannot be filtered by row"),
    ("- {id: r1, roles: [dispatcher], actions: [read], layers: {ids: [roads]}}\n"
     "- {id: r1, roles: [dispatcher], actions: [read], layers: {ids: [water]}}",
     "policy.yaml: rules[1](id=r1).id: duplicate of rules[0]"),
    ("- {id: r1, roles: [dispatcher], actions: [read]}",
     "policy.yaml: rules[0](id=r1)"),
    ("- {id: r1, roles: [dispatcher], actions: [reed], layers: {ids: [roads]}}",
     "policy.yaml: rules[0](id=r1).actions[0]: 'reed' is not one of"),
    ("- {id: r1, roles: [dispatcher], actions: [read], layers: {ids: [roads]}, colour: red}",
     "policy.yaml: rules[0](id=r1): Additional properties are not allowed ('colour'"),
])
def test_validation_errors_name_file_and_field(tmp_path: Path, rules: str, expected: str) -> None:
    problems = _broken(tmp_path, rules)
    assert any(p.startswith(expected) for p in problems), problems


def test_yaml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    problems = _broken(tmp_path, "- {id: r1, roles: [dispatcher\n")
    assert len(problems) == 1 and problems[0].startswith("policy.yaml: line ") and "YAML syntax error" in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = _broken(tmp_path, """\
        - {id: a, roles: [chief], actions: [read], layers: {ids: [nowhere]}}
        - {id: b, roles: [dispatcher], actions: [read], pages: [lost]}
    """, head="pages: {home: {}}\n")
    assert len(problems) == 4, problems


def test_config_check_reports_a_broken_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from access.policy import rules as policy
    from app import cli

    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nrules:\n  - {id: x, roles: [chief], actions: [read], pages: [console]}\n")
    monkeypatch.setattr(policy, "POLICY_PATH", path)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["config", "check"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid authorisation policy" in err and "rules[0](id=x).roles: unknown role 'chief'" in err


# -- the scope predicate against PostGIS -------------------------------------------------------------------------------
def test_scope_links_follow_the_registry_references() -> None:
    links = scope_links(REGISTRY)
    assert (links["enterprises"].district_column, links["enterprises"].enterprise_column) == ("district_code", "uscc")
    assert links["hazard_sources"].enterprise_column == "enterprise_uscc"
    assert links["sensors"].via == ("hazard_source_code", "hazard_sources", "code", "enterprise_uscc")
    assert not links["roads"].has_enterprise and links["roads"].district_column is None


@pytest.mark.parametrize("layer_id", ["enterprises", "hazard_sources", "sensors", "incidents", "depots"])
def test_scope_predicate_selects_exactly_the_scoped_rows(demo_db: str, layer_id: str) -> None:
    link = scope_links(REGISTRY)[layer_id]
    engine = sa.create_engine(demo_db)
    try:
        with engine.connect() as conn:
            uscc = conn.execute(sa.text("SELECT enterprise_uscc FROM hazard_sources h WHERE EXISTS (SELECT 1 FROM "
                                        "sensors s WHERE s.hazard_source_code = h.code) ORDER BY id LIMIT 1")).scalar()

            def count(scope: Scope) -> int:
                return conn.execute(sa.text(f"SELECT count(*) FROM {layer_id} WHERE {link.bound_sql()}"),
                                    link.params(scope)).scalar_one()

            def direct(where: str) -> int:
                return conn.execute(sa.text(f"SELECT count(*) FROM {layer_id} t WHERE {where}"),
                                    {"u": uscc}).scalar_one()

            assert count(CITY) == direct("true") > 0
            assert count(Scope()) == 0
            assert count(Scope(districts=frozenset({"329902", "329903"}))) == \
                direct("t.district_code IN ('329902', '329903')")
            by_enterprise = {"enterprises": "t.uscc = :u", "hazard_sources": "t.enterprise_uscc = :u",
                             "incidents": "t.enterprise_uscc = :u", "depots": "false",
                             "sensors": "t.hazard_source_code IN (SELECT code FROM hazard_sources "
                                        "WHERE enterprise_uscc = :u)"}[layer_id]
            assert count(Scope(enterprises=frozenset({uscc}))) == direct(by_enterprise)
            if layer_id in ("enterprises", "hazard_sources", "sensors"):
                assert direct(by_enterprise) > 0
    finally:
        engine.dispose()
