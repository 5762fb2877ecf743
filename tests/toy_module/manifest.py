"""The toy module's one declaration: every part it plugs in, as references resolved when needed."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="toy",
    label={"zh-CN": "示例模块", "en": "Toy module"},
    blueprints=("tests.toy_module.views:bp",),
    panel_sections=("tests.toy_module.views:register_sections",),
    console_scripts=("tests.toy_module:static/console.js",),
    cli_groups=("tests.toy_module.views:toy_cli",),
    realtime_topics=("toy.pinged",),
    processes={"toy-echo": "tests.toy_module.process.ToyEchoProcessor"},
    config="tests.toy_module.views:SECTION",
    policy="tests.toy_module:policy.yaml",
    openapi="tests.toy_module:openapi.yaml",
    requires=("access",),
)
