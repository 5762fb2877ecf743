"""Configuration: defaults, file, environment overrides, staged validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_config


def test_defaults_are_valid() -> None:
    config = load_config(environ={})
    assert config["server"]["port"] == 8000
    assert config["database"]["url"] is None


def test_environment_overrides_file_and_defaults(tmp_path: Path) -> None:
    file = tmp_path / "onemap.yaml"
    file.write_text("server: {port: 9000, workers: 3}\n", encoding="utf-8")
    config = load_config(environ={"ONEMAP_CONFIG": str(file), "PORT": "8123",
                                  "DATABASE_URL": "postgresql://u:p@db.example:5432/onemap"})
    assert config["server"]["port"] == 8123
    assert config["server"]["workers"] == 3
    assert config["database"]["url"].startswith("postgresql://")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"PORT": "eighty"}, "environment PORT='eighty': expected int"),
        ({"PORT": "70000"}, "server.port: 70000 is greater than the maximum of 65535"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "database.url: 'mysql://x@y/z' does not match"),
        ({"ONEMAP_LOG_LEVEL": "LOUD"}, "logging.level: 'LOUD' is not one of"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ)
    assert any(p.startswith(expected) for p in info.value.problems), info.value.problems


def test_unknown_key_and_bad_yaml(tmp_path: Path) -> None:
    file = tmp_path / "onemap.yaml"
    file.write_text("server: {prot: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert any("'prot' was unexpected" in p for p in info.value.problems)
    file.write_text("server: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert "YAML syntax error" in info.value.problems[0] and "line" in info.value.problems[0]
