"""The ``complaints:`` configuration section (declared by supervision/complaints/manifest.py).

The photos of a complaint are stored as the case engine's attachments (``cases.files_dir``, ``cases.max_file_bytes``,
its sniffed types); the public may send only the image types among them, at most ``max_photos``, each at most
``max_photo_bytes`` (the smaller of this and the engine's limit), and the whole request at most
``max_request_bytes``. How often one address may file or ask is the ``auth.rate_limits`` rules
``complaint_filing`` and ``complaint_queries`` (shared by every worker, 429 with Retry-After).
"""

from __future__ import annotations

from core.config import ConfigSection, section_object

SCHEMA = section_object({
    "max_photos": {"type": "integer", "minimum": 0, "maximum": 9},
    "max_photo_bytes": {"type": "integer", "minimum": 1024, "maximum": 50_000_000},
    "max_request_bytes": {"type": "integer", "minimum": 4096, "maximum": 200_000_000},
})

SECTION = ConfigSection("complaints", SCHEMA, defaults="supervision.complaints:defaults.yaml")
