"""`rig doctor` checks a lab and fixes the safe things; `rig run` respects another run's lease."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from rig.lab import lease
from rig.cli.main import main
from rig.runner.doctor import run_doctor
from rig.lab.inventory import load_lab
from rig.twin.launch import TwinProcess


@pytest.fixture
def twin_lab(tmp_path):
    t = TwinProcess(root=tmp_path / "twin")
    t.start()
    yield load_lab(t.lab_path)
    t.stop()


def _by(findings, target, check):
    return next(x for x in findings if x.target == target and x.check == check)


def test_doctor_flags_ttyskeepawake_with_a_fix_and_fix_applies_it(twin_lab):
    macs = list(twin_lab.macs.values())
    before = run_doctor(twin_lab, macs)
    f = _by(before, "mbp-01", "pmset ttyskeepawake")
    assert f.status == "warn" and f.fix == "sudo -n pmset -a ttyskeepawake 0"
    assert _by(before, "mbp-01", "ssh").status == "ok"
    assert _by(before, "act-1", "actuator").status == "ok"
    assert _by(before, twin_lab.gateway.name, "gateway log").status == "ok"
    run_doctor(twin_lab, macs, fix=True)
    after = run_doctor(twin_lab, macs)
    assert _by(after, "mbp-01", "pmset ttyskeepawake").status == "ok"


def test_doctor_fails_a_log_level_the_mac_does_not_persist(twin_lab):
    import dataclasses

    lab = dataclasses.replace(twin_lab, extension=dataclasses.replace(twin_lab.extension, log_level="debug"))
    f = _by(run_doctor(lab, [lab.macs["mini-01"]]), "mini-01", "log persist com.example.twinproxy")
    assert f.status == "fail"
    assert 'level:debug,persist:debug' in f.fix
    run_doctor(lab, [lab.macs["mini-01"]], fix=True)
    assert _by(run_doctor(lab, [lab.macs["mini-01"]]), "mini-01", "log persist com.example.twinproxy").status == "ok"


def test_doctor_reports_a_wrong_build(twin_lab):
    f = _by(run_doctor(twin_lab, [twin_lab.macs["mbp-01"]], build="twin:darkwake-aware"), "mbp-01", "extension")
    assert f.status == "fail" and "rig install" in f.fix


def test_rig_run_refuses_a_mac_leased_to_another_run(twin_lab, tmp_path):
    mac = twin_lab.macs["mbp-01"]
    lease.acquire(twin_lab.lease_folder, lease.key(mac), "nightly-rack-a", ttl_s=600)
    res = CliRunner().invoke(main, ["run", "--lab", str(twin_lab.path), "--macs", "mbp-01", "--dwell", "1m",
                                    "--cycles", "1", "--reports", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert "leased to run nightly-rack-a" in res.output
