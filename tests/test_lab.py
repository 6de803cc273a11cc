"""A broken lab file names the field that is wrong."""
from __future__ import annotations

import pytest

from lab_dicts import lab
from rig.lab.inventory import LabError


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


# -- names are data, checked at load ------------------------------------------------------------

GATEWAY = {"name": "gw-1", "host": "gw.lab", "user": "rig", "known_hosts": "kh", "format": "ocserv",
           "log_command": "journalctl -u ocserv --since @{start} --until @{end}"}


def lab_with_gateway(tmp_path, **gateway):
    return lab(tmp_path, gateway={**GATEWAY, **gateway})


@pytest.mark.parametrize("bad", ["../../x", ".hidden", "a/b", "mbp 01", "", "x" * 65, 'q"uote', "é"])
def test_a_mac_name_that_could_leave_the_run_folder_is_refused(tmp_path, bad):
    with pytest.raises(LabError, match=r"lab\.toml: mac #1: name .* is not a safe name"):
        lab(tmp_path, mac__name=bad)


def test_actuator_and_lab_names_are_checked_too(tmp_path):
    with pytest.raises(LabError, match=r"actuator #1: name '\.\./a' is not a safe name"):
        lab(tmp_path, actuator__name="../a")
    with pytest.raises(LabError, match=r"\[lab\]: name 'rack/a' is not a safe name"):
        lab(tmp_path, lab__name="rack/a")


def test_a_subsystem_that_would_break_the_predicate_is_refused(tmp_path):
    with pytest.raises(LabError, match=r"\[extension\]: subsystem 'com.x\" OR 1' is not a unified-log subsystem"):
        lab(tmp_path, extension__subsystem='com.x" OR 1')


def test_a_log_command_with_an_unknown_placeholder_is_refused_at_load(tmp_path):
    with pytest.raises(LabError, match=r"\[gateway\] log_command: unknown placeholder\(s\) host"):
        lab_with_gateway(tmp_path, log_command="journalctl --since @{start} --until @{end} -H {host}")
    with pytest.raises(LabError, match=r"log_command: it must contain \{start\} and \{end\}"):
        lab_with_gateway(tmp_path, log_command="journalctl --since @{start}")
    with pytest.raises(LabError, match=r"log_command: bad braces"):
        lab_with_gateway(tmp_path, log_command="journalctl --since @{start} --until @{end} {")
    ok = lab_with_gateway(tmp_path, log_command="sh -c 'x {{y}}' @{start} @{end}")
    assert ok.gateway.log_command.format(start=1, end=2) == "sh -c 'x {y}' @1 @2"


def test_a_gateway_user_must_be_a_safe_name(tmp_path):
    with pytest.raises(LabError, match=r'clients\."mbp-01": gateway user .* is not a safe name'):
        lab_with_gateway(tmp_path, clients={"mbp-01": "rig;rm -rf"})


def test_a_signature_subsystem_with_a_quote_is_refused(tmp_path):
    from rig.parse.signatures import SignatureError, load_signatures

    f = tmp_path / "s.toml"
    f.write_text('[product]\nname="x"\nsubsystems=["com.x\\" OR subsystem == \\"y"]\n')
    with pytest.raises(SignatureError, match="is not a unified-log subsystem"):
        load_signatures(f)
    f.write_text('[product]\nname="x"\nsubsystems=["com.x"]\n[[rule]]\nkind="tunnel_up"\nmessage="up"\n'
                 'category="a b"\n')
    with pytest.raises(SignatureError, match="category 'a b' is not a unified-log category"):
        load_signatures(f)


def test_a_cycle_folder_outside_the_run_folder_is_refused(tmp_path):
    from rig.run_folder import RunFolder

    folder = RunFolder(tmp_path / "run")
    assert folder.cycle_dir("mbp-01", 3) == tmp_path / "run" / "raw" / "mbp-01" / "003"
    with pytest.raises(ValueError, match="outside"):
        folder.cycle_dir("../../etc", 1)


def test_a_gateway_without_a_name_is_named_by_its_host_even_an_ipv6_one(tmp_path):
    g = {k: v for k, v in GATEWAY.items() if k != "name"}
    assert lab(tmp_path, gateway={**g, "host": "fd00::1"}).gateway.name == "fd00::1"
