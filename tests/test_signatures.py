"""Specification of product signature files (rig.parse.signatures)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rig.events import Kind
from rig.parse.signatures import (EXTENSION_KINDS, SignatureError, Signatures, load_signatures,
                            parse_signatures)

TWIN = Path(__file__).parent.parent / "rig" / "twin" / "signatures.toml"
SUB = "com.example.twinproxy"

HEAD = '[product]\nname = "Acme"\nsubsystems = ["com.acme.proxy"]\n'


def sig(rules: str, head: str = HEAD) -> Signatures:
    return parse_signatures(head + rules, name="acme.toml")


def error_of(rules: str, head: str = HEAD) -> str:
    with pytest.raises(SignatureError) as e:
        sig(rules, head)
    return str(e.value)


@pytest.fixture(scope="module")
def twin() -> Signatures:
    return load_signatures(TWIN)


# ---- the twin's file ---------------------------------------------------------------------------

def test_twin_file_loads_with_its_product_and_all_eight_rules(twin):
    assert twin.product == "TwinProxy"
    assert twin.subsystems == (SUB,)
    assert [r.kind for r in twin.rules] == [
        Kind.EXT_SLEEP, Kind.EXT_WAKE, Kind.WAKE_CLASSIFIED, Kind.HANDSHAKE_START,
        Kind.TUNNEL_UP, Kind.TUNNEL_DOWN, Kind.KEEPALIVE, Kind.ALERT_DISCONNECTED]


def test_tunnel_up_gives_its_session(twin):
    assert twin.match(SUB, "tunnel", "Tunnel up session=S42") == (Kind.TUNNEL_UP, {"session": "S42"})


def test_alert_gives_session_and_reason(twin):
    kind, groups = twin.match(SUB, "alert", "ALERT Session Disconnected session=S42 reason=peer_dead")
    assert kind is Kind.ALERT_DISCONNECTED
    assert groups == {"session": "S42", "reason": "peer_dead"}


def test_wake_classified_gives_the_verdict(twin):
    assert twin.match(SUB, "provider", "wake classified as dark (powerd caps CDN)") == (
        Kind.WAKE_CLASSIFIED, {"verdict": "dark"})


def test_sleep_callback_has_no_groups(twin):
    assert twin.match(SUB, "provider", "sleep() called") == (Kind.EXT_SLEEP, {})


def test_category_must_match_when_the_rule_names_one(twin):
    assert twin.match(SUB, "provider", "Tunnel up session=S42") is None


def test_other_subsystem_never_matches(twin):
    assert twin.match("com.apple.powerd", "tunnel", "Tunnel up session=S42") is None


def test_message_regex_is_searched_as_written_with_its_anchor(twin):
    assert twin.match(SUB, "tunnel", "note: Tunnel up session=S42") is None


def test_unmatched_message_gives_none(twin):
    assert twin.match(SUB, "tunnel", "Tunnel flapping") is None


# ---- rule semantics ----------------------------------------------------------------------------

def test_first_matching_rule_wins():
    s = sig('[[rule]]\nkind = "tunnel_down"\nmessage = "lost"\n'
            '[[rule]]\nkind = "alert_disconnected"\nmessage = "lost"\n')
    assert s.match("com.acme.proxy", "", "connection lost")[0] is Kind.TUNNEL_DOWN


def test_rule_without_category_matches_any_category():
    s = sig('[[rule]]\nkind = "keepalive"\nmessage = "^ka"\n')
    assert s.match("com.acme.proxy", "whatever", "ka 1")[0] is Kind.KEEPALIVE
    assert s.match("com.acme.proxy", "", "ka 2")[0] is Kind.KEEPALIVE


def test_rule_subsystem_defaults_to_the_products_subsystems():
    s = sig('[[rule]]\nkind = "keepalive"\nmessage = "^ka"\n',
            '[product]\nname = "Acme"\nsubsystems = ["com.acme.a", "com.acme.b"]\n')
    assert s.rules[0].subsystems == ("com.acme.a", "com.acme.b")
    assert s.match("com.acme.b", "", "ka")[0] is Kind.KEEPALIVE


def test_rule_subsystem_replaces_the_default_and_is_watched():
    s = sig('[[rule]]\nkind = "keepalive"\nsubsystem = "com.acme.helper"\nmessage = "^ka"\n')
    assert s.match("com.acme.proxy", "", "ka") is None
    assert s.match("com.acme.helper", "", "ka")[0] is Kind.KEEPALIVE
    assert s.watched_subsystems == ("com.acme.proxy", "com.acme.helper")


def test_unmatched_optional_group_is_left_out():
    s = sig('[[rule]]\nkind = "tunnel_down"\nmessage = "^down(?: reason=(?P<reason>\\\\S+))?"\n')
    assert s.match("com.acme.proxy", "", "down") == (Kind.TUNNEL_DOWN, {})
    assert s.match("com.acme.proxy", "", "down reason=x") == (Kind.TUNNEL_DOWN, {"reason": "x"})


def test_repeated_lookups_give_the_same_answer(twin):
    first = [twin.match(SUB, "tunnel", f"Tunnel up session=S{i}") for i in range(3)]
    assert first == [(Kind.TUNNEL_UP, {"session": f"S{i}"}) for i in range(3)]


def test_signatures_compare_by_content_not_by_cache(twin):
    twin.match(SUB, "tunnel", "Tunnel up session=S1")
    assert twin == load_signatures(TWIN)


# ---- bad files fail at load, naming the rule ---------------------------------------------------

def test_unknown_kind_names_the_rule_and_lists_known_kinds():
    msg = error_of('[[rule]]\nkind = "ext_sleep"\nmessage = "a"\n'
                   '[[rule]]\nkind = "tunnel_up"\nmessage = "b"\n'
                   '[[rule]]\nkind = "tunnel_upp"\nmessage = "c"\n')
    assert msg.startswith('acme.toml: rule 3 (kind "tunnel_upp"): unknown kind (known: ')
    assert all(k.value in msg for k in EXTENSION_KINDS)


def test_power_kind_is_not_a_signature_kind():
    assert "unknown kind" in error_of('[[rule]]\nkind = "sleep"\nmessage = "a"\n')


def test_bad_regex_names_the_rule():
    msg = error_of('[[rule]]\nkind = "tunnel_up"\nmessage = "session=(?P<session>\\\\S+"\n')
    assert msg.startswith('acme.toml: rule 1 (kind "tunnel_up"): bad message regex')


def test_missing_message_names_the_rule():
    assert error_of('[[rule]]\nkind = "keepalive"\n') == (
        'acme.toml: rule 1 (kind "keepalive"): missing message (a regex on eventMessage)')


def test_missing_kind_names_the_rule():
    assert error_of('[[rule]]\nmessage = "x"\n') == "acme.toml: rule 1: missing kind"


def test_unknown_rule_key_names_it():
    msg = error_of('[[rule]]\nkind = "keepalive"\nmessage = "x"\nmesage = "y"\n')
    assert msg.startswith('acme.toml: rule 1 (kind "keepalive"): unknown key(s) mesage')


def test_subsystem_must_be_a_string():
    msg = error_of('[[rule]]\nkind = "keepalive"\nmessage = "x"\nsubsystem = ["a", "b"]\n')
    assert msg == 'acme.toml: rule 1 (kind "keepalive"): subsystem must be a non-empty string'


def test_named_group_other_than_session_reason_verdict_is_refused():
    msg = error_of('[[rule]]\nkind = "tunnel_up"\nmessage = "id=(?P<sid>\\\\S+)"\n')
    assert msg.startswith('acme.toml: rule 1 (kind "tunnel_up"): unknown named group(s) sid')


def test_category_must_be_a_string():
    assert "category must be a string" in error_of(
        '[[rule]]\nkind = "keepalive"\nmessage = "x"\ncategory = 3\n')


def test_missing_product_table_is_an_error():
    msg = error_of('[[rule]]\nkind = "keepalive"\nmessage = "x"\n', head="")
    assert msg == "acme.toml: missing [product] table (name, subsystems)"


def test_rule_without_any_subsystem_is_an_error():
    msg = error_of('[[rule]]\nkind = "keepalive"\nmessage = "x"\n',
                   head='[product]\nname = "Acme"\nsubsystems = []\n')
    assert "no subsystem" in msg


def test_invalid_toml_names_the_file():
    with pytest.raises(SignatureError, match=r"^acme\.toml: not valid TOML"):
        parse_signatures("[product\n", name="acme.toml")


def test_signature_error_is_a_value_error():
    assert issubclass(SignatureError, ValueError)


def test_load_names_the_path_in_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text(HEAD + '[[rule]]\nkind = "nope"\nmessage = "x"\n')
    with pytest.raises(SignatureError, match=r"bad\.toml: rule 1 \(kind \"nope\"\): unknown kind"):
        load_signatures(p)
