"""举报投诉: the public complaint page and API, the complaint case type and its staff view."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="complaints",
    label={"zh-CN": "举报投诉", "en": "Complaints"},
    blueprints=("supervision.complaints.views:public_bp", "supervision.complaints.views:bp",
                "supervision.complaints.views:pages_bp"),
    model_modules=("supervision.complaints.models",),
    config="supervision.complaints.config:SECTION",
    openapi="supervision.complaints:openapi.yaml",
    policy="supervision.complaints:policy.yaml",
    case_types=("supervision.complaints:cases/complaint.yaml",),
    case_effects={"assign_complaint_district": "supervision.complaints.handling:assign_district"},
    requires=("access", "cases"),
)
