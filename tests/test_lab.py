"""A broken lab file names the field that is wrong."""
from __future__ import annotations

import pytest

from rig.lab.inventory import LabError, parse_lab

SIG = "signatures.toml"


def lab(tmp_path, **over):
    (tmp_path / SIG).write_text('[product]\nname="x"\nsubsystems=["com.x"]\n')
    raw = {
        "lab": {"name": "rack-a"},
        "extension": {"name": "X", "subsystem": "com.x", "signatures": SIG},
        "actuator": [{"name": "act-1", "port": "/dev/ttyUSB0"}],
        "mac": [{"name": "mbp-01", "host": "mbp-01.lab", "user": "rig", "known_hosts": "kh",
                 "actuator": "act-1", "channel": 1}],
    }
    for path, value in over.items():
        section, _, key = path.partition("__")
        target = raw[section][0] if isinstance(raw[section], list) else raw[section]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return parse_lab(raw, tmp_path / "lab.toml")


def test_a_good_lab_loads(tmp_path):
    lab_ = lab(tmp_path)
    assert lab_.macs["mbp-01"].ssh.port == 22
    assert lab_.macs["mbp-01"].ssh.known_hosts == tmp_path / "kh"
    assert not lab_.is_virtual


def test_unknown_actuator_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(LabError, match=r'mac "mbp-01": actuator "act-9" is not defined \(known: act-1\)'):
        lab(tmp_path, mac__actuator="act-9")


def test_bad_sleep_method_names_the_field(tmp_path):
    with pytest.raises(LabError, match=r'mac "mbp-01": sleep_by = .hibernate. is not one of lid, sleepnow'):
        lab(tmp_path, mac__sleep_by="hibernate")


def test_known_hosts_is_required(tmp_path):
    with pytest.raises(LabError, match="known_hosts is required"):
        lab(tmp_path, mac__known_hosts=None)


def test_a_password_in_a_lab_file_is_refused(tmp_path):
    with pytest.raises(LabError, match="password: secrets do not belong"):
        lab(tmp_path, mac__password="hunter2")


def test_wrong_type_names_the_field(tmp_path):
    with pytest.raises(LabError, match='mac "mbp-01": channel must be an integer'):
        lab(tmp_path, mac__channel="one")


def test_missing_signatures_file_is_named(tmp_path):
    with pytest.raises(LabError, match=r"\[extension\] signatures: file .* does not exist"):
        lab(tmp_path, extension__signatures="nope.toml")


def test_selecting_an_unknown_mac_lists_the_known(tmp_path):
    with pytest.raises(LabError, match=r"no Mac named or tagged 'mbp-09' \(known: mbp-01\)"):
        lab(tmp_path).select(["mbp-09"])
