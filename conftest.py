"""Loads the rig's pytest plugin (fixtures/) for the suites and the tests; the rig's own tests of
that plugin run pytest inside pytest (pytester)."""
pytest_plugins = ["fixtures.plugin", "pytester"]
