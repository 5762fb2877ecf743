"""Docs as tests, and no route without a policy decision.

- Every command in the README's command list exists in the CLI, and every CLI command is in the list.
- Every URL in the README's table answers on the demo app (no 404, no 5xx).
- Every route of the Flask app belongs to a route family of the policy (pages or a module's family): a route that
  no family claims would be denied to everyone today and silently opened by whoever adds a prefix tomorrow.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from access.policy.rules import load_policy
from app.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def documented_commands() -> set[tuple[str, ...]]:
    """``onemap db up|down|status`` → {("db", "up"), ("db", "down"), ("db", "status")}."""
    block = re.search(r"```text\n(.*?)```", _section("Command line"), re.S)
    assert block, "README: no command block under '## Command line'"
    found: set[tuple[str, ...]] = set()
    for match in re.finditer(r"onemap ([a-z-]+)(?: ([a-z][a-z|-]*))?", block.group(1)):
        group, subs = match.group(1), match.group(2)
        found |= {(group,)} if subs is None else {(group, sub) for sub in subs.split("|")}
    return found


def cli_commands() -> set[tuple[str, ...]]:
    """Commands as the user types them: (group, sub-command) for each sub-command of a group, (name,) otherwise."""
    ctx = click.Context(cli)
    out: set[tuple[str, ...]] = set()
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            out |= {(name, sub) for sub in command.list_commands(click.Context(command))}
        else:
            out.add((name,))
    return out


def test_every_documented_command_exists() -> None:
    documented = documented_commands()
    assert len(documented) > 10
    assert documented - cli_commands() == set()


def test_every_command_is_documented() -> None:
    assert cli_commands() - documented_commands() == set()


def documented_urls() -> list[str]:
    table = _section("What you see at http://127.0.0.1:8000")
    urls = re.findall(r"^\| `(/[^`]*)` \|", table, re.M)
    assert len(urls) >= 8
    return urls


@pytest.fixture(scope="module")
def app(app_factory_module):  # noqa: ANN001, ANN201
    return app_factory_module


@pytest.fixture(scope="module")
def samples(demo_db: str) -> dict[str, str]:
    """Values for the placeholders of documented URLs (``<code>``), read from the demo city."""
    import sqlalchemy as sa

    engine = sa.create_engine(demo_db.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        code = conn.execute(sa.text("SELECT code FROM hazard_sources ORDER BY code LIMIT 1")).scalar_one()
    engine.dispose()
    return {"code": code}


@pytest.mark.parametrize("url", documented_urls())
def test_every_documented_url_answers(app, user_client, samples: dict[str, str], url: str) -> None:  # noqa: ANN001
    """Anonymous and signed in (the dispatcher): the page, a redirect or a refusal are all answers; a 404 or a 5xx
    means the README is wrong. A family (``/api/emergency/...``) must have routes under it."""
    if url.endswith("/..."):
        prefix = url.removesuffix("...")
        assert any(r.rule.startswith(prefix) for r in app.url_map.iter_rules()), url
        return
    concrete = re.sub(r"<([a-z_]+)>", lambda m: samples[m.group(1)], url)
    for client in (app.test_client(), user_client):
        response = client.get(concrete)
        assert response.status_code not in (404, 405) and response.status_code < 500, (concrete, response.status_code)


def test_every_flask_route_has_a_policy_family(app) -> None:  # noqa: ANN001
    policy = load_policy(config=app.config["ONEMAP"])
    unclassified = []
    for rule in app.url_map.iter_rules():
        # a concrete path of the rule: each converter replaced by a sample value
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule)
        if policy.route(path) is None:
            unclassified.append(f"{rule.rule} ({rule.endpoint})")
    assert unclassified == []
    assert sum(1 for _ in app.url_map.iter_rules()) > 30  # the walk saw the modules' routes, not only the app's
