"""The layer registry: the packaged layers are valid, and a broken layer file names the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layers.registry import DEFS_DIR, RegistryError, load_registry

REQUIRED_LAYERS = {
    "districts", "subdistricts", "grid_cells", "roads", "water", "industrial_parks", "enterprises",
    "hazard_sources", "sensors", "rescue_teams", "depots", "shelters", "experts", "hospitals", "fire_stations",
    "sensitive_targets", "incidents",
}


def test_packaged_registry_has_every_required_layer() -> None:
    registry = load_registry()
    assert REQUIRED_LAYERS <= set(registry.ids)
    for layer in registry:
        assert layer.title_zh and layer.title_en
        assert layer.srid == 4490
        assert all(f.label for f in layer.fields), layer.id


def test_enterprise_layer_declares_searchable_and_enum_fields() -> None:
    enterprises = load_registry().get("enterprises")
    assert set(enterprises.searchable) == {"name", "uscc", "address"}
    assert enterprises.field("risk_colour").enum == ("red", "orange", "yellow", "blue")
    assert enterprises.field("uscc").unique and enterprises.field("uscc").length == 18


@pytest.fixture
def defs(tmp_path: Path) -> Path:
    target = tmp_path / "defs"
    shutil.copytree(DEFS_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not found in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        ("enterprises.yaml", "type: integer, label: 从业人员数", "type: int, label: 从业人员数",
         "enterprises.yaml: fields[4](name=employees).type: 'int' is not one of"),
        ("shelters.yaml", "access: public", "access: secret", "shelters.yaml: access: 'secret' is not one of"),
        ("roads.yaml", "title: {zh-CN: 道路, en: Roads}", "title: {en: Roads}",
         "roads.yaml: title: 'zh-CN' is a required property"),
        ("sensors.yaml", "references: hazard_sources.code", "references: hazard_sources.nope",
         "sensors.yaml: fields[1](name=hazard_source_code).references: layer 'hazard_sources' has no field 'nope'"),
        ("depots.yaml", "searchable: [name]", "searchable: [name, colour]",
         "depots.yaml: searchable: 'colour' is not a field of this layer"),
        ("incidents.yaml", "temporal_field: reported_at", "temporal_field: title",
         "incidents.yaml: temporal_field: 'title' must be a date or datetime field"),
        ("enterprises.yaml", "tiles: {mvt: [uscc, name,", "tiles: {mvt: [uscc, title,",
         "enterprises.yaml: tiles.mvt: 'title' is not a field of this layer"),
        ("water.yaml", "id: water", "id: lakes", "water.yaml: id: 'lakes' must match the file name 'water'"),
        ("hospitals.yaml", "zoom: {min: 8, max: 20}", "zoom: {min: 18, max: 9}",
         "hospitals.yaml: zoom: min 18 is greater than max 9"),
        # labels: every enum value has words, and only values the field can hold have them
        ("water.yaml", "lake: [湖泊, Lake], ", "",
         "water.yaml: fields[1](name=kind).labels: 'lake' has no label"),
        ("water.yaml", "lake: [湖泊, Lake]", "lake: [湖泊, Lake], sea: [海, Sea]",
         "water.yaml: fields[1](name=kind).labels: 'sea' is not one of enum"),
        ("hazard_sources.yaml", "4: [四级, \"Grade 4\"]", "5: [五级, \"Grade 5\"]",
         "hazard_sources.yaml: fields[3](name=grade).labels: 5 is not a value of this field"),
        ("water.yaml", "lake: [湖泊, Lake]", "lake: [湖泊]", "water.yaml: fields[1](name=kind).labels.lake: ['湖泊']"),
        ("depots.yaml", "dispatch: {kind: depot,", "dispatch: {kind: shelter,",
         "shelters.yaml: dispatch.kind: 'shelter' is already declared in depots.yaml"),
        ("depots.yaml", "dispatch: {kind: depot, order: 2,", "dispatch: {kind: depot,",
         "depots.yaml: dispatch: 'order' is a required property"),
        ("roads.yaml", "basemap: 40", "basemap: top", "roads.yaml: basemap: 'top' is not of type 'integer'"),
        ("incidents.yaml", "console: {visible: true,", "console: {visible: true, blink: true,",
         "incidents.yaml: console: Additional properties are not allowed ('blink' was unexpected)"),
    ],
)
def test_broken_layer_file_names_file_and_field(defs: Path, file: str, old: str, new: str, expected: str) -> None:
    _edit(defs / file, old, new)
    with pytest.raises(RegistryError) as info:
        load_registry(defs)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_yaml_syntax_error_names_file_and_line(defs: Path) -> None:
    (defs / "districts.yaml").write_text("id: districts\ntitle: {zh-CN: 区县, en: [\n", encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry(defs)
    assert any(p.startswith("districts.yaml: line") and "YAML syntax error" in p for p in info.value.problems)


def test_every_problem_is_reported_at_once(defs: Path) -> None:
    _edit(defs / "shelters.yaml", "access: public", "access: secret")
    _edit(defs / "depots.yaml", "searchable: [name]", "searchable: [colour]")
    with pytest.raises(RegistryError) as info:
        load_registry(defs)
    files = {p.split(":")[0] for p in info.value.problems}
    assert {"shelters.yaml", "depots.yaml"} <= files


def test_reference_to_unknown_table_is_reported(defs: Path) -> None:
    (defs / "districts.yaml").unlink()
    with pytest.raises(RegistryError) as info:
        load_registry(defs)
    assert any("no layer has table 'districts'" in p for p in info.value.problems)


def test_layer_files_say_how_the_layer_is_used() -> None:
    """Basemap membership, console use and dispatchability are read from the layer files, in the files' order."""
    registry = load_registry()
    assert registry.basemap_layers == ["districts", "water", "industrial_parks", "roads"]
    assert {k: layer.id for k, layer in registry.dispatchable.items()} == {
        "rescue_team": "rescue_teams", "depot": "depots", "shelter": "shelters", "expert": "experts",
        "hospital": "hospitals", "fire_station": "fire_stations"}
    assert {x.id for x in registry if x.console.visible} == {"enterprises", "hazard_sources", "incidents",
                                                             "supervised_listings"}
    assert {x.id for x in registry if x.console.live} == {"incidents", "rescue_teams", "shelters", "sensors",
                                                          "hidden_dangers", "supervised_listings"}
    labels = registry.enum_labels("en")
    assert labels["incidents.kind"]["fire"] == "Fire" and registry.enum_labels("zh-CN")["hazard_sources.grade"]["1"]
    # every enum field of every layer has words in both languages
    for layer in registry:
        for f in layer.fields:
            if f.enum:
                assert set(f.labels or {}) == set(f.enum), f"{layer.id}.{f.name}"


def test_basemap_order_follows_the_numbers(defs: Path) -> None:
    _edit(defs / "roads.yaml", "basemap: 40", "basemap: 5")
    assert load_registry(defs).basemap_layers == ["roads", "districts", "water", "industrial_parks"]


def test_a_field_without_labels_still_loads(defs: Path) -> None:
    """A deployment's own layer files written before labels existed keep loading (their codes show as they are)."""
    _edit(defs / "water.yaml", ",\n     labels: {river: [河流, River], lake: [湖泊, Lake], reservoir: [水库, Reservoir]}}", "}")
    assert load_registry(defs).get("water").field("kind").labels is None
