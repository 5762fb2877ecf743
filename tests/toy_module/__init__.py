"""A toy business module that plugs into OneMap through its manifest alone (tests/integration/test_module_plugin.py).

It touches no central list: the application, console, pygeoapi, CLI, policy and configuration find each part
through ``MANIFEST`` (manifest.py), named by ``modules.extra`` in the configuration.
"""
