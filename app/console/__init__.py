"""The one-map console (``/``): layers, search, feature panels, tools, statistics, and live events (SSE)."""
