"""Shared pieces of the case-engine tests: a writable clone of the demo city per test module, callers by role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core.identity import Identity
from core.pgcluster import PrivateCluster
from supervision.cases import registry
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
