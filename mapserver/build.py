"""``onemap mapserver build``: regenerate every OGC service configuration from the registry and styles.

Each builder takes the validated configuration and returns the files it wrote, by name. ``build_all`` runs them
in order; a builder that fails stops the build (the CLI prints its one-line error).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.config import PROJECT_ROOT, public_url, resolve_path
from core.db import database_url
from layers.registry import Registry, default_registry
from mapserver.extent import CHINA_EXTENT, city_extent
from mapserver.mapfile import build_mapfile, default_out_dir
from mapserver.mapproxy_config import write_mapproxy
from mapserver.pygeoapi_config import write_pygeoapi
from styles import Styles, default_styles
from styles.sld import compile_sld

log = logging.getLogger(__name__)

Builder = Callable[[Mapping[str, Any]], dict[str, Path]]


def write_slds(registry: Registry, styles: Styles, out_dir: Path) -> Path:
    """Compile the SLD 1.1 of every layer into ``out_dir/sld/<layer>.sld`` (served at /ows/styles/)."""
    target = out_dir / "sld"
    target.mkdir(parents=True, exist_ok=True)
    for layer in registry:
        tmp = target / f".{layer.id}.sld.tmp"
        tmp.write_bytes(compile_sld(styles.for_layer(layer), layer))
        tmp.replace(target / f"{layer.id}.sld")
    return target


def build_mapserver(config: Mapping[str, Any]) -> dict[str, Path]:
    """The MapServer mapfile, its config file and the SLDs under ``var/generated/mapserver``."""
    registry = default_registry()
    styles = default_styles()
    out = default_out_dir(config)
    mapfile = build_mapfile(registry, styles, config, out, extent=city_extent(config, registry) or CHINA_EXTENT)
    return {"mapfile": mapfile, "mapserver_conf": mapfile.parent / "mapserver.conf",
            "sld_dir": write_slds(registry, styles, mapfile.parent)}


def generated_dir(config: Mapping[str, Any]) -> Path:
    return resolve_path(config["paths"]["var"]) / "generated"


def build_pygeoapi(config: Mapping[str, Any]) -> dict[str, Path]:
    """pygeoapi's config and OpenAPI document under ``var/generated/pygeoapi``."""
    return write_pygeoapi(dict(config), generated_dir(config) / "pygeoapi")


def build_mapproxy(config: Mapping[str, Any]) -> dict[str, Path]:
    """MapProxy's config; its sources run ``mapserv`` on the mapfile written by ``build_mapserver``."""
    return write_mapproxy(dict(config), default_out_dir(config) / "onemap.map", generated_dir(config) / "mapproxy")


# In the order they must run: MapProxy renders with the mapfile, so it comes after "mapserver".
BUILDERS: list[tuple[str, Builder]] = [
    ("mapserver", build_mapserver),
    ("pygeoapi", build_pygeoapi),
    ("mapproxy", build_mapproxy),
]

# Everything the generated files depend on besides the configuration itself: the code of the generators and the
# registry and styles actually in use (a deployment's own directories when ONEMAP_LAYERS_DIR/_STYLES_DIR are set).
_CODE = [("styles", "*.py"), ("mapserver", "*.py"), ("mapserver/templates", "*.html"),
         ("mapserver/ogc_schemas", "**/*.yaml"), ("mapserver/ogc_schemas", "**/*.json"),  # in the OpenAPI doc
         ("core", "scope.py")]  # the data-scope predicate written into every non-public layer's DATA


def inputs_digest(config: Mapping[str, Any]) -> str:
    """A digest of the inputs of every builder: regenerate when it changes."""
    from core.manifest import collect
    from layers.registry import layers_dir
    from styles import styles_dir

    h = hashlib.sha256()
    # the city's extent is data: a rebuilt or moved city must regenerate the boxes every service advertises
    for part in (database_url(dict(config)), public_url(dict(config)), str(config["paths"]["var"]),
                 str(config.get("tiles", {})), repr(city_extent(config, default_registry())),
                 repr(sorted(collect(dict(config), "processes")))):  # the modules' OGC processes
        h.update(part.encode() + b"\0")
    sources = [(PROJECT_ROOT / folder, pattern) for folder, pattern in _CODE]
    sources += [(layers_dir(), "*.yaml"), (styles_dir(), "*.yaml")]
    for folder, pattern in sources:
        for path in sorted(folder.glob(pattern)):
            h.update(path.name.encode() + path.read_bytes())
    raster = resolve_path(config["paths"]["var"]) / "data" / "population.tif"
    h.update(str(raster.stat().st_mtime_ns if raster.exists() else 0).encode())
    return h.hexdigest()


def ensure_built(config: Mapping[str, Any], force: bool = False) -> dict[str, Path]:
    """Build every configuration unless (``force`` aside) the files on disk were built from the same inputs."""
    stamp = generated_dir(config) / "inputs.sha256"
    digest = inputs_digest(config)
    if not force and stamp.exists() and stamp.read_text() == digest:
        return expected_outputs(config)
    written = build_all(config)
    stamp.write_text(digest)
    return written


def expected_outputs(config: Mapping[str, Any]) -> dict[str, Path]:
    gen = generated_dir(config)
    ms = default_out_dir(config)
    return {"mapserver.mapfile": ms / "onemap.map", "mapserver.mapserver_conf": ms / "mapserver.conf",
            "mapserver.sld_dir": ms / "sld", "pygeoapi.pygeoapi": gen / "pygeoapi" / "pygeoapi.yaml",
            "pygeoapi.openapi": gen / "pygeoapi" / "openapi.yaml", "mapproxy.mapproxy": gen / "mapproxy" / "mapproxy.yaml"}


def build_all(config: Mapping[str, Any]) -> dict[str, Path]:
    """Run every builder; returns ``{"<builder>.<name>": path}`` for everything written."""
    resolve_path(config["paths"]["var"]).mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, builder in BUILDERS:
        for key, path in builder(config).items():
            written[f"{name}.{key}"] = path
        log.info("generated %s configuration", name)
    return written
