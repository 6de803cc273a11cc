"""The pytest plugin before any Mac is driven: options, markers, parametrization, xdist groups.

These run pytest inside pytest (pytester) on a lab file alone: nothing here connects to a Mac,
so the lab needs no running twin.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAB = """
[lab]
name = "{name}"
{clock}
[extension]
name = "X"
subsystem = "com.example.x"
signatures = "sig.toml"

[[actuator]]
name = "act-1"
port = "/dev/serial/by-id/usb-rig-actuator-0-if00"

[[mac]]
name = "mbp-01"
host = "mbp-01.lab"
user = "rig"
known_hosts = "known_hosts"
actuator = "act-1"
channel = 1
sleep_by = "lid"
wake_by = "lid"
tags = ["laptop"]

[[mac]]
name = "mini-01"
host = "mini-01.lab"
user = "rig"
known_hosts = "known_hosts"
actuator = "act-1"
channel = 2
sleep_by = "sleepnow"
wake_by = "power"
tags = ["desktop"]
"""
CLOCK = "[clock]\nscale = 200.0\nwall_origin = 1.0\nvirtual_origin = 1.0\n"

MARKED = """
import pytest

@pytest.mark.hardware
def test_needs_a_rack(mac_name):
    pass

@pytest.mark.lid
def test_needs_a_lid(mac_name):
    pass

@pytest.mark.slow
def test_takes_long(mac_name):
    pass
"""


def lab_file(folder: Path, *, virtual: bool, name: str = "rack-a") -> Path:
    (folder / "sig.toml").write_text("")
    (folder / "known_hosts").write_text("")
    path = folder / "lab.toml"
    path.write_text(LAB.format(name=name, clock=CLOCK if virtual else ""))
    return path


QUIET_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark")


def run(pytester, *args):
    return pytester.runpytest_inprocess("-p", "fixtures.plugin", *QUIET_PLUGINS, "--strict-markers", "-rs", *args)


def test_hardware_tests_are_skipped_on_a_twin_lab_with_the_reason(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=True, name="twin")
    res = run(pytester, "--lab", str(lab), "-k", "rack")
    res.assert_outcomes(skipped=2)
    res.stdout.fnmatch_lines(["*SKIPPED*hardware: needs a real lab; lab 'twin' is the simulated twin*"])
    res.stdout.fnmatch_lines(["rig: 2 hardware test(s) skipped: the lab is the twin"])


def test_hardware_tests_run_on_a_real_lab(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    run(pytester, "--lab", str(lab), "-k", "rack").assert_outcomes(passed=2)


def test_lid_tests_run_only_on_macs_whose_lid_the_actuator_moves(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    res = run(pytester, "--lab", str(lab), "-k", "lid", "-v")
    res.assert_outcomes(passed=1, skipped=1)
    res.stdout.fnmatch_lines(["*test_needs_a_lid?mbp-01? PASSED*"])
    res.stdout.fnmatch_lines(["*lid: Mac 'mini-01' has no lid actuator*sleep_by=sleepnow, wake_by=power*"])


def test_the_markers_are_registered_so_strict_markers_is_clean(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    res = run(pytester, "--lab", str(lab), "-k", "takes_long")
    res.assert_outcomes(passed=2)
    assert res.ret == 0


def test_tests_are_parametrized_over_the_selected_macs_by_name_or_tag(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    res = run(pytester, "--lab", str(lab), "--macs", "desktop", "-k", "takes_long", "-v")
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["*test_takes_long?mini-01? PASSED*"])


def test_an_unknown_mac_is_a_usage_error_naming_the_known_ones(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    res = run(pytester, "--lab", str(lab), "--macs", "mbp-99")
    assert res.ret != 0
    assert "no Mac named or tagged 'mbp-99' (known: mbp-01, mini-01)" in (res.stdout.str() + res.stderr.str())


def test_each_mac_is_one_xdist_group_so_no_two_workers_drive_it(pytester):
    pytester.makepyfile(test_marked=MARKED)
    lab = lab_file(pytester.path, virtual=False)
    items, _ = pytester.inline_genitems("-p", "fixtures.plugin", *QUIET_PLUGINS, "--lab", str(lab))
    groups = {item.name: item.get_closest_marker("xdist_group").kwargs["name"] for item in items}
    assert groups and all(name.endswith(f"[{group}]") for name, group in groups.items())


def test_the_scheduler_reads_the_mac_from_any_test_id():
    from fixtures.plugin import mac_group

    macs = ["mbp-01", "mbp-01-b", "mini-01"]
    assert mac_group("suites/test_dark_wake.py::test_dark_wake[mbp-01]", macs) == "mbp-01"
    assert mac_group("suites/test_x.py::test_sweep[2m-mbp-01-b]", macs) == "mbp-01-b"
    assert mac_group("suites/test_x.py::test_sweep[mini-01-45m]", macs) == "mini-01"
    assert mac_group("suites/test_x.py::test_y[a-mini-01-b]", macs) == "mini-01"
    assert mac_group("tests/test_lab.py::test_plain", macs) is None
    assert mac_group("tests/test_lab.py::test_p[mbp-02]", macs) is None


def test_every_suite_collects_one_test_per_mac_with_the_mac_in_its_id(pytester):
    lab = lab_file(pytester.path, virtual=False)
    res = pytester.runpytest_inprocess(str(ROOT / "suites"), "--collect-only", "-q", *QUIET_PLUGINS,
                                       "--lab", str(lab), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"))
    ids = [ln for ln in res.stdout.lines if "::" in ln]
    suites = {Path(i.split("::")[0]).name for i in ids}
    assert suites == {"test_dark_wake.py", "test_dark_wake_churn.py", "test_time_to_tunnel.py",
                      "test_long_sleep.py", "test_wake_kinds.py", "test_sleep_length_sweep.py",
                      "test_network_change.py"}
    for i in ids:
        assert "mbp-01" in i or "mini-01" in i, i
    sweep = sorted(i.split("[", 1)[1] for i in ids if "sweep" in i)
    assert len(sweep) == 10 and {s.split("-", 1)[0] for s in sweep} == {"2m", "5m", "10m", "20m", "45m"}


@pytest.mark.parametrize("suite_file", sorted(p.name for p in (ROOT / "suites").glob("test_*.py")))
def test_each_suite_names_a_suite_whose_gates_are_declared_in_rig_suites(suite_file):
    import importlib

    from rig.score.suites import SUITES

    mod = importlib.import_module(f"suites.{suite_file[:-3]}")
    gates = SUITES[mod.SUITE]["gates"]
    assert gates and all(g.unit for g in gates)
