"""Authentication, authorisation (one policy for every request), data scope and audit."""
