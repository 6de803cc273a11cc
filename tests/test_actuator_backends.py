"""Every actuator kind a lab file may name has a backend with the same small interface."""
from __future__ import annotations

import inspect
import pkgutil

import pytest

import rig.drive.actuators
from rig.drive.actuator import INTERFACE, ActuatorError, backend_module, load_backend, open_actuator
from rig.lab.clock import SystemClock
from rig.lab.inventory import ACTUATOR_KINDS, Actuator, LabError, parse_lab

SIG = "signatures.toml"
HELPERS = {"stable_port"}  # modules of the package that are not backends


@pytest.mark.parametrize("kind", ACTUATOR_KINDS)
def test_every_kind_loads_a_backend_with_the_whole_interface(kind):
    backend = load_backend(kind)
    missing = [verb for verb in INTERFACE if not callable(getattr(backend, verb, None))]
    assert missing == []
    params = {verb: list(inspect.signature(getattr(backend, verb)).parameters) for verb in INTERFACE}
    assert params == {"open": ["self"], "close": ["self"], "lid": ["self", "channel", "close"],
                      "power_press": ["self", "channel", "ms"], "ac": ["self", "channel", "on"],
                      "status": ["self", "channel"]}


@pytest.mark.parametrize("kind", ACTUATOR_KINDS)
def test_every_backend_documents_a_lab_file_example(kind):
    module = inspect.getmodule(load_backend(kind))
    assert module.__name__ == backend_module(kind)
    assert "[[actuator]]" in module.__doc__ and f'kind = "{kind}"' in module.__doc__


def test_every_backend_module_is_a_kind_the_lab_accepts():
    modules = {m.name for m in pkgutil.iter_modules(rig.drive.actuators.__path__)} - HELPERS
    assert modules == {backend_module(k).rsplit(".", 1)[1] for k in ACTUATOR_KINDS}


def test_an_unknown_kind_is_a_clear_error():
    with pytest.raises(ActuatorError, match=r"no actuator backend for kind 'x10-dimmer' \(available: rig-v1"):
        load_backend("x10-dimmer")


def test_opening_a_missing_port_fails_within_its_deadline_with_a_fix(tmp_path):
    cfg = Actuator("act-1", str(tmp_path / "usb-gone-if00"), reopen_s=0.2)
    with pytest.raises(ActuatorError, match=r'actuator "act-1": cannot open .*usb-gone-if00 within 0.2 s: .*'
                                            r"No such file or directory.*\(x\d+\).*ls -l"):
        open_actuator(cfg, SystemClock())


# -- what a lab file may ask of a relay board -----------------------------------------------------

def lab(tmp_path, actuator: dict, **mac):
    (tmp_path / SIG).write_text('[product]\nname="x"\nsubsystems=["com.x"]\n')
    raw = {
        "extension": {"name": "X", "subsystem": "com.x", "signatures": SIG},
        "actuator": [{"name": "relay-1", "port": "/dev/ttyUSB0", "kind": "lcus-relay", **actuator}],
        "mac": [{"name": "mini-01", "host": "mini-01.lab", "user": "rig", "known_hosts": "kh",
                 "actuator": "relay-1", "channel": 1, "sleep_by": "sleepnow", "wake_by": "power", **mac}],
    }
    return parse_lab(raw, tmp_path / "lab.toml")


def test_relay_wiring_is_read_per_relay_with_roles_and_channels(tmp_path):
    act = lab(tmp_path, {"wiring": {"1": "power", "2": "ac", "3": "power:2"}}).actuators["relay-1"]
    assert act.wiring == {1: ("power", 1), 2: ("ac", 1), 3: ("power", 2)}
    assert act.baud == 9600  # what LCUS boards speak unless told otherwise


@pytest.mark.parametrize("mac, error", [
    ({"sleep_by": "lid"}, r'mac "mini-01": sleep_by = "lid" but actuator "relay-1" is an lcus-relay board'),
    ({"wake_by": "lid"}, r'mac "mini-01": wake_by = "lid" but actuator "relay-1" is an lcus-relay board'),
    ({"channel": 2}, r'mac "mini-01": wake_by = "power" but actuator "relay-1" has no relay wired to "power" '
                     r"for channel 2"),
])
def test_a_mac_asking_a_relay_board_for_what_it_cannot_do_is_refused_at_load(tmp_path, mac, error):
    with pytest.raises(LabError, match=error):
        lab(tmp_path, {"wiring": {"1": "power"}}, **mac)


@pytest.mark.parametrize("actuator, error", [
    ({}, r'actuator "relay-1": wiring is required'),
    ({"wiring": {"1": "lid"}}, r'actuator "relay-1": wiring.1 = \'lid\' must be "power" or "ac"'),
    ({"wiring": {"9": "power"}}, r"wiring: '9' is not a relay number"),
    ({"wiring": {"1": "power", "2": "power:1"}}, r"relays 1 and 2 are both power for channel 1"),
    ({"wiring": {"1": "power"}, "kind": "rig-v1"}, r"wiring is only for lcus-relay actuators"),
    ({"wiring": {"1": "power"}, "reopen_s": 0}, r"reopen_s must be a positive number of seconds"),
])
def test_bad_relay_wiring_names_the_field(tmp_path, actuator, error):
    with pytest.raises(LabError, match=error):
        lab(tmp_path, actuator)
