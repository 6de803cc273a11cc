"""The byte prefilter under the unified-log parser answers exactly what a plain walk over the
segment's lines answers (the definition, written line by line below), for log-like segments and
for arbitrary bytes."""
from __future__ import annotations

import json

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.parse.line_scan import clean_lines

NAME = b"com.acme.proxy"
COMPACT = (b'"subsystem":"' + NAME + b'"', b"powerd.bundle")
BARE = (NAME, b"powerd.bundle")


def walk(block: bytes, lo: int, hi: int, compact_needles, needles, short):
    """The definition of :func:`clean_lines`, one line at a time."""
    lines, starts, at = [], [], lo
    for line in block[lo:hi].split(b"\n")[:-1]:
        lines.append(line)
        starts.append(at)
        at += len(line) + 1
    if not all(len(ln) >= 2 and ln[:1] == b"{" and ln[-1:] == b"}" for ln in lines):
        return None
    colon = block.find(b'":', lo, min(lo + 64, hi)) - lo
    opener = lines[0][:colon + 3]          # '{"key":' and the value's first byte
    compact = (colon >= 0 and lines[0][1:2] == b'"' and len(lines[0]) >= short
               and opener[-1:] not in (b" ", b"\t", b"\r", b"")
               and all(ln.startswith(opener) for ln in lines))
    wanted = compact_needles if compact else needles
    hits = [(i, s, s + len(ln)) for i, (ln, s) in enumerate(zip(lines, starts))
            if (len(ln) < short and not compact) or any(n in ln for n in wanted)]
    return len(lines), compact, hits


def record(sub: str, msg: str, path: str = "/usr/libexec/x") -> dict:
    return {"timezoneName": "", "subsystem": sub, "eventMessage": msg, "processImagePath": path,
            "timestamp": "2026-07-26 18:11:22.348728+1200"}


def line_strategy():
    sub = st.sampled_from(["com.acme.proxy", "com.apple.xpc", "com.apple.powerd", "com.acme.proxyd"])
    msg = st.lists(st.sampled_from(list('ab "{}:,.\\/é') + ["com.acme.proxy", "powerd.bundle"]),
                   max_size=12).map("".join)
    path = st.sampled_from(["/usr/libexec/x", "/System/Library/CoreServices/powerd.bundle/powerd"])
    recs = st.builds(record, sub, msg, path)
    return st.one_of(
        recs.map(orjson.dumps),                                  # compact, as `log` writes
        recs.map(lambda r: json.dumps(r).encode()),              # spaced: not compact
        st.builds(lambda r, sep: json.dumps(r, separators=(",", sep)).encode(),
                  recs, st.sampled_from([":\t", ":\r", ":"])),  # other blanks after the colon
        recs.map(lambda r: orjson.dumps(dict(reversed(r.items())))),   # another first key
        st.just(b'{"count":12,"finished":1}'),                   # short
        st.sampled_from([b"{}", b"{", b"}", b"", b"[", b"garbage", b'{"a":1}\r', b"{ }"]),
        st.binary(max_size=60),
    )


def segment(lines: list[bytes]) -> bytes:
    return b"".join(ln.replace(b"\n", b" ") + b"\n" for ln in lines)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_strategy(), min_size=1, max_size=30), st.integers(0, 70))
def test_the_scan_answers_what_a_walk_over_the_lines_answers(lines, short):
    data = segment(lines)
    for lo in (0, len(lines[0].replace(b"\n", b" ")) + 1):
        if lo >= len(data):
            continue
        assert clean_lines(data, lo, len(data), COMPACT, BARE, short) == \
            walk(data, lo, len(data), COMPACT, BARE, short)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([b"{" + b"x" * n + b"}" for n in range(0, 40)]), min_size=1, max_size=40),
       st.data())
def test_needles_at_every_offset_and_near_the_end_are_found(lines, data):
    """Lines of every length, a needle at every position of a line and near the segment's end."""
    lines = list(lines)
    k = data.draw(st.integers(0, len(lines) - 1))
    cut = data.draw(st.integers(1, len(lines[k]) - 1))
    lines[k] = lines[k][:cut] + NAME + lines[k][cut:]
    buf = segment(lines)
    got = clean_lines(buf, 0, len(buf), (NAME,), (NAME,), 0)
    assert got == walk(buf, 0, len(buf), (NAME,), (NAME,), 0)
    assert k in [i for i, _, _ in got[2]]


def test_a_segment_with_a_line_that_is_not_an_object_is_not_clean():
    buf = segment([orjson.dumps(record("com.acme.proxy", "x")), b"log: oops"])
    assert clean_lines(buf, 0, len(buf), COMPACT, BARE, 64) is None


def test_a_compact_segment_finds_records_by_subsystem_not_by_mention():
    lines = [orjson.dumps(record("com.apple.xpc", "activated com.acme.proxy")),
             orjson.dumps(record("com.acme.proxy", "Tunnel up")),
             orjson.dumps(record("com.apple.xpc", "x", "/System/Library/CoreServices/powerd.bundle/powerd"))]
    buf = segment(lines)
    count, compact, hits = clean_lines(buf, 0, len(buf), COMPACT, BARE, 64)
    assert (count, compact) == (3, True)
    assert [i for i, _, _ in hits] == [1, 2]
    assert [buf[a:b] for _, a, b in hits] == lines[1:]


def test_a_spaced_segment_is_searched_with_the_bare_needles():
    lines = [json.dumps(record("com.apple.xpc", "activated com.acme.proxy")).encode(),
             json.dumps(record("com.acme.proxy", "Tunnel up")).encode()]
    buf = segment(lines)
    count, compact, hits = clean_lines(buf, 0, len(buf), COMPACT, BARE, 64)
    assert (count, compact) == (2, False)
    assert [i for i, _, _ in hits] == [0, 1]


def test_a_needle_searched_without_its_closing_quote_still_needs_the_whole_needle():
    """The search drops a needle's final ``"`` and checks the whole needle at each hit: a longer
    subsystem name that starts like the needle's (``com.acme.proxyd``) is no hit, in compact and
    in spaced segments, and a real hit after it on the same segment is still found."""
    for dumps in (orjson.dumps, lambda r: json.dumps(r).encode()):
        lines = [dumps(record("com.acme.proxyd", "x")), dumps(record("com.apple.xpc", "y")),
                 dumps(record("com.acme.proxy", "Tunnel up")), dumps(record("com.acme.proxyd", "z"))]
        buf = segment(lines)
        needles = (b'"subsystem":"' + NAME + b'"',)
        got = clean_lines(buf, 0, len(buf), needles, needles, 0)
        assert got == walk(buf, 0, len(buf), needles, needles, 0)
        assert [i for i, _, _ in got[2]] == ([2] if dumps is orjson.dumps else [])


def test_a_segment_that_does_not_end_with_a_newline_is_not_clean():
    buf = segment([orjson.dumps(record("com.acme.proxy", "x"))] * 3)[:-1]
    assert clean_lines(buf, 0, len(buf), COMPACT, BARE, 64) is None
