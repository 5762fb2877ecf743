"""The public complaint endpoint: filing anonymously or by name, the datum of a phone map's point, malformed and
oversized input, bursts (429 with Retry-After, then accepted once the window has passed), idempotent retries, and
following a complaint with its query code — through the whole WSGI app (authentication, rate limits, policy gate)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core.geo.coords import convert
from supervision.complaints import codes
from tests.conftest import clone_database, drop_database
from tests.integration.complaints_support import FILING, URL, complaint_app, counts, inside, multipart, png

NUMBER = re.compile(r"^JB-\d{4}-\d{6}$")
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts) -> Iterator[SimpleNamespace]:  # noqa: ANN001
    url = clone_database(pg_cluster, "t_complaints_filing")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        point = inside(conn)
    app = complaint_app(url, demo_artifacts)
    yield SimpleNamespace(url=url, engine=engine, app=app, client=app.test_client(), point=point)
    engine.dispose()
    drop_database(pg_cluster, "t_complaints_filing")


def file(world: SimpleNamespace, body: Any = None, **kw: Any) -> Any:
    return world.client.post(URL, json=FILING if body is None else body, **kw)


def test_an_anonymous_filing_gets_a_number_and_a_code_shown_once(world: SimpleNamespace) -> None:
    lon, lat = world.point
    response = file(world, {**FILING, "location": {"lon": lon, "lat": lat, "datum": "wgs84"}})
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert NUMBER.match(answer["number"]) and CODE.match(answer["query_code"]) and answer["anonymous"] is True
    assert "no-store" in response.headers["Cache-Control"]   # the code must not sit in a cache
    with world.engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT c.district_code, c.enterprise_uscc, c.opened_by, c.data, m.* FROM cases c JOIN complaints m "
            "ON m.case_id = c.id WHERE c.code = :n"), {"n": answer["number"]}).mappings().one()
    # until the city assigns it, the complaint is the city's own (xxxx00), never an enterprise's
    assert row["district_code"] == "329900" and row["enterprise_uscc"] is None and row["opened_by"] is None
    assert row["data"]["suggested_district"] == "329902" and row["data"]["located"] is True
    assert row["anonymous"] is True and row["contact_name"] is None and row["contact_phone"] is None
    code = codes.normalise(answer["query_code"])
    assert row["query_code_hash"] == codes.digest(answer["number"], code) and code not in str(dict(row))


def test_a_named_filing_keeps_the_contact_outside_the_case(world: SimpleNamespace) -> None:
    body = {**FILING, "address": "示范市纬一路18号", "anonymous": False,
            "contact": {"name": "王实名", "phone": "139 1234 5678"}}
    answer = file(world, body).get_json()
    with world.engine.connect() as conn:
        case = conn.execute(sa.text("SELECT c.data::text AS data, (SELECT string_agg(form::text, '') FROM case_events "
                                    "WHERE case_id = c.id) AS events, m.contact_name, m.contact_phone FROM cases c "
                                    "JOIN complaints m ON m.case_id = c.id WHERE c.code = :n"),
                            {"n": answer["number"]}).one()
    assert (case.contact_name, case.contact_phone) == ("王实名", "139 1234 5678")
    assert "王实名" not in case.data + case.events and "1234" not in case.data + case.events


@pytest.mark.parametrize("datum", ["wgs84", "cgcs2000", "gcj02", "bd09"])
def test_a_phone_maps_point_is_converted_from_its_datum(world: SimpleNamespace, datum: str) -> None:
    """The same place given in each datum lands on the same CGCS2000 point (round trip through the web-map
    datums to within 1e-7°, about a centimetre)."""
    lon, lat = world.point
    given = convert(lon, lat, "wgs84", datum)
    assert convert(*given, datum, "wgs84") == pytest.approx((lon, lat), abs=1e-7)
    if datum in ("gcj02", "bd09"):
        assert abs(given[0] - lon) + abs(given[1] - lat) > 1e-4   # the offset is real (hundreds of metres)
    answer = file(world, {**FILING, "location": {"lon": given[0], "lat": given[1], "datum": datum}}).get_json()
    with world.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT ST_X(geom) x, ST_Y(geom) y, data FROM cases WHERE code = :n"),
                           {"n": answer["number"]}).one()
    assert (row.x, row.y) == pytest.approx((lon, lat), abs=1e-7)
    assert row.data["datum"] == ("wgs84" if datum == "cgcs2000" else datum)
    assert (row.data["given_lon"], row.data["given_lat"]) == pytest.approx(given)


BAD: list[tuple[str, Any, str]] = [
    ("not an object", [], "body"),
    ("unknown field", {**FILING, "reporter_ip": "1.2.3.4"}, "reporter_ip"),
    ("no category", {k: v for k, v in FILING.items() if k != "category"}, "category"),
    ("bad category", {**FILING, "category": "<script>"}, "category"),
    ("short description", {**FILING, "description": "太短"}, "description"),
    ("description not text", {**FILING, "description": {"a": 1}}, "description"),
    ("nowhere", {k: v for k, v in FILING.items()}, "location"),
    ("point without datum", {**FILING, "location": {"lon": 118.8, "lat": 32.0}}, "location.datum"),
    ("unknown datum", {**FILING, "location": {"lon": 118.8, "lat": 32.0, "datum": "gps"}}, "location.datum"),
    ("lon not a number", {**FILING, "location": {"lon": "east", "lat": 32.0, "datum": "wgs84"}}, "location.lon"),
    ("lat out of range", {**FILING, "location": {"lon": 118.8, "lat": 91, "datum": "gcj02"}}, "location.lat"),
    ("outside the city", {**FILING, "location": {"lon": 87.6, "lat": 43.8, "datum": "wgs84"}}, "location"),
    ("extra location field", {**FILING, "location": {"lon": 1, "lat": 2, "datum": "wgs84", "z": 3}}, "location.z"),
    ("anonymous with contact", {**FILING, "address": "某路1号", "contact": {"phone": "13912345678"}}, "contact"),
    ("named without contact", {**FILING, "address": "某路1号", "anonymous": False}, "contact"),
    ("bad phone", {**FILING, "address": "某路1号", "anonymous": False, "contact": {"phone": "<b>call</b>"}},
     "contact.phone"),
    ("anonymous not boolean", {**FILING, "address": "某路1号", "anonymous": "yes"}, "anonymous"),
    ("huge address", {**FILING, "address": "界" * 5000}, "address"),
]


@pytest.mark.parametrize(("label", "body", "field"), BAD, ids=[b[0] for b in BAD])
def test_malformed_input_is_a_400_naming_the_field_and_writes_nothing(world: SimpleNamespace, label: str, body: Any,
                                                                       field: str) -> None:
    if label == "nowhere":
        body = {k: v for k, v in FILING.items() if k not in ("address",)}
    before = counts(world.engine)
    response = file(world, body)
    assert response.status_code == 400, (label, response.get_json())
    problem = response.get_json()
    assert response.mimetype == "application/problem+json" and problem["input"] == field, problem
    assert counts(world.engine) == before


def test_bodies_that_are_not_json_or_too_large_are_refused_without_a_write(world: SimpleNamespace) -> None:
    before = counts(world.engine)
    client = world.client
    assert client.post(URL, data=b'{"category": ', content_type="application/json").status_code == 400
    assert client.post(URL, data=b'{"x": NaN}', content_type="application/json").get_json()["code"] == "invalid_json"
    assert client.post(URL, data=b"category=x", content_type="application/x-www-form-urlencoded").status_code == 415
    huge = client.post(URL, data=b"{" + b" " * 60_000_000 + b"}", content_type="application/json")
    assert huge.status_code == 413 and huge.mimetype == "application/problem+json"
    stored = client.post(URL, data=multipart({**FILING, "address": "某路1号"}, [(png(9_000_000), "big.png")]),
                         content_type="multipart/form-data")
    assert stored.status_code == 413, stored.get_json()
    fake = client.post(URL, data=multipart({**FILING, "address": "某路1号"}, [(b"MZ\x90\x00" * 100, "photo.jpg")]),
                       content_type="multipart/form-data")
    assert fake.status_code == 400 and fake.get_json()["input"] == "file", fake.get_json()
    pdf = client.post(URL, data=multipart({**FILING, "address": "某路1号"}, [(b"%PDF-1.4\n" * 50, "a.pdf")]),
                      content_type="multipart/form-data")
    assert pdf.status_code == 400 and pdf.get_json()["media_type"] == "application/pdf"   # images only, for the public
    many = client.post(URL, data=multipart({**FILING, "address": "某路1号"}, [(png(i), f"{i}.png") for i in range(7)]),
                       content_type="multipart/form-data")
    assert many.status_code == 400 and many.get_json()["input"] == "photos"
    no_json = client.post(URL, data={"photos": [(io.BytesIO(png()), "a.png")]}, content_type="multipart/form-data")
    assert no_json.status_code == 400 and no_json.get_json()["input"] == "complaint"
    assert counts(world.engine) == before


def test_photos_are_the_engines_attachments_of_the_filing(world: SimpleNamespace) -> None:
    response = world.client.post(URL, data=multipart({**FILING, "address": "某路1号"}, [(png(10), "a.png"),
                                                                                      (png(20), "b.png")]),
                                 content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    with world.engine.connect() as conn:
        linked = conn.execute(sa.text("SELECT l.field, f.media_type FROM case_event_files l JOIN case_files f "
                                      "ON f.sha256 = l.sha256 JOIN cases c ON c.id = l.case_id WHERE c.code = :n"),
                              {"n": response.get_json()["number"]}).all()
    assert sorted(linked) == [("photos", "image/png"), ("photos", "image/png")]


def test_a_retry_with_the_same_key_gets_the_same_complaint_and_code(world: SimpleNamespace) -> None:
    key = {"Idempotency-Key": "7d3c0f9e-2b1a-4c55-9e0b-5a7f3e1d2c4b"}
    body = {**FILING, "address": "幂等路1号"}
    before = counts(world.engine)
    first = file(world, body, headers=key)
    again = file(world, body, headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["number"] == again.get_json()["number"]
    assert first.get_json()["query_code"] == again.get_json()["query_code"]   # unsealed with the key
    assert counts(world.engine)[0] == before[0] + 1
    other = file(world, {**body, "address": "幂等路2号"}, headers=key)
    assert other.status_code == 409 and other.get_json()["code"] == "idempotency_key_reused"
    short = file(world, body, headers={"Idempotency-Key": "abc"})
    assert short.status_code == 400 and short.get_json()["input"] == "Idempotency-Key"
    with world.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash, sealed_code FROM complaint_idempotency_keys")).all()
    assert all(key["Idempotency-Key"] not in str(tuple(r)) for r in stored)


def test_following_a_complaint_needs_its_number_and_its_code(world: SimpleNamespace) -> None:
    answer = file(world, {**FILING, "address": "查询路1号"}).get_json()
    number, code = answer["number"], answer["query_code"]
    ok = world.client.get(f"{URL}/{number}", headers={"X-Query-Code": code.lower().replace("-", " ")})
    assert ok.status_code == 200, ok.get_json()
    assert set(ok.get_json()) == {"number", "state", "state_label", "final", "filed_at", "closed_at", "reply"}
    assert ok.get_json()["state"] == "received" and ok.get_json()["reply"] is None
    wrong_code = world.client.get(f"{URL}/{number}", headers={"X-Query-Code": codes.shown(codes.new_code())})
    wrong_number = world.client.get(f"{URL}/JB-1999-000001", headers={"X-Query-Code": code})
    assert wrong_code.status_code == wrong_number.status_code == 404
    assert {k: v for k, v in wrong_code.get_json().items() if k != "number"} == \
        {k: v for k, v in wrong_number.get_json().items() if k != "number"}
    missing = world.client.get(f"{URL}/{number}")
    assert missing.status_code == 400 and missing.get_json()["input"] == "X-Query-Code"
    garbage = world.client.get(f"{URL}/{number}", headers={"X-Query-Code": "<script>alert(1)</script>"})
    assert garbage.status_code == 400 and "<script>" not in garbage.get_data(as_text=True)
    # the code in the query string is not how it is sent (it would end up in logs): it is simply not read
    assert world.client.get(f"{URL}/{number}?code={code}").status_code == 400


def test_bursts_get_429_with_retry_after_then_are_accepted_after_the_window(pg_cluster, template_url: str,  # noqa: ANN001
                                                                           demo_artifacts) -> None:  # noqa: ANN001
    """Two filings an hour from one address (burst 2): the third waits, and nothing of it is stored; once the
    bucket's clock has moved past the window (the database's clock is the limiter's: the test moves the bucket's
    stamp back instead of sleeping), the address may file again. Queries have their own bucket."""
    url = clone_database(pg_cluster, "t_complaints_burst")
    engine = sa.create_engine(url)
    try:
        app = complaint_app(url, demo_artifacts, complaint_filing={"requests": 1, "per_seconds": 3600, "burst": 2},
                            complaint_queries={"requests": 1, "per_seconds": 600, "burst": 3})
        client = app.test_client()
        body = {**FILING, "address": "限流路1号"}
        first = [client.post(URL, json=body) for _ in range(2)]
        assert [r.status_code for r in first] == [201, 201]
        before = counts(engine)
        limited = client.post(URL, json=body)
        assert limited.status_code == 429 and limited.get_json()["code"] == "rate_limited"
        assert 3000 <= int(limited.headers["Retry-After"]) <= 3600
        assert client.post(URL, data=b"junk", content_type="application/json").status_code == 429  # junk waits too
        assert counts(engine) == before
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "10.1.2.3"
        assert other.post(URL, json=body).status_code == 201            # another address has its own bucket
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE rate_limit_buckets SET updated_at = updated_at - interval '3601 seconds' "
                                 "WHERE rule = 'complaint_filing' AND key = 'ip:127.0.0.1'"))
        assert client.post(URL, json=body).status_code == 201
        number = first[0].get_json()["number"]
        guesses = [client.get(f"{URL}/{number}", headers={"X-Query-Code": codes.shown(codes.new_code())})
                   for _ in range(4)]
        assert [r.status_code for r in guesses] == [404, 404, 404, 429]
        assert int(guesses[-1].headers["Retry-After"]) > 0
    finally:
        engine.dispose()
        drop_database(pg_cluster, "t_complaints_burst")


def test_a_refusal_inside_the_transaction_leaves_no_hole_in_the_numbers(world: SimpleNamespace) -> None:
    """A filing refused after its transaction began (its photo is not an image: found while storing it) takes back
    everything, its complaint number too: the next accepted complaint gets the very next number (gapless)."""
    body = {**FILING, "address": "连号路1号"}
    first = file(world, body).get_json()["number"]
    refused = world.client.post(URL, data=multipart(body, [(png(), "ok.png"), (b"GIF89a" + b"\x00" * 64, "x.png")]),
                                content_type="multipart/form-data")
    assert refused.status_code == 400 and refused.get_json()["input"] == "file"
    second = file(world, body).get_json()["number"]
    assert int(second.rsplit("-", 1)[1]) == int(first.rsplit("-", 1)[1]) + 1


def test_a_multipart_part_without_a_name_is_refused_as_unknown(world: SimpleNamespace) -> None:
    """What schemathesis sent: parts with odd names (none at all) answer 400 naming the part, not 500."""
    boundary = "b0undary"
    raw = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"S\"\r\n\r\n2533857\r\n"
           f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{boundary}--\r\n").encode()
    response = world.client.post(URL, data=raw, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400 and response.get_json()["input"] in ("", "S"), response.get_json()
