"""A test-only module with a permit-like case type (pauses, an extension, countersigning by two roles)."""
