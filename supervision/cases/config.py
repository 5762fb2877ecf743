"""The ``cases:`` configuration section (declared by supervision/cases/manifest.py)."""

from __future__ import annotations

from core.config import ConfigSection, section_object

SCHEMA = section_object({
    # the issuing unit's 代字 in document numbers (示应急隐改〔2026〕0012号) unless a document type says otherwise
    "issuing_unit": {"type": "string", "minLength": 1, "maxLength": 20},
    # attachments: where the content-addressed files live, the largest accepted, and the accepted types
    "files_dir": {"type": "string", "minLength": 1},
    "max_file_bytes": {"type": "integer", "minimum": 1024, "maximum": 200_000_000},
    "media_types": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[a-z]+/[a-z0-9.+-]+$"}},
    # how often the timer worker looks for due timers (seconds)
    "worker_interval_s": {"type": "number", "minimum": 0.1, "maximum": 3600},
    # days before a due date at which a case counts as "due soon" when its clock declares no warning point
    "due_soon_days": {"type": "integer", "minimum": 0, "maximum": 60},
})

SECTION = ConfigSection("cases", SCHEMA, defaults="supervision.cases:defaults.yaml",
                        env={"ONEMAP_CASE_FILES_DIR": (("files_dir",), str),
                             "ONEMAP_CASE_WORKER_INTERVAL_S": (("worker_interval_s",), float)})
