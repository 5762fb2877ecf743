from core.manifest import Manifest

MANIFEST = Manifest(
    name="case_toy",
    label={"zh-CN": "测试案件", "en": "Test cases"},
    case_types=("tests.case_toy:cases/toy_permit.yaml",),
    requires=("cases",),
)
