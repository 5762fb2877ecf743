"""举报投诉: complaints from the public, filed anonymously on a public page and handled as cases on the engine."""
