"""Loads the rig's pytest plugin (fixtures/) for the suites and the tests."""
pytest_plugins = ["fixtures.plugin"]
