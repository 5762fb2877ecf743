"""Emergency business modules."""
