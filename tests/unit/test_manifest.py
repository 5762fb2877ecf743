"""core/manifest.py: the active manifests (installed, plus ``modules.extra``, minus ``modules.disabled``), in a fixed
order, and every way a set of manifests can be wrong reported as one clear problem each."""

from __future__ import annotations

import pytest

from core.manifest import (
    Manifest,
    ManifestError,
    check,
    collect,
    console_script_path,
    console_script_url,
    installed_references,
    manifests,
)
from tests.toy_module.manifest import MANIFEST as TOY

TOY_REF = "tests.toy_module.manifest:MANIFEST"


def _config(extra: tuple[str, ...] = (), disabled: tuple[str, ...] = ()) -> dict:
    return {"modules": {"extra": list(extra), "disabled": list(disabled)}}


def test_the_installed_manifests_are_valid_and_in_entry_point_order() -> None:
    installed = installed_references()
    assert {"access", "emergency"} <= set(installed)
    assert [m.name for m in manifests(_config())] == sorted(installed)  # entry-point names are the manifest names
    assert check(manifests(_config())) == []


def test_extra_manifests_come_after_the_installed_ones_and_collect_keeps_that_order() -> None:
    active = manifests(_config(extra=(TOY_REF,)))
    assert [m.name for m in active] == [*sorted(installed_references()), "toy"]
    blueprints = collect(_config(extra=(TOY_REF,)), "blueprints")
    assert blueprints == [ref for m in active for ref in m.blueprints]
    assert blueprints[-1] == "tests.toy_module.views:bp"
    processes = collect(_config(extra=(TOY_REF,)), "processes")  # mappings flatten to (key, value) pairs
    assert processes[-1] == ("toy-echo", "tests.toy_module.process.ToyEchoProcessor")
    assert collect(_config(extra=(TOY_REF,)), "policy")[-1] == "tests.toy_module:policy.yaml"  # optional parts
    assert "toy" not in [m.name for m in manifests(_config())]


def test_disabled_modules_are_left_out() -> None:
    names = [m.name for m in manifests(_config(extra=(TOY_REF,), disabled=("emergency", "toy")))]
    assert "emergency" not in names and "toy" not in names and "access" in names


@pytest.mark.parametrize(("reference", "expected"), [
    ("tests.no_such_module:MANIFEST", "tests.no_such_module:MANIFEST: cannot be loaded"),
    ("tests.toy_module.manifest:NO_SUCH", "tests.toy_module.manifest:NO_SUCH: cannot be loaded"),
    ("tests.toy_module.views:SECTION", "tests.toy_module.views:SECTION: is not a core.manifest.Manifest"),
])
def test_a_reference_that_does_not_give_a_manifest_is_a_problem(reference: str, expected: str) -> None:
    with pytest.raises(ManifestError) as caught:
        manifests(_config(extra=(reference,)))
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)
    assert expected in str(caught.value)


def test_the_same_module_twice_is_a_problem() -> None:
    with pytest.raises(ManifestError) as caught:
        manifests(_config(extra=(TOY_REF, TOY_REF)))
    problems = caught.value.problems
    assert "module 'toy' is declared twice" in problems
    # and so is everything it offers, each named
    assert "process 'toy-echo' of module 'toy' is already offered by 'toy'" in problems
    assert "blueprint 'tests.toy_module.views:bp' of module 'toy' is already offered by 'toy'" in problems
    assert "CLI group 'tests.toy_module.views:toy_cli' of module 'toy' is already offered by 'toy'" in problems


def test_a_process_blueprint_or_cli_group_offered_twice_is_a_problem() -> None:
    a = Manifest(name="a", blueprints=("x.views:bp",), processes={"p": "x.P"}, cli_groups=("x.cli:g",))
    b = Manifest(name="b", blueprints=("x.views:bp",), processes={"p": "y.P"}, cli_groups=("x.cli:g",))
    assert check([a, b]) == [
        "process 'p' of module 'b' is already offered by 'a'",
        "blueprint 'x.views:bp' of module 'b' is already offered by 'a'",
        "CLI group 'x.cli:g' of module 'b' is already offered by 'a'",
    ]
    assert check([a, Manifest(name="c", processes={"q": "x.P"})]) == []


def test_an_unmet_requirement_is_a_problem() -> None:
    assert check([Manifest(name="a", requires=("b", "c")), Manifest(name="b")]) == [
        "module 'a' requires module 'c', which is not active"]
    with pytest.raises(ManifestError, match="module 'toy' requires module 'access', which is not active"):
        manifests(_config(extra=(TOY_REF,), disabled=("access",)))


@pytest.mark.parametrize(("script", "problem"), [
    ("tests.toy_module:console.js", "is not 'package:static/<file>.js'"),
    ("tests.toy_module:static/console.css", "is not 'package:static/<file>.js'"),
    ("tests.toy_module:static/../views.py", "is not 'package:static/<file>.js'"),
    ("tests.toy_module:static/missing.js", "console script 'tests.toy_module:static/missing.js' does not exist"),
    ("tests.no_such_package:static/console.js", "No module named 'tests.no_such_package'"),
])
def test_a_console_script_must_be_a_file_of_the_package_static_folder(script: str, problem: str) -> None:
    problems = check([Manifest(name="a", console_scripts=(script,))])
    assert len(problems) == 1 and problems[0].startswith("module 'a': ") and problem in problems[0], problems


def test_console_script_urls() -> None:
    assert console_script_path(TOY.console_scripts[0]) == ("tests.toy_module", "console.js")
    assert console_script_url("emergency:static/console.js") == "static/modules/emergency/console.js"
    assert check([TOY]) == ["module 'toy' requires module 'access', which is not active"]
