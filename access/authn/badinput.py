"""Input no route can use, refused once for every route by the authentication middleware, with an audit record.

* A NUL byte in the path or the query string: PostgreSQL text cannot hold it, so a NUL that reached a query, a
  search or the audit insert itself ended as a 500 (and the probe went unrecorded).
* A JSON body nested deeper than :data:`core.jsonbody.MAX_DEPTH`: Python's parser recurses per level and a body of
  ``[[[[…`` raised RecursionError in whichever route or OGC process read it. The depth is found on the text
  (no recursion); everything else about JSON bodies (syntax, NaN, 64-bit integers, NUL in strings) is left to the
  reader that parses the body, so that the route can say which field was wrong (and sign-in can record its
  failure as a sign-in failure).

Bodies are checked when they are JSON by their content type, and every body sent to a mount that parses bodies as
JSON whatever type they declare (the OGC API: its processes and item writes; ``Mount.reads_json_bodies``). The
refusal speaks the dialect of the surface: problem+json on the REST API, the mount's own exception format on a mount
(an OGC API exception on ``/ogcapi``, an OGC exception report on ``/ows``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from access.policy.classify import read_body
from access.policy.mounts import Mount, Refusal, mount_of
from access.policy.refusal import respond, surface_of
from core import jsonbody

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class BadInput:
    status: int
    reason: str        # nul_byte | too_deep | too_large | encoding
    where: str         # path | query | body
    en: str
    zh: str


def _has_body(environ: dict[str, Any]) -> bool:
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        return length != "0"
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()


def _json_body(environ: dict[str, Any], mount: Mount | None) -> bool:
    if not _has_body(environ):
        return False
    if jsonbody.is_json_type(environ.get("CONTENT_TYPE")):
        return True
    return mount is not None and mount.reads_json_bodies


def find(environ: dict[str, Any], mounts: Sequence[Mount] = ()) -> BadInput | None:
    """The first thing wrong with the request that no route could handle, or None (``mounts``: the services
    mounted beside the Flask app)."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if "\x00" in path:
        return BadInput(400, "nul_byte", "path", "the request path contains a NUL byte (%00)",
                        "请求路径中含有 NUL 字节（%00）")
    if b"\x00" in unquote_to_bytes(environ.get("QUERY_STRING") or ""):
        return BadInput(400, "nul_byte", "query", "a query parameter contains a NUL byte (%00)",
                        "查询参数中含有 NUL 字节（%00）")
    mount = mount_of(environ.get("PATH_INFO", "") or "/", mounts)[0]
    if not _json_body(environ, mount):
        return None
    data = read_body(environ, jsonbody.MAX_JSON_BODY)  # put back for the route: it reads the same bytes again
    if data is None:
        mib = jsonbody.MAX_JSON_BODY >> 20
        return BadInput(413, "too_large", "body", f"JSON request bodies are limited to {mib} MiB",
                        f"JSON 请求体不得超过 {mib} MiB")
    try:
        text = jsonbody.decode(data)
    except jsonbody.BadJSON as exc:
        if mount is None:
            return None  # the route's reader says so, in its own terms (a sign-in records a failed sign-in)
        return BadInput(400, exc.reason, "body", exc.message_en, exc.message_zh)
    if jsonbody.too_deep(text):
        return BadInput(400, "too_deep", "body", f"JSON nested deeper than {jsonbody.MAX_DEPTH} levels is not "
                        "accepted", f"JSON 嵌套层数超过 {jsonbody.MAX_DEPTH} 层，拒绝处理")
    return None


def refuse(environ: dict[str, Any], bad: BadInput, start_response: StartResponse,
           headers: list[tuple[str, str]], mounts: Sequence[Mount] = ()) -> list[bytes]:
    """Answer ``bad`` in the dialect of the surface the request was for (``headers`` are added)."""
    mount, surface = surface_of(environ, mounts)
    ogc = mount is not None
    code = ("InvalidParameterValue" if ogc else "InvalidJson" if bad.where == "body" else "InvalidInput")
    if bad.status == 413:
        code = "NoApplicableCode" if ogc else "PayloadTooLarge"
    refusal = Refusal(bad.status, code, bad.en, bad.zh, locator=bad.where)
    return respond(start_response, environ, refusal, mount=mount, surface=surface, headers=headers)


__all__ = ["BadInput", "find", "refuse"]
