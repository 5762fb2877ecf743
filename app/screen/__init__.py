"""The command-centre large screen (``/screen``): full-screen map, KPI panels and a live event ticker."""
