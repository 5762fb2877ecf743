"""行政审批: permit case types on the case engine, the certificates they issue, and their public verification."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="permits",
    label={"zh-CN": "行政审批", "en": "Permits"},
    blueprints=("supervision.permits.views:bp", "supervision.permits.views:verify_bp"),
    model_modules=("supervision.permits.models",),
    openapi="supervision.permits:openapi.yaml",
    policy="supervision.permits:policy.yaml",
    case_types=("supervision.permits:cases/hazchem_business_licence.yaml",
                "supervision.permits:cases/hazchem_use_licence.yaml"),
    config_checks=("supervision.permits.checks:check_kinds",),
    case_effects={"issue_permit_certificate": "supervision.permits.certificates:issue_certificate"},
    requires=("access", "cases"),
)
