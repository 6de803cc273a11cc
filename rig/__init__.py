"""rig: measure what sleep, dark wake and full wake do to a macOS network extension's tunnel.

The data path (DESIGN.md): lab -> drivers -> cycle runner -> raw logs -> parsers -> events ->
timeline -> scores -> reports. Every stage after raw logs is a pure function of the run folder.
"""
__version__ = "0.1.0"
