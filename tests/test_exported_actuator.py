"""An actuator on another host, found through its labgrid place: a real ``labgrid-coordinator``,
a real ``labgrid-exporter`` publishing the MicroPython firmware's socat pty through ``ser2net``,
and a twin night driven through the port the exporter published, scored against the truth."""
from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from rig.lab.coordinator import CoordinatorError, CoordinatorLeases
from rig.lab.exported import place_spec
from rig.lab.inventory import LabError, load_lab
from rig.twin.serve import MacSpec, TwinConfig
from lab_dicts import lab as lab_dict
from polling import wait_for
from tests.labgrid_peers import Coordinator, Exporter, labgrid_client
from twin_runs import assert_matches_truth, run_night

pytestmark = [pytest.mark.slow, pytest.mark.peer]
LAPTOP = MacSpec("mbp-01", "laptop", skew=2.75, utc_offset_min=-480, tags=["laptop"])
BOARD_LINK = "usb-rig-actuator-TWIN0001-if00"   # where the twin plugs its board (rig/twin/serve.py)


@pytest.fixture
def coord(tmp_path):
    c = Coordinator(tmp_path / "coordinator")
    yield c
    c.stop()


def _export_board(coord, tmp_path, board_link: Path, place: str) -> Exporter:
    """What a lab admin does on the host the board is plugged into, and once for the place."""
    exporter = Exporter(coord, tmp_path / "exporter", {"rig-act": os.path.realpath(board_link)})
    labgrid_client(coord, "-p", place, "create")
    labgrid_client(coord, "-p", place, "add-match", f"{exporter.name}/rig-act/NetworkSerialPort")
    return exporter


def _night_through_place(coord, tmp_path: Path, dwell_s: float, then=None, **actuator):
    """Two cycles of a laptop on the x200 twin whose board the rig reaches only through its
    place, exported by a real exporter; ``then(board_link, exporters)`` runs in a thread once
    the board is exported (it may restart the exporter: whatever it appends is stopped too).
    The night, its ``run.json`` and its action records (two lid closes and opens, checked)."""
    exporters = []

    def lab_through_the_place(lab_path: Path):
        board = lab_path.parent / BOARD_LINK
        exporters.append(_export_board(coord, tmp_path, board, "rig-mbp-01"))
        if then is not None:
            threading.Thread(target=then, args=(board, exporters), daemon=True).start()
        lab = load_lab(lab_path)
        acts = {n: replace(a, port="place:rig-mbp-01", **actuator) for n, a in lab.actuators.items()}
        return replace(lab, coordinator=coord.address, actuators=acts)

    cfg = TwinConfig(build="naive", scale=200.0, macs=[LAPTOP], actuator="micropython")
    try:
        night = run_night(tmp_path, "naive", cycles=2, dwell_s=dwell_s, twin=cfg, lab_for=lab_through_the_place)
    finally:
        for e in exporters:
            e.stop()
    meta = json.loads((night.run_dir / "run.json").read_text())
    records = [json.loads(x) for x in (night.run_dir / "journal.jsonl").read_text().splitlines() if x.strip()]
    acts = [r for r in records if r.get("type") == "action"]
    assert [r["kind"] for r in acts] == ["act_lid_close", "act_lid_open"] * 2, acts
    # counts exact; time-to-tunnel within what a round-trip-stamped actuator can know: its
    # action happened between send and reply, the rig takes the midpoint (at the twin's 200x a
    # 4 ms round trip through ser2net is 0.8 lab seconds)
    opens = [r for r in acts if r["kind"] == "act_lid_open"]
    assert_matches_truth(night, "mbp-01",
                         ttt_tolerance_s=[(r["received"] - r["sent"]) / 2 + 0.05 for r in opens])
    return night, meta, acts


def test_a_twin_night_drives_its_actuator_through_the_exported_port(coord, tmp_path):
    night, meta, _ = _night_through_place(coord, tmp_path, dwell_s=20 * 60)
    (url,) = meta["actuator_ports"].values()
    assert url.startswith("rfc2217://127.0.0.1:") and url.endswith("?ign_set_control"), url
    assert "actuator_port_moves" not in meta    # the exporter kept its port all night
    # every lid close and open the rig asked for reached the Mac through ser2net and the firmware
    assert [w["cause"] for w in night.truth["macs"]["mbp-01"]["wake_requests"]].count("lid") >= 2
    assert "exporter" in (tmp_path / "exporter" / "exporter.log").read_text()


def _journal_has(reports: Path, kind: str) -> bool:
    return any(f'"kind":"{kind}"' in j.read_text() for j in reports.glob("*/journal.jsonl"))


def test_an_exporter_restarted_in_the_night_is_followed_and_run_json_names_both_ports(coord, tmp_path):
    """The host the board is plugged into restarts its exporter while the Mac sleeps: ser2net
    comes back on another TCP port (the old one is kept taken), the rig's lid open finds it
    through the coordinator, the night still matches the truth, and run.json says so."""
    errors, old_port = [], socket.socket()
    old_port.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # past the old link's TIME_WAIT

    def restart_once_the_lid_is_closed(board: Path, exporters: list) -> None:
        try:
            assert wait_for(lambda: _journal_has(tmp_path / "reports", "act_lid_close"), 60, 0.05)
            (meta,) = (tmp_path / "reports").glob("*/run.json")
            (url,) = json.loads(meta.read_text())["actuator_ports"].values()
            exporters[0].stop()
            old_port.bind(("127.0.0.1", int(url.split(":")[2].split("?")[0])))
            exporters.append(Exporter(coord, tmp_path / "exporter-again", {"rig-act": os.path.realpath(board)}))
        except BaseException as e:  # noqa: BLE001 - said by the test below
            errors.append(e)

    try:
        # 40 lab minutes of sleep are 12 s here: time for the exporter to come back before the open
        _, meta, acts = _night_through_place(coord, tmp_path, dwell_s=40 * 60, then=restart_once_the_lid_is_closed,
                                             reopen_s=30.0)
    finally:
        old_port.close()
    assert not errors, errors
    (first,) = meta["actuator_ports"].values()
    moves = meta["actuator_port_moves"]["act-1"]
    assert len(moves) == 2 and moves[0] == first and moves[1] != first, moves
    # the first open went through the port the coordinator named after the restart
    assert acts[1]["attempts"] > 1 and any(f"re-opened {moves[1]}" in n for n in acts[1]["notes"]), acts[1]


def test_the_port_is_found_only_through_a_place_this_controller_holds(coord, tmp_path):
    from rig.twin.board_door import MicroPythonBoard

    board = MicroPythonBoard(tmp_path / "board").plug()
    exporter = _export_board(coord, tmp_path, board.link, "rig-bench")
    a, b = CoordinatorLeases(coord.address, "ctl-a/ci"), CoordinatorLeases(coord.address, "ctl-b/ci")
    try:
        with pytest.raises(CoordinatorError, match="not acquired by ctl-a/ci"):
            a.serial_url("rig-bench")
        a.acquire("rig-bench")
        url = a.serial_url("rig-bench")
        with pytest.raises(CoordinatorError, match="held by ctl-a/ci"):
            b.serial_url("rig-bench")
        with pytest.raises(CoordinatorError, match="no NetworkSerialPort in group 'other'"):
            a.serial_url("rig-bench", "other", timeout_s=0.3)
        from rig.drive.actuators.rig_v1 import RigV1Actuator
        from rig.lab.clock import SystemClock
        from rig.lab.inventory import Actuator

        d = RigV1Actuator(Actuator("act-1", url, timeout_s=1.0, reopen_s=5.0), SystemClock()).open()
        try:
            assert d.ask("PING").reply.fields["proto"] == "1"
        finally:
            d.close()
        a.release("rig-bench")
    finally:
        a.close()
        b.close()
        exporter.stop()
        board.unplug()


def test_a_place_port_in_a_lab_file_is_checked_and_needs_a_coordinator(tmp_path):
    assert place_spec("place:rig-bench/rig-act") == ("rig-bench", "rig-act")
    assert place_spec("/dev/serial/by-id/usb-x") is None
    with pytest.raises(ValueError, match="not a place port"):
        place_spec("place:two words")
    from rig.twin.launch import TwinProcess

    with TwinProcess(TwinConfig(macs=[LAPTOP]), root=tmp_path / "twin") as t:
        text = t.lab_path.read_text()
        port_line = next(x for x in text.splitlines() if x.startswith("port = \"") and BOARD_LINK in x)
        bad = t.lab_path.with_name("bad.toml")
        bad.write_text(text.replace(port_line, 'port = "place:"'))
        with pytest.raises(LabError, match=r'actuator "act-1": port .*not a place port'):
            load_lab(bad)
        good = t.lab_path.with_name("good.toml")
        good.write_text(text.replace(port_line, 'port = "place:rig-bench"'))
        from rig.lab.lease_backend import Holding

        lab = load_lab(good)
        with pytest.raises(LabError, match="found through a labgrid place; name the coordinator"):
            Holding(lab, [lab.macs["mbp-01"]], "run-1", 60.0)


def test_bench_requests_and_doctor_reach_the_board_through_its_place(coord, tmp_path):
    from click.testing import CliRunner

    from rig.cli.main import main
    from rig.runner.doctor import check_actuators
    from rig.twin.launch import TwinProcess

    with TwinProcess(TwinConfig(macs=[LAPTOP], actuator="micropython"), root=tmp_path / "twin") as t:
        exporter = _export_board(coord, tmp_path, t.lab_path.parent / BOARD_LINK, "rig-bench")
        try:
            text = t.lab_path.read_text()
            port_line = next(x for x in text.splitlines() if x.startswith("port = \"") and BOARD_LINK in x)
            lab_path = t.lab_path.with_name("exported.toml")
            lab_path.write_text(text.replace(port_line, 'port = "place:rig-bench"')
                                .replace("[lab]\n", f'[lab]\ncoordinator = "{coord.address}"\n', 1))
            res = CliRunner().invoke(main, ["actuator", "--lab", str(lab_path), "act-1", "ping"])
            assert res.exit_code == 0, res.output
            assert "port:       rfc2217://127.0.0.1:" in res.output and "proto=1" in res.output, res.output
            lab = load_lab(lab_path)
            (finding,) = check_actuators(lab, lab.clock())
            assert finding.status == "ok" and "at rfc2217://127.0.0.1:" in finding.detail, finding
            watch = CoordinatorLeases(coord.address, "watch/ci")
            try:
                assert watch.holder("rig-bench") is None   # each borrowed the place and gave it back
                watch.acquire("rig-bench")
                res = CliRunner().invoke(main, ["actuator", "--lab", str(lab_path), "act-1", "ping"])
                assert res.exit_code != 0 and "acquired by watch/ci" in res.output, res.output
                listed = CliRunner().invoke(main, ["lease", "list", "--lab", str(lab_path)])
                assert any(line.split()[:3] == ["board", "of", "act-1"] and line.split()[3:] == ["rig-bench", "watch/ci"]
                           for line in listed.output.splitlines()), listed.output
            finally:
                watch.close()
        finally:
            exporter.stop()


def test_an_exporter_restarted_mid_run_is_found_again_at_its_new_port(coord, tmp_path):
    """The exporter's host reboots (or its service restarts) while a run holds the place: the
    new ser2net listens on another TCP port, the old one refuses, and the open actuator asks the
    coordinator where the place's port is now instead of failing every cycle until --resume."""
    from rig.drive.actuators.rig_v1 import RigV1Actuator
    from rig.lab.clock import SystemClock
    from rig.lab.exported import ports_used, resolve
    from rig.twin.board_door import MicroPythonBoard

    board = MicroPythonBoard(tmp_path / "board").plug()
    exporter = _export_board(coord, tmp_path, board.link, "rig-bench")
    ctl = CoordinatorLeases(coord.address, "ctl-a/ci")
    lab = lab_dict(tmp_path, lab__coordinator=coord.address, actuator__port="place:rig-bench",
                   actuator__timeout_s=1.0, actuator__reopen_s=20.0)
    held = socket.socket()
    d = None
    try:
        ctl.acquire("rig-bench")
        resolved = resolve(lab, list(lab.macs.values()), ctl)
        d = RigV1Actuator(resolved.actuators["act-1"], SystemClock()).open()
        assert d.ask("PING").reply.ok
        (old,) = ports_used(resolved)["act-1"]
        assert old == resolved.actuators["act-1"].port
        exporter.stop()
        # the old port stays taken (bound, not listening: it refuses), so the new ser2net cannot
        # land on it by chance and the move is real
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # past the old link's TIME_WAIT
        held.bind(("127.0.0.1", int(old.split(":")[2].split("?")[0])))
        exporter = Exporter(coord, tmp_path / "exporter-again", {"rig-act": os.path.realpath(board.link)})
        action = d.ask("PING")
        assert action.reply.ok and action.attempts > 1
        assert d.port.path != old and d.port.path == ctl.serial_url("rig-bench"), (old, d.port.path)
        assert any(f"re-opened {d.port.path}" in n for n in action.notes), action.notes
        # what run.json records: every port the actuator was given, in order
        assert ports_used(resolved) == {"act-1": [old, d.port.path]}
    finally:
        if d is not None:
            d.close()
        held.close()
        ctl.close()
        exporter.stop()
        board.unplug()


def test_run_json_keeps_the_first_port_and_every_move_across_a_resume():
    from rig.lab.exported import merge_ports

    first = merge_ports({}, {"act-1": ["rfc2217://h:4001"]})
    assert first == {"actuator_ports": {"act-1": "rfc2217://h:4001"}}     # no move, no moves key
    moved = merge_ports(first, {"act-1": ["rfc2217://h:4001", "rfc2217://h:4002"]})
    assert moved["actuator_port_moves"] == {"act-1": ["rfc2217://h:4001", "rfc2217://h:4002"]}
    # --resume: the new segment starts where the exporter is now and moves once more
    resumed = merge_ports(moved, {"act-1": ["rfc2217://h:4002", "rfc2217://h:4001"], "act-2": ["socket://g:7"]})
    assert resumed["actuator_ports"] == {"act-1": "rfc2217://h:4001", "act-2": "socket://g:7"}
    assert resumed["actuator_port_moves"] == {
        "act-1": ["rfc2217://h:4001", "rfc2217://h:4002", "rfc2217://h:4001"]}
    # a resumed segment that began on another port than the first segment ended on: a move too
    assert merge_ports(first, {"act-1": ["rfc2217://h:4009"]})["actuator_port_moves"] == {
        "act-1": ["rfc2217://h:4001", "rfc2217://h:4009"]}


def test_a_port_that_cannot_be_looked_up_says_so_when_the_reopen_deadline_passes(tmp_path):
    """No coordinator to ask (it is down too): the error names both the refused port and the
    failed lookups, and comes within the actuator's re-open deadline."""
    import time

    from rig.drive.actuator import ActuatorError
    from rig.drive.actuators.stable_port import StablePort

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"socket://127.0.0.1:{held.getsockname()[1]}"
        asked = []

        def locate() -> str:
            asked.append(time.monotonic())
            raise CoordinatorError("labgrid coordinator 127.0.0.1:1: cannot connect")

        port = StablePort(url, 115200, 'actuator "act-1"', reopen_s=2.5, locate=locate)
        t = time.monotonic()
        with pytest.raises(ActuatorError) as e:
            port.open()
    assert time.monotonic() - t < 4.0
    assert "Connection refused" in str(e.value) and "cannot look up where the port is now" in str(e.value)
    # looked up at most once a second, not on every 50 ms retry
    assert 2 <= len(asked) <= 3 and all(b - a >= 0.99 for a, b in zip(asked, asked[1:])), asked
