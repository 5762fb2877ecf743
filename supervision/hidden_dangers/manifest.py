"""隐患排查治理 and 挂牌督办: case types, statistics and map layers of hidden dangers."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="hidden_dangers",
    label={"zh-CN": "隐患排查治理", "en": "Hidden dangers"},
    blueprints=("supervision.hidden_dangers.views:bp",),
    console_scripts=("supervision.hidden_dangers:static/stats.js",),  # statistics panel and grid heat layer
    openapi="supervision.hidden_dangers:openapi.yaml",
    policy="supervision.hidden_dangers:policy.yaml",
    case_types=("supervision.hidden_dangers:cases/hidden_danger.yaml",
                "supervision.hidden_dangers:cases/supervised_listing.yaml"),
    demo_loader="supervision.hidden_dangers.demo:load_demo",
    requires=("access", "cases"),
)
