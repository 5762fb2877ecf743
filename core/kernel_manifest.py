"""The kernel's own tables and commands, plugged in through a manifest like any module's.

Working days (``workdays``) and document numbers (``document_number_counters``) are services every case-bearing
module needs — hidden-danger rectification now; permits, filings, enforcement, emergency orders later — and business
modules may not import one another (tests/unit/test_architecture.py). The kernel is the one package they all reach,
so the functions live in ``core`` and the tables they query are declared here, next to them, rather than by a
business module that the kernel would then depend on.
"""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="kernel",
    label={"zh-CN": "基础服务(工作日与文号)", "en": "Kernel services (working days, document numbers)"},
    cli_groups=("core.calendar_cli:calendar_group", "core.backup_cli:backup_command", "core.backup_cli:restore_command",
                "core.backup_cli:replica_group"),
    model_modules=("core.workdays_store", "core.docnumbers"),
    demo_loader="core.calendar_cli:load_demo",
)
