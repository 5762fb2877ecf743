"""The policy gate and the /ows bridge read a request exactly as mapserv will, or refuse it.

Each class of spelling MapServer accepts is generated here and sent through the gate and MapServer: type names as
attributes or child elements, in any case, with any namespace prefix or as a namespace declaration (MapServer's XML
reader strips prefixes from attribute names too); stored-query ids; every encoding a client might send a body in;
every single-valued KVP key repeated; every service and version made to fail. The rule checked: a layer named in any
way MapServer would read is authorised (401 for an anonymous caller, the caller's own scope otherwise), what cannot
be read the same way is a 400 OGC exception, and no MapServer exception goes out with HTTP 200.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from lxml import etree
from werkzeug.test import Client

from tests.system.test_permission_matrix import OWN_DISTRICT, InjectIdentity, find_gate, identity

pytestmark = pytest.mark.system

WFS_NS = "http://www.opengis.net/wfs/2.0"
PUBLIC, PROTECTED = "hospitals", "enterprises"  # public, and internal with a district scope, in layers/defs
BY_ID = "urn:ogc:def:query:OGC-WFS::GetFeatureById"
SPELLINGS = ["typeNames", "typeName", "TYPENAMES", "TypeNames", "typename"]


def placements(key: str, value: str) -> dict[str, str]:
    """A ``wfs:Query`` naming ``value`` under ``key`` in each way MapServer reads it."""
    return {
        "attribute": f'<wfs:Query {key}="{value}"/>',
        "wfs-prefixed attribute": f'<wfs:Query wfs:{key}="{value}"/>',
        "other-prefixed attribute": f'<wfs:Query xmlns:x="urn:x" x:{key}="{value}"/>',
        "namespace declaration": f'<wfs:Query xmlns:{key}="{value}"/>',
        "child element": f"<wfs:Query><{key}>{value}</{key}></wfs:Query>",
        "prefixed child element": f"<wfs:Query><wfs:{key}>{value}</wfs:{key}></wfs:Query>",
    }


QUERY_VARIANTS = [(f"{spelling} {where}", query) for spelling in SPELLINGS
                  for where, query in placements(spelling, f"onemap:{PROTECTED}").items()]


def get_feature(*queries: str, root: str = 'service="WFS" version="2.0.0"') -> str:
    return (f'<wfs:GetFeature xmlns:wfs="{WFS_NS}" {root} resultType="hits">' + "".join(queries)
            + "</wfs:GetFeature>")


@pytest.fixture(scope="module")
def gated(demo_db: str, demo_artifacts: Path) -> SimpleNamespace:
    """The whole app on the shared demo city, entered below authentication with an injected identity."""
    from app import create_app

    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                      "logging": {"level": "WARNING", "format": "json"}})
    gate = find_gate(app)
    engine = sa.create_engine(demo_db)
    with engine.connect() as conn:
        own = conn.execute(sa.text(f"SELECT count(*) FROM {PROTECTED} WHERE district_code = :d"),
                           {"d": OWN_DISTRICT}).scalar_one()
        some_id, total = conn.execute(sa.text(f"SELECT min(id), count(*) FROM {PROTECTED}")).one()
    engine.dispose()
    assert 0 < own < total  # the scope shows in every count below
    return SimpleNamespace(client=Client(InjectIdentity(gate)), bridge=Client(gate.app.mounts["/ows"]),
                           own=own, some_id=some_id, own_uscc=None)


def post(gated: SimpleNamespace, role: str, body: str | bytes, content_type: str = "text/xml") -> Any:
    return gated.client.post("/ows", data=body, content_type=content_type,
                             environ_base={"test.identity": identity(role, gated)})


def ogc_exception(response: Any, status: int = 400) -> str:
    assert response.status_code == status, (response.status_code, response.data[:400])
    root = etree.fromstring(response.data)
    assert etree.QName(root).localname in ("ServiceExceptionReport", "ExceptionReport"), response.data[:300]
    return " ".join(root.itertext())


def matched(response: Any) -> int:
    assert response.status_code == 200, (response.status_code, response.data[:400])
    return int(etree.fromstring(response.data).get("numberMatched"))


# -- type names in XML bodies -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("label", "query"), QUERY_VARIANTS, ids=[v[0] for v in QUERY_VARIANTS])
def test_every_spelling_of_a_type_name_is_authorised(gated: SimpleNamespace, label: str, query: str) -> None:
    # beside a public query, so that a gate blind to this spelling would let the request through
    assert post(gated, "anonymous", get_feature(f'<wfs:Query typeNames="{PUBLIC}"/>', query)).status_code == 401
    # MapServer reads every one of these spellings: the caller gets exactly the rows of their scope
    assert matched(post(gated, "district_regulator", get_feature(query))) == gated.own


@pytest.mark.parametrize("where", ["attribute", "wfs-prefixed attribute", "namespace declaration", "child element"])
def test_feature_ids_of_stored_queries_and_filters_are_authorised(gated: SimpleNamespace, where: str) -> None:
    rid = f"{PROTECTED}.{gated.some_id}"
    id_attr = {"attribute": f'id="{BY_ID}"', "wfs-prefixed attribute": f'wfs:id="{BY_ID}"',
               "namespace declaration": f'xmlns:id="{BY_ID}"', "child element": ""}[where]
    id_child = f"<wfs:id>{BY_ID}</wfs:id>" if where == "child element" else ""
    stored = f'<wfs:StoredQuery {id_attr}>{id_child}<wfs:Parameter name="ID">{rid}</wfs:Parameter></wfs:StoredQuery>'
    by_filter = (f'<wfs:Query typeNames="?"><fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0">'
                 f'<fes:ResourceId rid="{rid}"/></fes:Filter></wfs:Query>')
    for second in (stored, by_filter):
        assert post(gated, "anonymous", get_feature(f'<wfs:Query typeNames="{PUBLIC}"/>', second)).status_code == 401


def test_what_the_gate_cannot_read_like_mapserver_is_refused(gated: SimpleNamespace) -> None:
    public = f'<wfs:Query typeNames="{PUBLIC}"/>'
    cases = {
        "no service": get_feature(public, root='version="2.0.0"'),
        "contradicting services": get_feature(public, root='service="WFS" wfs:service="WCS" version="2.0.0"'),
        "other stored query": get_feature(public, f'<wfs:StoredQuery id="urn:x"><wfs:Parameter name="ID">'
                                                  f"{PUBLIC}.1</wfs:Parameter></wfs:StoredQuery>"),
        "markup in a stored-query parameter": get_feature(
            public, f'<wfs:StoredQuery id="{BY_ID}"><wfs:Parameter name="ID"><x/></wfs:Parameter></wfs:StoredQuery>'),
        "two root elements": get_feature(public) + get_feature(public),
    }
    for body in cases.values():
        ogc_exception(post(gated, "city_regulator", body))
    for label in ("no service", "two root elements"):  # the bridge on its own: mapserv would answer with HTML
        assert gated.bridge.post("/", data=cases[label], content_type="text/xml").status_code == 400, label


# -- encodings ----------------------------------------------------------------------------------------------------
def encodings(text: str) -> dict[str, tuple[bytes, bool]]:
    """``text`` in every encoding a client could send it in → (body, whether it is UTF-8)."""
    declared = '<?xml version="1.0" encoding="{}"?>'
    out: dict[str, tuple[bytes, bool]] = {
        "utf-8": (text.encode(), True),
        "utf-8 + declaration": ((declared.format("UTF-8") + text).encode(), True),
        "utf-8 + BOM": (codecs.BOM_UTF8 + text.encode(), True),
        "utf-8 + BOM + declaration": (codecs.BOM_UTF8 + (declared.format("utf-8") + text).encode(), True),
        "latin-1 declared": ((declared.format("ISO-8859-1") + text).encode("latin-1"), False),
    }
    for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)):
        out[codec] = (text.encode(codec), False)
        out[f"{codec} + BOM"] = (bom + text.encode(codec), False)
        out[f"{codec} + declaration"] = ((declared.format("UTF-16") + text).encode(codec), False)
        out[f"{codec} + BOM + declaration"] = (bom + (declared.format("UTF-16") + text).encode(codec), False)
    return out


ENCODINGS = list(encodings(""))


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_bodies_are_read_in_utf8_or_refused_with_an_ogc_exception(gated: SimpleNamespace, encoding: str) -> None:
    body, utf8 = encodings(get_feature(f'<wfs:Query typeNames="{PROTECTED}"/>'))[encoding]
    mixed, _ = encodings(get_feature(f'<wfs:Query typeNames="{PUBLIC}"/>',
                                     f'<wfs:Query wfs:typeNames="{PROTECTED}"/>'))[encoding]
    if utf8:
        assert matched(post(gated, "district_regulator", body)) == gated.own
        assert post(gated, "anonymous", mixed).status_code == 401
        return
    for response in (post(gated, "district_regulator", body), post(gated, "anonymous", mixed),
                     gated.bridge.post("/", data=body, content_type="text/xml")):
        assert "UTF-8" in ogc_exception(response)


# -- repeated KVP keys --------------------------------------------------------------------------------------------
BBOX_130 = "31.9,118.9,32.0,119.0"
KVP_REQUESTS = {
    "WMS GetMap": {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": PUBLIC, "STYLES": "",
                   "CRS": "EPSG:4326", "BBOX": BBOX_130, "WIDTH": "64", "HEIGHT": "64", "FORMAT": "image/png"},
    "WMS 1.1.1 GetFeatureInfo": {"SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetFeatureInfo",
                                 "LAYERS": PUBLIC, "QUERY_LAYERS": PUBLIC, "STYLES": "", "SRS": "EPSG:4326",
                                 "BBOX": "118.9,31.9,119.0,32.0", "WIDTH": "64", "HEIGHT": "64", "X": "3", "Y": "3",
                                 "INFO_FORMAT": "application/json", "FEATURE_COUNT": "5"},
    "WFS GetFeature": {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": PUBLIC,
                       "COUNT": "5", "STARTINDEX": "0", "RESULTTYPE": "results", "OUTPUTFORMAT": "geojson",
                       "FILTER": '<fes:Filter xmlns:fes="http://www.opengis.net/fes/2.0"><fes:PropertyIsLike '
                                 'wildCard="*" singleChar="." escapeChar="!"><fes:ValueReference>name'
                                 "</fes:ValueReference><fes:Literal>*</fes:Literal></fes:PropertyIsLike></fes:Filter>"},
    "WFS GetFeature in a box": {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": PUBLIC,
                                "BBOX": f"{BBOX_130},urn:ogc:def:crs:EPSG::4326", "SRSNAME": "EPSG:4490"},
    "WFS 1.1.0 GetFeature": {"SERVICE": "WFS", "VERSION": "1.1.0", "REQUEST": "GetFeature", "TYPENAME": PUBLIC,
                             "MAXFEATURES": "5"},
}
REPEATS = [(name, key) for name, params in KVP_REQUESTS.items() for key in params]


@pytest.mark.parametrize(("name", "key"), REPEATS, ids=[f"{n} {k}" for n, k in REPEATS])
def test_a_repeated_key_is_refused_by_gate_and_bridge(gated: SimpleNamespace, name: str, key: str) -> None:
    params = KVP_REQUESTS[name]
    base = urlencode(params)
    assert gated.client.get(f"/ows?{base}").status_code == 200, name  # the request itself is fine
    # the same value again, in another case: harmless to MapServer, but one rule for every key
    for extra in (urlencode({key.lower(): params[key]}), urlencode({key: params[key]})):
        for client, path in ((gated.client, "/ows"), (gated.bridge, "/")):
            text = ogc_exception(client.get(f"{path}?{base}&{extra}"))
            assert "more than once" in text and key in text, (client, text)


def test_a_repeated_key_in_a_form_body_and_the_query_is_refused(gated: SimpleNamespace) -> None:
    params = KVP_REQUESTS["WMS GetMap"]
    for client, path in ((gated.client, "/ows"), (gated.bridge, "/")):
        response = client.post(f"{path}?WIDTH=4000", data=urlencode(params),
                               content_type="application/x-www-form-urlencoded")
        assert "WIDTH" in ogc_exception(response)


def test_wcs_subsets_may_repeat(gated: SimpleNamespace) -> None:
    query = urlencode([("SERVICE", "WCS"), ("VERSION", "2.0.1"), ("REQUEST", "GetCoverage"),
                       ("COVERAGEID", "population"), ("FORMAT", "image/tiff"), ("SUBSET", "Lat(31.9,32.0)"),
                       ("SUBSET", "Long(118.9,119.0)")])
    response = gated.client.get(f"/ows?{query}", environ_base={"test.identity": identity("city_regulator", gated)})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/tiff"), response.data[:300]


# -- MapServer's own exceptions -----------------------------------------------------------------------------------
FAILING = {  # every service and version, made to fail inside MapServer
    "WMS 1.1.1": "SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=nope&STYLES=&SRS=EPSG:4326&"
                 "BBOX=118.9,31.9,119.0,32.0&WIDTH=10&HEIGHT=10&FORMAT=image/png",
    "WMS 1.1.1 format": "SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=hospitals&STYLES=&SRS=EPSG:4326&"
                        "BBOX=118.9,31.9,119.0,32.0&WIDTH=10&HEIGHT=10&FORMAT=image/nope",
    "WMS 1.3.0": "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=nope&STYLES=&CRS=EPSG:4326&"
                 f"BBOX={BBOX_130}&WIDTH=10&HEIGHT=10&FORMAT=image/png",
    "WMS GetFeatureInfo": "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=hospitals&QUERY_LAYERS=nope&"
                          f"STYLES=&CRS=EPSG:4326&BBOX={BBOX_130}&WIDTH=10&HEIGHT=10&I=1&J=1&INFO_FORMAT=text/html",
    "WMS 1.1.1 GetLegendGraphic": "SERVICE=WMS&VERSION=1.1.1&REQUEST=GetLegendGraphic&LAYER=nope&FORMAT=image/png",
    "WFS 1.0.0": "SERVICE=WFS&VERSION=1.0.0&REQUEST=GetFeature&TYPENAME=nope",
    "WFS 1.1.0": "SERVICE=WFS&VERSION=1.1.0&REQUEST=GetFeature&TYPENAME=nope",
    "WFS 2.0.0": "SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=nope",
    "WCS 1.0.0": "SERVICE=WCS&VERSION=1.0.0&REQUEST=DescribeCoverage&COVERAGE=nope",
    "WCS 1.1.1": "SERVICE=WCS&VERSION=1.1.1&REQUEST=DescribeCoverage&IDENTIFIERS=nope",
    "WCS 2.0.1": "SERVICE=WCS&VERSION=2.0.1&REQUEST=GetCoverage&COVERAGEID=population&FORMAT=image/nope",
    "unknown service": "SERVICE=NOPE&REQUEST=GetCapabilities",
}


@pytest.mark.parametrize("label", list(FAILING))
def test_mapserver_exceptions_go_out_with_an_error_status(gated: SimpleNamespace, label: str) -> None:
    response = gated.bridge.get("/?" + FAILING[label])
    assert 400 <= response.status_code < 500, (response.status_code, response.data[:300])
    assert response.mimetype != "text/html", response.data[:300]  # never MapServer's HTML banner
