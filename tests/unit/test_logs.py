"""The log carries faults, not answers: pygeoapi's ERROR records for an empty tile (204) or an unknown id (404) are
demoted to DEBUG; its real errors stay errors."""

from __future__ import annotations

import logging

import pytest

from core.logs import configure_logging


@pytest.fixture
def api_log(caplog: pytest.LogCaptureFixture):  # noqa: ANN201
    configure_logging("INFO", "json")
    root = logging.getLogger()
    root.addHandler(caplog.handler)   # configure_logging replaced the root's handlers
    yield logging.getLogger("pygeoapi.api")
    root.removeHandler(caplog.handler)


@pytest.mark.parametrize("message", ["identifier not found", "HTTP 204 detected, suppressing content"])
def test_an_empty_tile_or_unknown_id_is_not_logged_as_an_error(api_log: logging.Logger,
                                                                caplog: pytest.LogCaptureFixture, message: str) -> None:
    api_log.error(message)
    assert [r for r in caplog.records if r.getMessage() == message] == []
    api_log.setLevel(logging.DEBUG)
    try:
        api_log.error(message)
        assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", message)]
    finally:
        api_log.setLevel(logging.NOTSET)


class ProviderItemNotFoundError(Exception):
    """Named as pygeoapi's (the filter goes by the name: the kernel does not import pygeoapi)."""


def test_a_missing_feature_with_its_not_found_traceback_is_not_an_error(api_log: logging.Logger,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ProviderItemNotFoundError("No such item: id=999999999.")
    except ProviderItemNotFoundError:
        api_log.error("identifier not found", exc_info=True)
    assert caplog.records == []


def test_other_pygeoapi_errors_stay_errors(api_log: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    api_log.error("Error connecting to backend")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        api_log.error("identifier not found", exc_info=True)   # with a traceback it is a fault
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Error connecting to backend"), ("ERROR", "identifier not found")]


def test_configuring_twice_adds_one_filter() -> None:
    configure_logging("INFO", "json")
    configure_logging("WARNING", "text")
    assert len(logging.getLogger("pygeoapi.api").filters) == 1
