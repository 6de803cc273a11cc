"""``python -m rig.cli``: the same as the ``rig`` command."""
from rig.cli.main import main

main()
