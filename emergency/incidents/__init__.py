"""Incidents: intake, follow-up reports, status, history."""
