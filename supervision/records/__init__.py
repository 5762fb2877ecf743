"""Enterprise and hazard-source records: create, edit, deactivate, history, import, and enterprise change requests."""
