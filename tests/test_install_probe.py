"""`rig install` on twin Macs over SFTP, and the probe loop giving time-to-tunnel as a user feels it."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from rig.cli.main import main
from rig.lab.inventory import load_lab
from rig.drive.ssh import SSHSession
from rig.twin.launch import TwinProcess
from rig.twin.serve import TwinConfig
from rig.outcomes import exit_code


@pytest.fixture
def twin(tmp_path):
    t = TwinProcess(TwinConfig(build="naive"), root=tmp_path / "twin")
    t.start()
    yield t
    t.stop()


def _installed(lab, mac):
    with SSHSession(lab.macs[mac].ssh, lab.clock()).connect() as s:
        return s.run(["systemextensionsctl", "list"]).text


def test_install_puts_the_build_on_the_macs_and_verifies_the_version(twin):
    pkg = twin.root / "pkgs" / "TwinProxy-1.4.0-darkwake-aware.pkg"
    res = CliRunner().invoke(main, ["install", "--lab", str(twin.lab_path), "--build", str(pkg), "--macs", "mbp-01"])
    assert res.exit_code == 0, res.output
    assert re.search(r"mbp-01\s+OK\s+.*1\.4\.0-darkwake-aware", res.output)
    lab = load_lab(twin.lab_path)
    assert "1.4.0-darkwake-aware" in _installed(lab, "mbp-01")
    assert "1.4.0-naive" in _installed(lab, "mini-01")  # only the selected Mac changed
    truth = twin.stop()
    assert truth["macs"]["mbp-01"]["installs"][0]["build"] == "darkwake-aware"


def test_a_broken_package_fails_the_install_with_the_installers_words(twin, tmp_path):
    bad = tmp_path / "TwinProxy-9.9.9.pkg"
    bad.write_text("not a package")
    res = CliRunner().invoke(main, ["install", "--lab", str(twin.lab_path), "--build", str(bad), "--macs", "mini-01"])
    assert res.exit_code == 1
    assert re.search(r"mini-01\s+FAILED\s+installer exited 1: installer: Error", res.output)


def test_the_probe_runs_on_the_mac_and_is_collected_each_cycle(twin, tmp_path):
    lab_text = twin.lab_path.read_text().replace('name = "mbp-01"', 'name = "mbp-01"\nprobe = "https://canary.example/204"\nprobe_interval_s = 1.0')
    lab_file = twin.lab_path.with_name("lab-probe.toml")
    lab_file.write_text(lab_text)
    res = CliRunner().invoke(main, ["run", "--lab", str(lab_file), "--build", "twin:naive", "--macs", "mbp-01",
                                    "--cycles", "1", "--dwell", "3m", "--reports", str(tmp_path / "r")])
    run = next((tmp_path / "r").glob("*/"))
    assert res.exit_code == exit_code(json.loads((run / "scores.json").read_text())), res.output
    probe_log = (run / "raw" / "mbp-01" / "001" / "probe.log").read_text().splitlines()
    assert any(line.endswith(" ok") for line in probe_log)
    assert any(line.endswith(" fail") for line in probe_log)  # the dead session after wake, before reconnect
    truth = twin.stop()
    skew = truth["macs"]["mbp-01"]["skew"]
    wake = truth["macs"]["mbp-01"]["full_wakes"][0]
    # no attempt is logged while the Mac slept: the loop is frozen, as a real process is
    sleep_t = truth["macs"]["mbp-01"]["sleeps"][0]["t"]
    starts = [float(line.split()[0]) - skew for line in probe_log]
    assert not [s for s in starts if sleep_t + 1 < s < wake["wake"] - 1]
    records = [json.loads(x) for x in (run / "journal.jsonl").read_text().splitlines()]
    assert any(r["type"] == "probe_started" for r in records)
