"""Supervision business modules."""
