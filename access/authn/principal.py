"""The signed-in caller behind a credential — the account, its roles and its temporary grants in force — read in the
same statement that checks the credential (a session cookie or an API token).

Every signed-in request needs all three before the policy gate decides anything; read one by one they cost three
round trips more per request (the credential, the account, its roles, its grants), which on a 2 ms vector tile is
more than the tile. Nothing is cached: a disabled account, a revoked grant or a changed role counts from the next
request on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from access.authn.users import JOINED_COLUMNS, User, user_of_row
from access.policy.grants import JOINED_GRANTS, Grant, grants_of_json

# Select these beside a credential's row with its user joined as ``u``.
COLUMNS = f"{JOINED_COLUMNS}, {JOINED_GRANTS}"


@dataclass(frozen=True)
class Principal:
    user: User
    grants: tuple[Grant, ...]


def of_row(row: Any) -> Principal:
    """The principal of a row selected with :data:`COLUMNS`."""
    return Principal(user_of_row(row), tuple(grants_of_json(row._mapping["user_grants"])))
