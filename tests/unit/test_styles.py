"""Styles as data: the packaged styles are valid, broken ones name file and field, and the three compilers
(MapServer, SLD 1.1, OpenLayers JSON) say the same thing about every class."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lxml import etree

from layers.registry import default_registry
from styles import STYLES_DIR, Filter, StyleError, load_styles, zoom_to_scale
from styles.mapserver import compile_classes, expression, symbol_definitions
from styles.openlayers import compile_all, compile_openlayers
from styles.sld import OGC_NS, SE_NS, SLD_NS, compile_sld

RISK_COLOURS = {"red": ("#E02020", "重大风险"), "orange": ("#FF8C00", "较大风险"),
                "yellow": ("#FFD700", "一般风险"), "blue": ("#1E6FD9", "低风险")}
SE = {"se": SE_NS, "ogc": OGC_NS, "sld": SLD_NS}


@pytest.fixture(scope="module")
def registry():  # noqa: ANN201
    return default_registry()


@pytest.fixture(scope="module")
def styles(registry):  # noqa: ANN001, ANN201
    return load_styles(registry)


def test_every_registry_layer_has_a_valid_style(registry, styles) -> None:  # noqa: ANN001
    assert len(registry) == len(list(registry.layers[0].source.parent.glob("*.yaml")))   # every layer file
    for layer in registry:
        style = styles.for_layer(layer)
        assert style.classes, layer.id
        assert all(c.title_zh and c.title_en for c in style.classes), layer.id


def test_enterprise_risk_colours_are_the_bureau_colours(registry, styles) -> None:  # noqa: ANN001
    style = styles.for_layer(registry.get("enterprises"))
    got = {c.filter.value: (c.marker.fill, c.title_zh) for c in style.classes if c.filter.property == "risk_colour"}
    assert got == RISK_COLOURS
    # a deactivated record (supervision/records) is greyed whatever its colour: its class comes first
    assert style.class_for({"risk_colour": "red", "status": "deactivated"}).name == "deactivated"
    assert style.class_for({"risk_colour": "red", "status": "active"}).marker.fill == RISK_COLOURS["red"][0]
    for value, (fill, _) in RISK_COLOURS.items():
        assert style.class_for({"risk_colour": value}).marker.fill == fill
    assert style.class_for({"risk_colour": None}) is None


def test_hazard_grades_and_road_widths(registry, styles) -> None:  # noqa: ANN001
    hazards = styles.for_layer(registry.get("hazard_sources"))
    assert [hazards.class_for({"grade": g}).name for g in (1, 2, 3, 4)] == ["grade1", "grade2", "grade3", "grade4"]
    sizes = [hazards.class_for({"grade": g}).marker.size for g in (1, 2, 3, 4)]
    assert sizes == sorted(sizes, reverse=True), "grade 1 (most dangerous) must be the largest symbol"
    roads = styles.for_layer(registry.get("roads"))
    order = ["motorway", "trunk", "primary", "secondary", "tertiary", "residential"]
    widths = [roads.class_for({"road_class": c}).stroke.width for c in order]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == len(widths)
    parks = styles.for_layer(registry.get("industrial_parks"))
    assert all(c.fill.hatch is not None and c.fill.opacity < 0.5 for c in parks.classes)


def test_range_filters_are_half_open() -> None:
    f = Filter("s_value", "range", (10, 20))
    assert [f.matches({"s_value": v}) for v in (9.99, 10, 19.99, 20)] == [False, True, True, False]
    assert expression(f, numeric=True) == "(([s_value] >= 10) AND ([s_value] < 20))"
    assert expression(Filter("kind", "in", ("a", "b")), numeric=False) == '((\"[kind]\" = "a") OR (\"[kind]\" = "b"))'
    assert expression(Filter("grade", "equals", 1), numeric=True) == "([grade] = 1)"


def test_zoom_bounds_become_scale_denominators(registry, styles) -> None:  # noqa: ANN001
    roads = styles.for_layer(registry.get("roads"))
    residential = roads.classes[-1]
    # min_zoom 13 is visible at zoom 13 itself, not only from 13.5 on
    assert zoom_to_scale(13) < residential.max_scale < zoom_to_scale(12)


@pytest.fixture
def style_dir(tmp_path: Path) -> Path:
    target = tmp_path / "styles"
    target.mkdir()
    for path in STYLES_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("enterprises.yaml", "{property: risk_colour, equals: red}", "{property: risk_color, equals: red}",
         "enterprises.yaml: classes[1](name=red).filter.property: 'risk_color' is not a field of layer "
         "'enterprises'"),
        ("enterprises.yaml", 'fill: "#E02020"', 'fill: "#E0202"',
         "enterprises.yaml: classes[1](name=red).marker.fill: '#E0202' does not match"),
        ("enterprises.yaml", "{shape: circle, size: 10", "{shape: hexagon, size: 10",
         "enterprises.yaml: classes[1](name=red).marker.shape: 'hexagon' is not one of"),
        ("enterprises.yaml", "{property: risk_colour, equals: orange}", "{property: risk_colour, equals: purple}",
         "enterprises.yaml: classes[2](name=orange).filter.equals: 'purple' is not one of 'risk_colour''s values"),
        ("hazard_sources.yaml", "{property: grade, equals: 2}", "{property: grade, equals: '2'}",
         "hazard_sources.yaml: classes[6](name=grade2).filter.equals: '2' does not fit 'grade' (integer)"),
        ("hazard_sources.yaml", "{property: grade, equals: 4}", "{property: grade, equals: 5}",
         "hazard_sources.yaml: classes[8](name=grade4).filter.equals: 5 is outside 'grade''s range"),
        ("roads.yaml", "{property: road_class, equals: trunk}", "{property: road_class, range: {min: 1}}",
         "roads.yaml: classes[1](name=trunk).filter.range: property 'road_class' is not numeric"),
        ("shelters.yaml", "  property: name\n", "  property: nom\n",
         "shelters.yaml: label.property: 'nom' is not a field of layer 'shelters'"),
        ("enterprises.yaml", "  property: name\n", "  property: address\n",
         "enterprises.yaml: label.property: 'address' is not carried by layer 'enterprises''s vector tiles"),
        ("roads.yaml", "geometry: line", "geometry: point",
         "roads.yaml: geometry: 'point' cannot draw layer 'roads' (roads.yaml: geometry LineString)"),
        ("water.yaml", "id: water", "id: waters", "water.yaml: id: 'waters' must match the file name 'water'"),
        ("sensors.yaml", "    marker: {shape: circle, size: 6, fill: \"#2ECC71\"",
         "    stroke: {colour: \"#000000\", width: 1}\n    marker: {shape: circle, size: 6, fill: \"#2ECC71\"",
         "sensors.yaml: classes[1](name=normal).stroke: not used for points"),
        ("sensors.yaml", "    filter: {property: status, equals: alarm}\n", "",
         "sensors.yaml: classes[0](name=alarm).filter: only the last class may omit its filter"),
        ("depots.yaml", "title: {zh-CN: 应急物资储备库, en: Emergency supply depots}", "title: {en: Depots}",
         "depots.yaml: title: 'zh-CN' is a required property"),
        ("incidents.yaml", "  min_zoom: 12\n", "  min_zoom: 12\n  max_zoom: 10\n",
         "incidents.yaml: label: the visible range is empty"),
        ("grid_cells.yaml", "geometry: polygon\n", "geometry: polygon\n  oops: [\n",
         "grid_cells.yaml: line 5, column 7: YAML syntax error"),
    ],
)
def test_invalid_style_names_file_and_field(style_dir: Path, file: str, old: str, new: str, expected: str,
                                            registry) -> None:  # noqa: ANN001
    _edit(style_dir / file, old, new)
    with pytest.raises(StyleError) as info:
        load_styles(registry, style_dir)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_layer_without_style_file_is_an_error(style_dir: Path, registry) -> None:  # noqa: ANN001
    (style_dir / "experts.yaml").unlink()
    with pytest.raises(StyleError) as info:
        load_styles(registry, style_dir)
    assert any(p.startswith("experts.yaml: style: 'experts' has no style file experts.yaml")
               for p in info.value.problems), info.value.problems


def test_every_problem_is_reported_at_once(style_dir: Path, registry) -> None:  # noqa: ANN001
    _edit(style_dir / "enterprises.yaml", "{property: risk_colour, equals: red}", "{property: colour, equals: red}")
    _edit(style_dir / "roads.yaml", "geometry: line", "geometry: polygon")
    with pytest.raises(StyleError) as info:
        load_styles(registry, style_dir)
    files = {p.split(":")[0] for p in info.value.problems}
    assert {"enterprises.yaml", "roads.yaml"} <= files


def test_mapserver_classes_for_enterprises(registry, styles) -> None:  # noqa: ANN001
    layer = registry.get("enterprises")
    text = compile_classes(styles.for_layer(layer), layer)
    assert text.count("CLASS\n") == 5  # the four risk colours after the greyed deactivated records
    assert text.index('EXPRESSION ("[status]" = "deactivated")') < text.index('EXPRESSION ("[risk_colour]" = "red")')
    assert 'EXPRESSION ("[risk_colour]" = "red")' in text
    assert 'COLOR "#E02020"' in text and 'TITLE "重大风险"' in text
    assert 'FONT "cjk"' in text and 'TEXT "[name]"' in text
    hazards = compile_classes(styles.for_layer(registry.get("hazard_sources")), registry.get("hazard_sources"))
    assert "EXPRESSION ([grade] = 1)" in hazards
    symbols = symbol_definitions()
    for shape in ("circle", "square", "triangle", "star", "diamond", "hatch"):
        assert f'NAME "{shape}"' in symbols


@pytest.mark.parametrize("layer_id", sorted(default_registry().ids))
def test_sld_is_se_1_1_with_one_rule_per_class(layer_id: str, registry, styles) -> None:  # noqa: ANN001
    layer = registry.get(layer_id)
    style = styles.for_layer(layer)
    doc = etree.fromstring(compile_sld(style, layer))
    assert doc.tag == f"{{{SLD_NS}}}StyledLayerDescriptor" and doc.get("version") == "1.1.0"
    assert doc.findtext("sld:NamedLayer/se:Name", namespaces=SE) == layer.id
    rules = doc.findall(".//se:FeatureTypeStyle/se:Rule", SE)
    class_rules = [r for r in rules if r.findtext("se:Name", namespaces=SE) != "label"]
    assert [r.findtext("se:Name", namespaces=SE) for r in class_rules] == [c.name for c in style.classes]
    assert len(rules) == len(style.classes) + (1 if style.label else 0)
    for rule, cls in zip(class_rules, style.classes, strict=True):
        assert rule.findtext("se:Description/se:Title", namespaces=SE) == cls.title_zh
        has_filter = rule.find("ogc:Filter", SE) is not None
        assert has_filter == (cls.filter is not None)
        assert (rule.find("se:ElseFilter", SE) is not None) == (cls.filter is None)
        symbolizers = [c for c in rule if c.tag.endswith("Symbolizer")]
        assert symbolizers and all(c.tag.startswith(f"{{{SE_NS}}}") for c in symbolizers)
        # SE 1.1 element order: Name, Description, filter, scales, then symbolizers only
        names = [etree.QName(c).localname for c in rule]
        first_symbolizer = names.index(etree.QName(symbolizers[0]).localname)
        assert all(n.endswith("Symbolizer") for n in names[first_symbolizer:])


def test_sld_red_rule_uses_the_risk_colour(registry, styles) -> None:  # noqa: ANN001
    layer = registry.get("enterprises")
    doc = etree.fromstring(compile_sld(styles.for_layer(layer), layer))
    red = next(r for r in doc.iterfind(".//se:Rule", SE) if r.findtext("se:Name", namespaces=SE) == "red")
    assert red.findtext(".//ogc:PropertyIsEqualTo/ogc:Literal", namespaces=SE) == "red"
    assert red.findtext(".//se:Mark/se:Fill/se:SvgParameter[@name='fill']", namespaces=SE) == "#E02020"
    label = next(r for r in doc.iterfind(".//se:Rule", SE) if r.findtext("se:Name", namespaces=SE) == "label")
    assert label.findtext(".//se:TextSymbolizer/se:Label/ogc:PropertyName", namespaces=SE) == "name"


def test_openlayers_description(registry, styles) -> None:  # noqa: ANN001
    layer = registry.get("enterprises")
    desc = json.loads(json.dumps(compile_openlayers(styles.for_layer(layer), layer), ensure_ascii=False))
    assert desc["title"] == {"zh-CN": "生产经营单位", "en": "Enterprises"}
    assert desc["rules"][0]["filter"] == ["==", ["get", "status"], "deactivated"]
    assert [r["filter"] for r in desc["rules"][1:]] == [["==", ["get", "risk_colour"], v] for v in RISK_COLOURS]
    assert [r["style"]["circle-fill-color"] for r in desc["rules"][1:]] == [c for c, _ in RISK_COLOURS.values()]
    assert [e["title"]["zh-CN"] for e in desc["legend"][1:]] == [t for _, t in RISK_COLOURS.values()]
    assert desc["minZoom"] == layer.zoom_min and desc["label"]["style"]["text-value"] == ["get", "name"]
    experts = compile_openlayers(styles.for_layer(registry.get("experts")), registry.get("experts"))
    assert experts["rules"][0]["else"] is True and experts["rules"][0]["style"]["shape-points"] == 4
    parks = compile_openlayers(styles.for_layer(registry.get("industrial_parks")), registry.get("industrial_parks"))
    assert all(r["hatch"]["color"].startswith("rgba(142,68,173") for r in parks["rules"])
    everything = json.loads(json.dumps(compile_all(registry, styles)))
    assert set(everything) == set(registry.ids)
    assert all(len(d["rules"]) == len(styles.for_layer(registry.get(k)).classes) for k, d in everything.items())
