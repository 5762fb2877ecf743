"""Configuration: defaults, file, environment overrides, staged validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, load_config


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
        ({"PORT": "70000"}, "environment PORT: server.port: 70000 is greater than the maximum of 65535"),
        ({"DATABASE_URL": "mysql://x@y/z"}, "environment DATABASE_URL: database.url: 'mysql://x@y/z' does not match"),
        ({"ONEMAP_LOG_LEVEL": "LOUD"}, "environment ONEMAP_LOG_LEVEL: logging.level: 'LOUD' is not one of"),
        ({"ONEMAP_SNAP_LIMIT_M": "0"}, "environment ONEMAP_SNAP_LIMIT_M: emergency.snap_limit_m: 0.0 is less than"),
        ({"ONEMAP_SNAP_LIMIT_M": "nan"}, "environment ONEMAP_SNAP_LIMIT_M: emergency.snap_limit_m: not a finite"),
        ({"ONEMAP_SNAP_LIMIT_M": "far"}, "environment ONEMAP_SNAP_LIMIT_M='far': expected float"),
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
    assert info.value.problems == [f"{file}: server: Additional properties are not allowed ('prot' was unexpected)"]
    file.write_text("server: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert "YAML syntax error" in info.value.problems[0] and "line" in info.value.problems[0]


# -- the emergency section (dispatch snap limit) -------------------------------------------------------------------
def test_snap_limit_defaults_and_overrides(tmp_path: Path) -> None:
    assert load_config(environ={})["emergency"] == {"snap_limit_m": 2000, "max_snap_limit_m": 20000}
    file = tmp_path / "onemap.yaml"
    file.write_text("emergency: {snap_limit_m: 500, max_snap_limit_m: 5000}\n", encoding="utf-8")
    conf = load_config(environ={"ONEMAP_CONFIG": str(file)})["emergency"]
    assert conf == {"snap_limit_m": 500, "max_snap_limit_m": 5000}
    conf = load_config(environ={"ONEMAP_CONFIG": str(file), "ONEMAP_SNAP_LIMIT_M": "750.5"})["emergency"]
    assert conf == {"snap_limit_m": 750.5, "max_snap_limit_m": 5000}


@pytest.mark.parametrize(("text", "expected"), [
    ("emergency: {snap_limit_m: 30000}", "emergency.snap_limit_m: 30000 is greater than "
                                          "emergency.max_snap_limit_m (20000)"),
    ("emergency: {snap_limit_m: 2000, max_snap_limit_m: 1000}", "emergency.snap_limit_m: 2000 is greater than "
                                                                "emergency.max_snap_limit_m (1000)"),
    ("emergency: {snap_limit_m: '2 km'}", "emergency.snap_limit_m: '2 km' is not of type 'number'"),
    ("emergency: {max_snap_limit_m: 100000}", "emergency.max_snap_limit_m: 100000 is greater than the maximum"),
    ("emergency: {max_snap_limit_m: .nan}", "emergency.max_snap_limit_m: not a finite number"),
    ("emergency: {snap_limit: 10}", "emergency: Additional properties are not allowed ('snap_limit' was"),
])
def test_bad_snap_limits_name_the_file_and_the_field(tmp_path: Path, text: str, expected: str) -> None:
    file = tmp_path / "deploy.yaml"
    file.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert [p for p in info.value.problems if p.startswith(f"{file}: {expected}")], info.value.problems


def test_config_check_command_reports_a_bad_snap_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    file = tmp_path / "deploy.yaml"
    file.write_text("emergency:\n  snap_limit_m: 0\n", encoding="utf-8")
    monkeypatch.setenv("ONEMAP_CONFIG", str(file))
    with pytest.raises(SystemExit) as exit_info:
        main(["config", "check"])
    assert exit_info.value.code == 2
    assert f"{file}: emergency.snap_limit_m: 0 is less than the minimum of 1" in capsys.readouterr().err


# -- the monitoring section (MQTT broker) --------------------------------------------------------------------------
def test_an_external_broker_needs_the_ingest_account(tmp_path: Path) -> None:
    file = tmp_path / "onemap.yaml"
    file.write_text("monitoring: {broker: {private: false, host: mqtt.example, username: ingest}}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert info.value.problems == ["monitoring.broker.password: an external broker (private: false) needs the ingest "
                                   "worker's password"]
    file.write_text("monitoring: {broker: {private: false, username: ingest, password: s3cret}}\n", encoding="utf-8")
    assert load_config(environ={"ONEMAP_CONFIG": str(file)})["monitoring"]["broker"]["username"] == "ingest"
    file.write_text("monitoring: {ingest: false, broker: {private: false}}\n", encoding="utf-8")  # no ingest here
    assert load_config(environ={"ONEMAP_CONFIG": str(file)})["monitoring"]["ingest"] is False


def test_the_simulator_is_off_unless_asked_and_only_with_the_private_broker(tmp_path: Path) -> None:
    assert load_config(environ={})["monitoring"]["simulate"]["enabled"] is False            # a deployment
    assert load_config(environ={"ONEMAP_MQTT_SIMULATE": "1"})["monitoring"]["simulate"]["enabled"] is True  # make run
    file = tmp_path / "onemap.yaml"
    file.write_text("monitoring: {simulate: {enabled: true}, broker: {private: false, username: i, password: p}}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(environ={"ONEMAP_CONFIG": str(file)})
    assert [p.split(":")[0] for p in info.value.problems] == ["monitoring.simulate.enabled"]
