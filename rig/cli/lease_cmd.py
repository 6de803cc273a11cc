"""``rig lease list|release``: who holds which Mac, in the lease folder or the labgrid coordinator.

::

    rig lease list --lab lab.toml                       # [lab] coordinator, or the lease folder
    rig lease list --lab lab.toml --coordinator 127.0.0.1:20408
    rig lease release --lab lab.toml mbp-01             # our own place (host/user)
    rig lease release --lab lab.toml mbp-01 --force     # another's: journaled

With a coordinator, a place is held by a controller's ``host/user``; a controller that died holding
one is seen here. Releasing another's place takes ``--force`` and is written to the lab's
``<reports>/lease-journal.jsonl`` (who released whose place, when), because taking a Mac from a
running night is a decision someone must be able to find afterwards.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

lab_option = click.option("--lab", "lab_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
coordinator_option = click.option("--coordinator", default=None, metavar="HOST:PORT",
                                  help="labgrid coordinator (default: the lab's [lab] coordinator)")


@click.group()
def lease() -> None:
    """Leases on Macs: which run (or controller, with a coordinator) holds which Mac."""


def _lab(lab_path, coordinator):
    from dataclasses import replace

    from rig.lab.inventory import LabError, load_lab

    try:
        lab = load_lab(lab_path)
    except LabError as e:
        raise click.ClickException(str(e))
    return replace(lab, coordinator=coordinator) if coordinator else lab


def _coord(lab):
    from rig.lab.coordinator import CoordinatorError, CoordinatorLeases

    try:
        return CoordinatorLeases(lab.coordinator)
    except CoordinatorError as e:
        raise click.ClickException(str(e))


def _journal(lab, entry: dict) -> None:
    path = Path(lab.reports) / "lease-journal.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({"t": time.time(), **entry}) + "\n")


@lease.command("list")
@lab_option
@coordinator_option
def lease_list(lab_path, coordinator) -> None:
    """List the leases (or places) of a lab's Macs."""
    from rig.lab import lease as leases
    from rig.lab.coordinator import place_name
    from rig.lab.exported import place_spec

    lab = _lab(lab_path, coordinator)
    if lab.coordinator:
        coord = _coord(lab)
        try:
            mine = {place_name(m): m.name for m in lab.macs.values()}
            boards = {p: f"board of {n}" for n, a in lab.actuators.items() if (spec := place_spec(a.port))
                      for p in [spec[0]]}
            mine = {**boards, **mine}   # a Mac's own place keeps its Mac's name
            rows = [(n, h) for n, h, _ in coord.list_places() if n in mine]
        finally:
            coord.close()
        for name, holder in rows:
            click.echo(f"{mine[name]:<16} {name:<24} {holder or 'free'}")
        if not rows:
            click.echo("no places")
        return
    rows = leases.list_leases(lab.lease_folder)
    if not rows:
        click.echo("no leases")
    for x in rows:
        state = "stale" if x.stale else f"{(x.expires - time.time()) / 60:.0f} min left"
        click.echo(f"{x.mac:<40} {x.holder:<32} {x.host} pid {x.pid}  {state}")


@lease.command("release")
@lab_option
@coordinator_option
@click.option("--force", is_flag=True, help="with a coordinator: release a place another controller holds")
@click.argument("macs", nargs=-1, required=True)
def lease_release(lab_path, coordinator, force, macs) -> None:
    """Release the leases on MACS (names or tags)."""
    from rig.lab import lease as leases
    from rig.lab.coordinator import place_name
    from rig.lab.inventory import LabError

    lab = _lab(lab_path, coordinator)
    try:
        selected = lab.select(list(macs))
    except LabError as e:
        raise click.ClickException(str(e))
    if not lab.coordinator:
        for m in selected:
            released = leases.release(lab.lease_folder, leases.key(m))
            if released:
                _journal(lab, {"mac": m.name, "released": "file lease"})
            click.echo(f"{m.name}: {'released' if released else 'no lease'}")
        return
    coord = _coord(lab)
    try:
        for m in selected:
            place = place_name(m)
            holder = coord.holder(place)
            if holder and holder != coord.identity and not force:
                click.echo(f"{m.name}: {place} is held by {holder}; --force to release it")
                continue
            done = coord.release(place, force=force)
            if done:
                _journal(lab, {"mac": m.name, "place": place, "holder": holder, "by": coord.identity,
                               "forced": holder != coord.identity})
            click.echo(f"{m.name}: {'released' if done else 'not acquired'} ({place}, was {holder or 'free'})")
    finally:
        coord.close()
