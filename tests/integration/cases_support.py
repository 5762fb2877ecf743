"""Shared pieces of the case-engine tests: a writable clone of the demo city per test module, callers by role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core.identity import Identity
from core.pgcluster import PrivateCluster
from supervision.cases import registry, service
from tests.conftest import clone_database, drop_database

CONFIG = {"issuing_unit": "示应急", "files_dir": "var/case-files", "max_file_bytes": 200_000,
          "media_types": ["image/jpeg", "image/png", "image/webp", "application/pdf"], "worker_interval_s": 1,
          "due_soon_days": 3}
TOY = {"modules": {"extra": ["tests.case_toy.manifest:MANIFEST"]}}


def writable_demo(cluster: PrivateCluster, name: str) -> Iterator[sa.Engine]:
    url = clone_database(cluster, name)
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()
    drop_database(cluster, name)


def caller(role: str, *, district: str | None = None, uscc: str | None = None, name: str | None = None
           ) -> tuple[Identity, LayerAccess]:
    who = Identity(user_id=7, username=name or f"t_{role}", roles=frozenset({role}), method="session",
                   district_code=district, enterprise_uscc=uscc)
    return who, LayerAccess(Authz(load_policy(), who))


def at(text: str) -> datetime:
    """A test instant: 'YYYY-MM-DD HH:MM' in China."""
    from core.clock import CHINA

    return datetime.fromisoformat(text).replace(tzinfo=CHINA).astimezone(UTC)


def use_toy_types() -> None:
    registry.configure(TOY)


# -- a case from a test: opened and moved through the service, as a caller of a role ----------------------------
def enterprise_caller(uscc: str) -> tuple[Identity, LayerAccess]:
    """The enterprise user of ``uscc`` (their data scope: that enterprise)."""
    return caller("enterprise_user", uscc=uscc, name="ent_" + uscc[-4:])


def open_case(db: sa.Engine, who: Any, case_type: str, anchor: tuple[str, str], form: dict[str, Any]
              ) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.open_case(conn, {"case_type": case_type, "anchor": {"kind": anchor[0], "id": anchor[1]},
                                        "form": form}, access=access, identity=identity, config=CONFIG)


def move(db: sa.Engine, who: Any, case_id: int, action: str, form: dict[str, Any] | None = None) -> dict[str, Any]:
    identity, access = who
    with db.connect() as conn:
        return service.transition(conn, case_id, {"action": action, "form": form or {}}, access=access,
                                  identity=identity, config=CONFIG)


def clock_of(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in case["clocks"] if c["clock"] == name)


def two_enterprises(db: sa.Engine) -> SimpleNamespace:
    """Two enterprises in two districts: the applicant's and another one."""
    with db.connect() as conn:
        own = conn.execute(sa.text("SELECT uscc, name, district_code FROM enterprises ORDER BY uscc LIMIT 1")).one()
        other = conn.execute(sa.text("SELECT uscc, name, district_code FROM enterprises WHERE district_code <> :d "
                                     "ORDER BY uscc LIMIT 1"), {"d": own.district_code}).one()
    return SimpleNamespace(uscc=own.uscc, name=own.name, district=own.district_code, other_uscc=other.uscc,
                           other_name=other.name, other_district=other.district_code)
