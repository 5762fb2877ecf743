"""The public side of complaints: filing one (anonymous or named) and following it with the query code. No Flask.

Filing checks everything before it writes anything, then writes everything in one transaction: the photos (the case
engine's content-addressed attachments, images only), the case (opened by the system step ``file`` of
cases/complaint.yaml, in the city's name until the city assigns it), and the reporter's row (anonymity, contact, the
hash of the query code). The answer — the complaint number and the query code, shown once — is given only after
that transaction committed: an accepted complaint is never lost, and a refused one leaves nothing behind.

Coordinates carry their datum (``wgs84`` — GPS, also CGCS2000 —, ``gcj02`` — AMap/Tencent/Apple maps in China —,
``bd09`` — Baidu), converted explicitly with core.geo (never guessed: a point without a datum is refused), and must
lie in the city. A complaint may instead give only an address; it then stands at the city's centre until the city
assigns it (``located`` false).

Following a complaint takes its number and its query code; a wrong code gets exactly the answer of a wrong number
(404), and the answer holds the state and the published reply only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import clock as core_clock
from core.changes import unit_of_work
from core.errors import Conflict, InvalidInput, NotFound
from core.geo.coords import normalise_system
from core.geo.points import district_of, to_storage
from supervision.cases import engine, files, forms, registry
from supervision.complaints import codes
from supervision.complaints.handling import CASE_TYPE, city_code

FIELDS = ("category", "description", "address", "place_name", "location", "anonymous", "contact")
CONTACT_FIELDS = ("name", "phone")
PHONE = re.compile(r"^[0-9+() -]{5,20}$")
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{16,200}")   # a UUID, say: the key also seals the code, so not short
PUBLIC_STATES = ("received", "accepted", "investigating", "replied", "closed", "not_accepted")


@dataclass(frozen=True)
class Photo:
    stream: IO[bytes]
    name: str | None


# -- checking the filing -------------------------------------------------------------------------------------------
def _text(body: Mapping[str, Any], name: str, lo: int, hi: int, what: str, *, required: bool = False
          ) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise InvalidInput(name, f"{what} ({lo}–{hi} characters)", details={"reason": "required"})
        return None
    if not isinstance(value, str) or not lo <= len(value.strip()) <= hi:
        raise InvalidInput(name, f"{what} ({lo}–{hi} characters)", value=value if isinstance(value, str)
                           and len(value) <= 80 else None, details={"reason": "invalid"})
    return value.strip()


def _reporter(body: Mapping[str, Any]) -> tuple[bool, str | None, str | None]:
    anonymous = body.get("anonymous", True)
    if not isinstance(anonymous, bool):
        raise InvalidInput("anonymous", "true (no contact is kept) or false (with a contact)", value=anonymous)
    contact = body.get("contact")
    if contact is None:
        if not anonymous:
            raise InvalidInput("contact", "a name or a phone number when the complaint is not anonymous",
                               "a named complaint needs a contact (name or phone)", "实名举报请填写姓名或联系电话",
                               details={"reason": "required"})
        return True, None, None
    if anonymous:
        raise InvalidInput("contact", "nothing: an anonymous complaint keeps no contact (or anonymous: false)",
                           "an anonymous complaint carries no contact; send anonymous: false to give one",
                           "匿名举报不能填写联系方式；如需留下联系方式，请选择实名举报", details={"reason": "anonymous"})
    if not isinstance(contact, dict):
        raise InvalidInput("contact", "an object {name?, phone?}", value=type(contact).__name__)
    unknown = sorted(set(contact) - set(CONTACT_FIELDS))
    if unknown:
        raise InvalidInput(f"contact.{unknown[0]}", "no such field (name, phone)", details={"reason": "unknown field"})
    name = _text(contact, "name", 1, 30, "the reporter's name")
    phone = contact.get("phone")
    if phone is not None and (not isinstance(phone, str) or not PHONE.match(phone.strip())):
        raise InvalidInput("contact.phone", "a phone number: 5–20 digits, spaces, + - ( )",
                           value=phone if isinstance(phone, str) and len(phone) <= 40 else None)
    phone = phone.strip() if isinstance(phone, str) else None
    if not name and not phone:
        raise InvalidInput("contact", "a name or a phone number", details={"reason": "required"})
    return False, name, phone


def _location(conn: Connection, body: Mapping[str, Any]) -> dict[str, Any] | None:
    location = body.get("location")
    if location is None:
        return None
    if not isinstance(location, dict):
        raise InvalidInput("location", "an object {lon, lat, datum}", value=type(location).__name__)
    unknown = sorted(set(location) - {"lon", "lat", "datum"})
    if unknown:
        raise InvalidInput(f"location.{unknown[0]}", "no such field (lon, lat, datum)",
                           details={"reason": "unknown field"})
    if "datum" not in location or location["datum"] in (None, ""):
        raise InvalidInput("location.datum", "wgs84 (GPS, CGCS2000), gcj02 (AMap, Tencent) or bd09 (Baidu)",
                           "the datum of the point is required: wgs84, gcj02 or bd09 (it is never guessed)",
                           "请注明坐标系：wgs84（GPS/CGCS2000）、gcj02（高德/腾讯）或 bd09（百度）；坐标系不会被猜测",
                           details={"reason": "required"})
    datum = normalise_system(location["datum"], "location.datum")
    for axis in ("lon", "lat"):
        if location.get(axis) is None:
            raise InvalidInput(f"location.{axis}", "a number (degrees)", details={"reason": "required"})
    lon, lat = to_storage(location["lon"], location["lat"], datum, ("location.lon", "location.lat"))
    district = district_of(conn, lon, lat, "location")
    return {"lon": lon, "lat": lat, "datum": datum, "given_lon": float(location["lon"]),
            "given_lat": float(location["lat"]), "district": district}


def check(conn: Connection, body: Any) -> dict[str, Any]:
    """The filing, checked (400 naming the field otherwise); nothing is written."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "a JSON object {category, description, location?, address?, anonymous?, "
                                   "contact?}", value=type(body).__name__)
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "no such field (" + ", ".join(FIELDS) + ")", details={"reason": "unknown field"})
    anonymous, name, phone = _reporter(body)
    data: dict[str, Any] = {"category": body["category"]} if body.get("category") is not None else {}
    data["description"] = _text(body, "description", 10, 2000, "what is wrong, where and since when", required=True)
    for field, lo, hi, what in (("address", 2, 200, "the address"), ("place_name", 2, 100, "the enterprise or place")):
        value = _text(body, field, lo, hi, what)
        if value is not None:
            data[field] = value
    ct = registry.get(CASE_TYPE)
    try:
        forms.validate(conn, ct.transition("file").form, data)   # the case type's form: the schema of the case's data
    except InvalidInput as exc:
        name_in_body = exc.input_name.removeprefix("form.")
        raise InvalidInput(name_in_body, exc.allowed, exc.message_en, exc.message_zh,
                           details={**exc.details, "input": name_in_body}) from None
    place = _location(conn, body)
    if place is None and "address" not in data:
        raise InvalidInput("location", "a point picked on the map {lon, lat, datum}, or an address",
                           "say where: pick the place on the map or write its address",
                           "请在地图上选取位置或填写地址", details={"reason": "required"})
    data["located"] = place is not None
    if place is not None:
        data.update(datum=place["datum"], given_lon=place["given_lon"], given_lat=place["given_lat"],
                    suggested_district=place["district"])
    return {"data": data, "place": place, "anonymous": anonymous, "contact_name": name, "contact_phone": phone}


# -- filing --------------------------------------------------------------------------------------------------------
def _photo_config(cases_config: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's attachment rules, narrowed for the public: images only, and the smaller size limit."""
    images = [t for t in cases_config["media_types"] if t.startswith("image/")]
    return {**cases_config, "media_types": images,
            "max_file_bytes": min(int(cases_config["max_file_bytes"]), int(config["max_photo_bytes"]))}


def _request_hash(body: Any, photos: Sequence[dict[str, Any]]) -> str:
    doc = {"body": body, "photos": [p["sha256"] for p in photos]}
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                          .encode("utf-8")).hexdigest()


def file_complaint(conn: Connection, body: Any, photos: Sequence[Photo], *, cases_config: Mapping[str, Any],
                   config: Mapping[str, Any], idempotency_key: str | None = None) -> tuple[dict[str, Any], bool]:
    """File a complaint: (the answer with its number and query code, whether it replays an earlier filing)."""
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidInput("Idempotency-Key", "16–200 visible ASCII characters (a UUID, say)",
                           value=idempotency_key[:200], details={"reason": "invalid"})
    if len(photos) > int(config["max_photos"]):
        raise InvalidInput("photos", f"at most {config['max_photos']} photos", value=len(photos),
                           details={"reason": "too many"})
    ct = registry.get(CASE_TYPE)
    opening = ct.transition("file")
    now = core_clock.now()
    with unit_of_work(conn, engine.EVENT_TYPES) as changes:   # a refusal anywhere below rolls everything back
        checked = check(conn, body)
        stored = [files.store(conn, _photo_config(cases_config, config), p.stream, name=p.name, uploaded_by=None)
                  for p in photos]
        digest = _request_hash(body, stored)
        if idempotency_key is not None:
            replay = _claim(conn, idempotency_key, digest)
            if replay is not None:
                return replay, True
        data = checked["data"]
        if stored:
            data["photos"] = [p["sha256"] for p in stored]
        place = checked["place"]
        if place is None:
            lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(ST_Union(geom)) p "
                                         "FROM districts) s")).one()
        else:
            lon, lat = place["lon"], place["lat"]
        case = engine.insert_case(conn, ct, anchor_kind="point", anchor_id=None, district_code=city_code(conn),
                                  enterprise_uscc=None, grid_cell_code=None, parent_id=None, opened_by=None,
                                  now=now, state=opening.to, data={}, lon=lon, lat=lat)
        engine.apply(engine.EffectContext(conn, ct, case, data, None, changes, now, config=cases_config), opening)
        code = codes.new_code()
        conn.execute(text(
            "INSERT INTO complaints (case_id, anonymous, contact_name, contact_phone, query_code_hash, filed_at) "
            "VALUES (:id, :anon, :name, :phone, :hash, :at)"),
            {"id": case["id"], "anon": checked["anonymous"], "name": checked["contact_name"],
             "phone": checked["contact_phone"], "hash": codes.digest(case["code"], code), "at": now})
        if idempotency_key is not None:
            conn.execute(text("UPDATE complaint_idempotency_keys SET case_id = :c, sealed_code = :s "
                              "WHERE key_hash = :k"),
                         {"c": case["id"], "s": codes.seal(code, idempotency_key, case["code"]),
                          "k": codes.key_hash(idempotency_key)})
    return _answer(case["code"], code, now.isoformat(), checked["anonymous"]), False


def _claim(conn: Connection, key: str, digest: str) -> dict[str, Any] | None:
    """Claim the key in this transaction (None), or the answer of the filing that claimed it first."""
    hashed = codes.key_hash(key)
    claimed = conn.execute(text("INSERT INTO complaint_idempotency_keys (key_hash, request_hash) VALUES (:k, :h) "
                                "ON CONFLICT DO NOTHING RETURNING 1"), {"k": hashed, "h": digest}).first()
    if claimed is not None:
        return None
    row = conn.execute(text(
        "SELECT k.request_hash, k.sealed_code, c.code, m.filed_at, m.anonymous FROM complaint_idempotency_keys k "
        "JOIN cases c ON c.id = k.case_id JOIN complaints m ON m.case_id = k.case_id WHERE k.key_hash = :k"),
        {"k": hashed}).one()
    if row.request_hash != digest:
        raise Conflict("this Idempotency-Key was already used for a different complaint",
                       "该幂等键（Idempotency-Key）已用于另一份不同的举报", details={"header": "Idempotency-Key"},
                       code="idempotency_key_reused")
    return _answer(row.code, codes.unseal(row.sealed_code, key, row.code), row.filed_at.isoformat(), row.anonymous)


def _answer(number: str, code: str, filed_at: str, anonymous: bool) -> dict[str, Any]:
    return {"number": number, "query_code": codes.shown(code), "filed_at": filed_at, "anonymous": anonymous,
            "state": "received",
            "notice": {"zh-CN": "请牢记举报编号和查询码：查询码只显示这一次，凭二者查询办理进度和答复。",
                       "en": "Keep the number and the query code: the code is shown only this once; with both you "
                             "can follow the complaint and read the reply."}}


# -- following -----------------------------------------------------------------------------------------------------
def _unknown(number: str) -> NotFound:
    shown = number if len(number) <= 40 else number[:40] + "…"
    return NotFound("no complaint has this number and query code", "举报编号或查询码不正确",
                    details={"number": shown})


def status(conn: Connection, number: str, code_value: Any) -> dict[str, Any]:
    """The state and the published reply of a complaint, for its number and query code (404 for either wrong)."""
    code = codes.require(code_value)
    row = None
    if 1 <= len(number) <= 30:
        row = conn.execute(text(
            "SELECT c.code, c.state, c.type_version, c.data, c.opened_at, c.closed_at, m.query_code_hash "
            "FROM cases c JOIN complaints m ON m.case_id = c.id WHERE c.code = :n AND c.case_type = :t"),
            {"n": number, "t": CASE_TYPE}).mappings().first()
    # the hash is computed whether or not the number exists: the answer takes as long for a wrong number
    stored = row["query_code_hash"] if row is not None else "0" * 64
    if not codes.matches(number, code, stored) or row is None:
        raise _unknown(number)
    ct = registry.pinned(conn, CASE_TYPE, row["type_version"])
    data = row["data"] or {}
    reply = None
    if row["state"] in ("replied", "closed") and data.get("reply"):
        reply = {"kind": "reply", "text": data["reply"]}
    elif row["state"] == "not_accepted" and data.get("rejection_reason"):
        reply = {"kind": "not_accepted", "text": data["rejection_reason"]}
    state = ct.states[row["state"]]
    return {"number": row["code"], "state": row["state"], "state_label": dict(state.label),
            "final": state.final, "filed_at": row["opened_at"].isoformat(),
            "closed_at": row["closed_at"] and row["closed_at"].isoformat(), "reply": reply}


__all__ = ["FIELDS", "Photo", "check", "file_complaint", "status"]
