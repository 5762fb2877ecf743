"""Generators and WSGI mounting for the OGC services: MapServer (WMS/WFS/WCS), pygeoapi and MapProxy."""
