"""Supervision business modules (enterprises and hazard sources, cases, hidden dangers, permits, enforcement, ...).

Each module is a sub-package with one manifest (``<module>/manifest.py``, a :class:`core.manifest.Manifest`
named under the ``onemap.modules`` entry points in ``setup.cfg``); ``hazard_sources`` is the template to copy.
This package itself holds no code.
"""
