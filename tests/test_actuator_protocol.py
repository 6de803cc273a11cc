"""Protocol v1 as pure functions: request lines, replies, and replies found behind line noise.

The rig writes requests and reads replies (``rig.drive.actuator_protocol``); the board parses
and answers with the reference firmware's own module (``rigfw.protocol``): these check one
against the other."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.drive.actuator_protocol import Request, find_reply, parse_reply
from rigfw import protocol as v1

requests = st.one_of(
    st.builds(Request, st.from_regex(r"[0-9]{1,9}", fullmatch=True), st.just("PING")),
    st.builds(lambda i, v, ch, arg: Request(i, v, ch, arg), st.from_regex(r"[0-9]{1,9}", fullmatch=True),
              st.just("LID"), st.integers(1, 16), st.sampled_from(["CLOSE", "OPEN"])),
    st.builds(lambda i, ch, ms: Request(i, "PWR", ch, "PRESS", ms), st.from_regex(r"[0-9]{1,9}", fullmatch=True),
              st.integers(1, 16), st.integers(0, 20000)),
)


@given(requests)
def test_a_request_line_the_rig_writes_is_the_same_request_to_the_firmware(req):
    assert Request(*v1.parse_request(v1.decode_line(req.line().rstrip(b"\n")))) == req


def test_a_reply_behind_junk_bytes_is_found_and_the_junk_kept():
    raw = b"\x00\xfe~@" + v1.format_ok("42", [("at", 17)])
    reply, junk = find_reply(raw, "42")
    assert (reply.id, reply.ok, reply.fields) == ("42", True, {"at": "17"})
    assert junk == b"\x00\xfe~@"


def test_an_err_reply_behind_junk_keeps_its_code():
    reply, junk = find_reply(b"\xff\xff" + v1.format_err("7", 2, "no channel 9"), "7")
    assert (reply.ok, reply.code, reply.text, junk) == (False, 2, "no channel 9", b"\xff\xff")


def test_a_clean_reply_to_another_id_is_returned_for_the_caller_to_skip():
    reply, junk = find_reply(b"41 OK at=1\n", "42")
    assert (reply.id, junk) == ("41", b"")


@pytest.mark.parametrize("raw", [b"\xff\xfe garbage\n", b"42 OK at=1", b"\x0042 MAYBE\n", b"\xff4x2 OK\n"])
def test_a_line_with_no_reply_to_the_id_is_all_junk(raw):
    reply, junk = find_reply(raw, "42")
    assert reply is None and junk == raw


def test_control_bytes_are_never_part_of_a_reply_id():
    with pytest.raises(ValueError, match="control bytes"):
        parse_reply("\x0042 OK at=1\n")
