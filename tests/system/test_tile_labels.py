"""Basemap labels are placed once per feature and never cut at a tile's edge.

MapProxy renders the basemap in metatiles (with a buffer) and cuts them into tiles; the console shows those tiles
side by side. For every labelled basemap layer, at the zoom levels its labels show, the tiles covering an area are
put together and compared with one MapServer image of the same area at the same resolution: a label is a cluster of
pixels in the label's own colour, and every cluster of the mosaic must be one of the single image (same place, same
size: not cut, not moved) and vice versa (none missing, none twice). For road names, which collide with each other
differently in differently cut images, the check is that none stops at a tile seam while the single image shows it
going on.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image
from scipy import ndimage
from werkzeug.test import Client

from core.config import load_config
from layers.registry import default_registry
from mapserver.build import ensure_built
from mapserver.mapproxy_config import make_tiles_app
from mapserver.ows import make_ows_app
from styles import default_styles, scale_to_zoom
from styles.mapserver import anchored_label
from tests.system.ows_support import city_wide
from tests.system.test_permission_matrix import OWN_DISTRICT, InjectIdentity, find_gate, identity

pytestmark = pytest.mark.system

REGISTRY = default_registry()
STYLES = default_styles()
MERC = 20037508.342789244
CITY = (118.70, 31.78, 119.32, 32.22)  # lon/lat box around the demo city
TOLERANCE = 3  # per channel: glyph cores are drawn in the exact label colour, anti-aliased edges are not


def _colours(style) -> set[str]:  # noqa: ANN001
    """Every colour a style paints shapes with (strokes, casings, fills, hatches, markers)."""
    out = set()
    for c in style.classes:
        for part in (c.stroke, c.casing, c.fill, getattr(c.fill, "hatch", None), c.marker):
            if part is not None and getattr(part, "colour", None):
                out.add(part.colour.upper())
    return out


def _label_zooms(label) -> range:  # noqa: ANN001
    first = math.ceil(scale_to_zoom(label.max_scale) - 1e-9) if label.max_scale else 9
    last = math.floor(scale_to_zoom(label.min_scale) + 1e-9) if label.min_scale else 20
    return range(max(first, 9), min(last, 20) + 1)


def _cases() -> list[tuple[str, int]]:
    """(layer, zoom) for every basemap layer whose label colour no basemap shape uses, at the two zooms next to
    where its labels appear (or, when they show from the start, the two before they go)."""
    shapes = set().union(*(_colours(STYLES.for_layer(REGISTRY.get(i))) for i in REGISTRY.basemap_layers))
    cases = []
    for layer_id in REGISTRY.basemap_layers:
        label = STYLES.for_layer(REGISTRY.get(layer_id)).label
        if label is None or label.colour.upper() in shapes:
            continue  # e.g. industrial parks: named in the colour of their outline; checked through the others
        zooms = list(_label_zooms(label))
        cases += [(layer_id, z) for z in (zooms[:2] if label.max_scale else zooms[-2:])]
    return cases


CASES = _cases()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.fixture(scope="module")
def maps(demo_db: str, demo_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """MapProxy and the /ows bridge on their own configuration (an empty tile cache)."""
    var = tmp_path_factory.mktemp("labels-var")
    (var / "data").mkdir()
    (var / "data" / "population.tif").symlink_to(demo_artifacts / "data" / "population.tif")
    files = ensure_built(load_config({"database": {"url": demo_db}, "paths": {"var": str(var)}}, environ={}))
    tiles = make_tiles_app(files["mapproxy.mapproxy"], mapserver_conf=files["mapserver.mapserver_conf"])
    return SimpleNamespace(tiles=Client(tiles), wrapper=files["mapproxy.mapproxy"].parent / "mapserv.sh",
                           ows=Client(city_wide(make_ows_app(files["mapserver.mapfile"],
                                                             files["mapserver.mapserver_conf"]))))


def test_renders_go_to_kept_mapserv_processes(maps: SimpleNamespace) -> None:
    """MapProxy's renders go to the FastCGI pool registered for the generated wrapper (mapserver/mapproxy_patches.py):
    two metatiles apart, one process."""
    import os

    from mapserver import mapproxy_patches

    pool, _timeout = mapproxy_patches._POOLS[os.path.realpath(maps.wrapper)]
    seen = []
    for x in (13600, 13608):  # zoom 14 over the city, two metatiles (4x4 tiles each) apart
        assert maps.tiles.get(f"/wmts/basemap/webmercator/14/{x}/6653.png").status_code == 200
        seen.append({w.proc.pid for w in pool._free})
    assert len(seen[0]) == 1 and seen[0] == seen[1]


def window(z: int, centre: tuple[float, float]) -> tuple[int, int, int, int]:
    """Tiles x0..x1, y0..y1: the whole city up to zoom 12, else 8x8 tiles (2x2 metatiles) around ``centre``."""
    if z <= 12:
        (x0, y0), (x1, y1) = tile_of(CITY[0], CITY[3], z), tile_of(CITY[2], CITY[1], z)
        return x0, y0, x1, y1
    cx, cy = tile_of(*centre, z)
    x0, y0 = cx - cx % 4 - 4, cy - cy % 4 - 4  # the metatile seams run through the middle
    return x0, y0, x0 + 7, y0 + 7


def centre_of(db: sa.Engine, layer_id: str) -> tuple[float, float]:
    """A point of the layer's feature nearest to the city's centre (so that a zoomed-in window holds labels)."""
    lon, lat = (CITY[0] + CITY[2]) / 2, (CITY[1] + CITY[3]) / 2
    with db.connect() as conn:
        return tuple(conn.execute(sa.text(
            f'SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM "{REGISTRY.get(layer_id).table}" '
            "ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4490) LIMIT 1) s"), {"x": lon, "y": lat}).one())


def mosaic(maps: SimpleNamespace, z: int, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    out = Image.new("RGBA", ((x1 - x0 + 1) * 256, (y1 - y0 + 1) * 256))
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            r = maps.tiles.get(f"/wmts/basemap/webmercator/{z}/{x}/{y}.png")
            assert r.status_code == 200, r.get_data()[:300]
            out.paste(Image.open(io.BytesIO(r.get_data())).convert("RGBA"), ((x - x0) * 256, (y - y0) * 256))
    return np.asarray(out)


def single_image(maps: SimpleNamespace, z: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """The same area in one MapServer render, pixel for pixel on the tile grid."""
    x0, y0, x1, y1 = box
    size = 2 * MERC / 2 ** z
    bbox = (-MERC + x0 * size, MERC - (y1 + 1) * size, -MERC + (x1 + 1) * size, MERC - y0 * size)
    r = maps.ows.get("/", query_string={
        "SERVICE": "WMS", "VERSION": "1.1.1", "REQUEST": "GetMap", "LAYERS": ",".join(REGISTRY.basemap_layers), "STYLES": "",
        "SRS": "EPSG:3857", "BBOX": ",".join(f"{v:.6f}" for v in bbox), "WIDTH": str((x1 - x0 + 1) * 256),
        "HEIGHT": str((y1 - y0 + 1) * 256), "FORMAT": "image/png", "TRANSPARENT": "FALSE"})
    assert r.status_code == 200 and r.mimetype == "image/png", r.get_data()[:300]
    return np.asarray(Image.open(io.BytesIO(r.get_data())).convert("RGBA"))


def labels(img: np.ndarray, colour: str) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (x0, y0, x1, y1) of the clusters of ``colour`` pixels: glyphs within a few pixels of each
    other belong to one label."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    mask = (np.abs(img[..., :3].astype(int) - rgb).max(axis=2) <= TOLERANCE) & (img[..., 3] > 200)
    groups, _ = ndimage.label(ndimage.binary_dilation(mask, iterations=4))
    out = []
    for i, sl in enumerate(ndimage.find_objects(groups), start=1):
        ys, xs = np.nonzero((groups[sl] == i) & mask[sl])
        out.append((sl[1].start + xs.min(), sl[0].start + ys.min(), sl[1].start + xs.max(), sl[0].start + ys.max()))
    return sorted(out)


def same(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(u - v) <= 1 for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize(("layer_id", "z"), [c for c in CASES if c[0] != "roads"],
                         ids=[f"{lid}-z{z}" for lid, z in CASES if lid != "roads"])
def test_area_labels_are_whole_and_once_on_the_tiles(maps: SimpleNamespace, db: sa.Engine, layer_id: str,
                                                     z: int) -> None:
    colour = STYLES.for_layer(REGISTRY.get(layer_id)).label.colour
    box = window(z, centre_of(db, layer_id))
    tiled, whole = labels(mosaic(maps, z, box), colour), labels(single_image(maps, z, box), colour)
    assert whole, f"no {layer_id} label at zoom {z}: nothing to compare"
    cut_or_moved = [a for a in tiled if not any(same(a, b) for b in whole)]
    missing = [b for b in whole if not any(same(a, b) for a in tiled)]
    assert not cut_or_moved and not missing and len(tiled) == len(whole), (cut_or_moved, missing)


@pytest.mark.parametrize("z", [z for lid, z in CASES if lid == "roads"])
def test_road_names_never_stop_at_a_tile_seam(maps: SimpleNamespace, db: sa.Engine, z: int) -> None:
    colour = STYLES.for_layer(REGISTRY.get("roads")).label.colour
    box = window(z, centre_of(db, "roads"))
    tiled, whole = labels(mosaic(maps, z, box), colour), labels(single_image(maps, z, box), colour)
    assert len(tiled) > 20, "too few road names to say anything"
    seams = range(256, (box[2] - box[0] + 1) * 256, 256)
    cut = []
    for a in tiled:
        at_seam = [s for s in seams if s in (a[0], a[1], a[2] + 1, a[3] + 1)]
        # cut: it ends at a seam while the single image has the same name running on over that seam
        if at_seam and any(not same(a, b) and b[0] <= a[2] and a[0] <= b[2] and b[1] <= a[3] and a[1] <= b[3]
                           and (b[0] < a[0] or b[1] < a[1] or b[2] > a[2] or b[3] > a[3]) for b in whole):
            cut.append(a)
    assert not cut, cut[:5]


# -- label layers keep the data scope ---------------------------------------------------------------------------------
SCOPED = [layer.id for layer in REGISTRY if layer.access != "public" and anchored_label(STYLES.for_layer(layer))]


@pytest.fixture(scope="module")
def gated(demo_db: str, demo_artifacts: Path) -> Client:
    from app import create_app

    app = create_app({"database": {"url": demo_db}, "paths": {"var": str(demo_artifacts)},
                      "logging": {"level": "WARNING", "format": "json"}})
    return Client(InjectIdentity(find_gate(app)))


@pytest.mark.parametrize("layer_id", SCOPED)
def test_labels_of_a_scoped_layer_stay_in_the_caller_s_scope(gated: Client, db: sa.Engine, layer_id: str) -> None:
    """The anchor layer that draws a scoped layer's labels filters its rows like the layer: a district regulator
    sees nothing of a feature in another district, the label included; a city-wide regulator sees it named."""
    layer, label = REGISTRY.get(layer_id), STYLES.for_layer(REGISTRY.get(layer_id)).label
    with db.connect() as conn:  # the foreign feature farthest from the caller's own district
        lon, lat = conn.execute(sa.text(
            f'SELECT ST_X(c), ST_Y(c) FROM (SELECT (ST_MaximumInscribedCircle(t.geom)).center AS c, t.geom FROM '
            f'"{layer.table}" t WHERE t.district_code <> :d) s ORDER BY ST_Distance(s.geom, (SELECT geom FROM '
            "districts WHERE code = :d)) DESC LIMIT 1"), {"d": OWN_DISTRICT}).one()
    z = min(_label_zooms(label))
    half = 128 * 2 * MERC / 2 ** z / 256
    x, y = lon * MERC / 180, math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * MERC / math.pi
    path = ("/ows?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&STYLES=&SRS=EPSG:3857&WIDTH=256&HEIGHT=256&"
            f"FORMAT=image/png&TRANSPARENT=TRUE&LAYERS={layer_id}&BBOX={x - half},{y - half},{x + half},{y + half}")

    def drawn(role: str) -> np.ndarray:
        r = gated.get(path, environ_base={"test.identity": identity(role, SimpleNamespace(own_uscc=None))})
        assert r.status_code == 200 and r.mimetype == "image/png", r.get_data()[:300]
        return np.asarray(Image.open(io.BytesIO(r.get_data())).convert("RGBA"))

    assert labels(drawn("city_regulator"), label.colour), "the feature's label should show at this zoom"
    assert not drawn("district_regulator")[..., 3].any()  # neither the shape nor its name
