"""A click group whose commands in other modules are imported only when they run.

Why: every ``rig`` invocation imports ``rig.cli.main``; importing the modules of every command
(pyserial for ``rig actuator``, subprocess and shutil for ``rig bisect``, …) cost ~10 ms of each
start-up, which ``rig parse`` of a small file would pay for nothing. Click's contract for this
is ``list_commands``/``get_command`` (as its documentation on lazy loading describes): help still
lists every command, and a command's module is imported when the command is resolved.
"""
from __future__ import annotations

from importlib import import_module

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """``lazy``: command name -> ``"module:attribute"`` of a click command."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = self.lazy.get(cmd_name)
        if spec is None or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        module, _, attr = spec.partition(":")
        command = getattr(import_module(module), attr)
        self.add_command(command, cmd_name)
        return command
