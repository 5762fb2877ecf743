"""Major hazard sources (重大危险源): GB 18218-2018 identification and grading of the stored units.

The anatomy every business module follows:

* ``manifest.py`` — the one :class:`core.manifest.Manifest` (blueprint, panel sections, process, policy fragment);
* ``gb18218/`` — the pure library (tables and formulas of the standard), no Flask, no database;
* ``service.py`` — the logic over the database, given a connection and the caller's row access, no Flask;
* ``schemas.py`` — request inputs checked into values (precise 400s);
* ``views.py`` — thin Flask views: parse, call the service, answer JSON;
* ``console.py`` — the sections this module adds to the console's feature panel;
* ``processes.py`` — the OGC API process it offers through pygeoapi;
* ``policy.yaml`` — its route family and the rules that open it (merged into the one policy).
"""
