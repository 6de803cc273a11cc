"""Parse ``pmset -g log`` text into canonical power rows (pure: text in, rows out).

A ``pmset -g log`` line is ``YYYY-MM-DD HH:MM:SS ±HHMM``, a domain padded to 20 columns (longer
domains unpadded), a TAB (pasted copies have spaces), the message, optionally ``N secs``
(DESIGN.md, "Real formats"). Power lines are classified by their *message*, whatever the domain:

- ``Entering Sleep state due to 'Clamshell Sleep':TCPKeepAlive=active Using AC (Charge:83%) 6 secs``
  -> ``sleep``
- ``Entering DarkWake state due to 'Idle Sleep': Using AC (Charge:0%) 2 secs`` -> ``dark_wake``
  (the machine left full wake for dark wake without sleeping)
- ``DarkWake to FullWake from Invalid [CDNVA] : due to HID Activity Using AC`` -> ``dark_to_full``
- ``DarkWake from …`` / ``Wake from …`` -> ``dark_wake`` or ``full_wake`` by the capability letters
  (``V`` present -> full, ``<off>`` or no ``V`` -> dark); the word decides only when there are no
  letters. Pre-10.15 lines have no `` : `` before ``due to`` and a ``:`` before ``Using``
  (``… [CDNVA] due to EC.LidOpen/Lid Open: Using AC``).

Every line lands in exactly one bucket of :class:`~rig.events.ParseResult`:
power rows are ``parsed``; other timestamped lines (Assertions, Wake Requests, Client Acks,
WakeTime, sleepservices, …) are kept as ``Kind.OTHER`` rows and counted in ``other``; the
structure pmset prints around them (its headers, ``====`` rules, ``UUID:`` and ``Sleep/Wakes
since boot`` lines, indented continuation and assertion-detail lines, a power message pasted
without its stamp, ``...``), blank and ``#`` comment lines are ``skipped``; anything else is
``rejected`` with its line number: a line that starts like a timestamp but cannot be understood
(garbled stamp, no message, a power message that does not follow the grammar, another tool's
timestamp), and a line that is none of pmset's structure (garbage, control bytes, bytes that
were not UTF-8). So garbage is counted as bad, never waved through as "structure".

Pasted samples are tolerated: a surrounding backtick pair (Markdown inline code), Markdown
quote markers (``> ``) and an emphasis marker (``_`` / ``*``) before the timestamp.

Timestamps are not parsed here: ``t`` is the stamp rewritten as ISO-8601 with the line's own
offset (``2025-02-07T07:00:05-05:00``) and converted to UTC once per column in
:func:`rig.frame.to_frame`. The offset is taken per line, so a dump that crosses a DST change
(or a +0530 zone) lands on one UTC axis.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from rig.events import Kind, ParseResult, Source, WakeCause, row
from rig.timestamps import valid_date

__all__ = ["PowerLine", "parse_pmset", "parse_power_message", "wake_cause"]

_A = re.ASCII

# ---- line structure ---------------------------------------------------------------------------
# Every pattern is linear in the line length: blank runs use possessive quantifiers (Python 3.11+)
# and tails are cut from the right with string operations, so a garbled megabyte line cannot hang.

# Markdown decoration before the stamp: indentation, quote markers, backtick / emphasis markers.
_DECOR = re.compile(r"[ \t]*+(?:>[ \t]*+)*+(?P<marks>[`_*]*+)", _A)
# "Starts like a timestamp": four digits, a dash, a digit. Anything else is structure.
_TS_LIKE = re.compile(r"\d{4}-\d", _A)
_TS = re.compile(
    r"(?P<ts>(?P<date>\d{4}-\d{2}-\d{2}) (?P<hh>\d{2}):(?P<mi>\d{2}):(?P<ss>\d{2}) "
    r"(?P<sign>[+-])(?P<oh>\d{2})(?P<om>\d{2}))(?=[ \t]|$)",
    _A,
)
# Domain then message: words joined by single spaces, ended by a TAB or by two or more blanks
# (the padding of pasted copies); the message is the rest.
_DOM_MSG = re.compile(r"(?P<dom>[^ \t]++(?: [^ \t]++)*+)(?:\t|[ \t]{2,})[ \t]*+(?P<msg>.*)", _A | re.S)
# A power message starting inside the text (a domain followed by one blank only).
_POWER_IN = re.compile(
    r"(?:^|(?<= ))(?=(?:Entering (?:Sleep|DarkWake) state|DarkWake to FullWake|(?:DarkWake|Wake) from) )"
)

# ---- power messages ---------------------------------------------------------------------------

_POWER_PREFIX = re.compile(r"(?:Entering (?:Sleep|DarkWake) state|DarkWake to FullWake|(?:DarkWake|Wake) from)\b")
_SLEEP_MSG = re.compile(r"Entering (?P<state>Sleep|DarkWake) state due to(?:[ \t]++(?P<why>.*))?\Z", re.S)
_WAKE_HEAD = re.compile(r"(?P<verb>DarkWake to FullWake|DarkWake|Wake)(?P<from> from)?(?=[ \t])")
_CAPS = re.compile(r"[A-Za-z]*|<off>", _A)
_USING = re.compile(
    r"Using (?P<src>[A-Za-z]++)[ \t]*+(?:\(Charge:[ \t]*+(?P<charge>\d{1,3})[ \t]*+%\))?+[ \t]*+\Z",
    _A,
)
_BLANKS = " \t"
_DIGITS = "0123456789"


@dataclass(frozen=True)
class PowerLine:
    """What one power message says (the message part only, no timestamp or domain)."""

    kind: Kind
    caps: str = ""            # capability letters as written ("CDNVA"), "<off>", "" when absent
    dark: bool = False        # a dark wake (no V); False for sleep, full wake and dark_to_full
    from_state: str = ""      # "Normal Sleep", "Deep Idle", "Standby", "Hibernate", "Invalid"
    reason: str = ""          # text after "due to" without the Using/secs tail
    reason_type: str = ""     # the part after the last "/" of a wake reason ("Lid Open")
    sleep_reason: str = ""    # sleep lines: "Clamshell Sleep", "Software Sleep pid=173", …
    power_source: str = ""    # "AC", "BATT" (upper-cased), "" when absent
    charge: int | None = None
    duration_s: int | None = None
    cause: WakeCause | None = None   # wake lines: what the reason says woke it (wake_cause)


# -- why a Mac woke ------------------------------------------------------------------------------
# A wake reason is "<devices>/<what>" or a bare "<what>". Real lines (tests/data/real/):
#   "EC.RTC/Maintenance", "NUB.SPMI0.SW3 nub-spmi0.0x02 rtc/Maintenance", "ARTC PEG3 RP04/Maintenance"
#   "EC.LidOpen/Lid Open", "GLAN/Lid Open", "GLAN XDCI/HID Activity", "UserActivity Assertion"
#   network: "GLAN/" (the wired LAN alone, pmset_log_issue_adrgumula_oc-m3800_7.txt) and
#   "SMC.OutboxNotEmpty smc.70070000 wifibt wlan/" (Apple silicon, the Wi-Fi chip's WLAN,
#   pmset_log_issue_actuallymentor_battery_226.txt); Intel MacBooks log "EC.ARPT" (AirPort)
#   for packets arriving in sleep, the kernel's "Wake reason: ARPT (Network)".
# What the part after "/" says wins; a bare device list decides only when it says nothing.
_NETWORK_DEVICES = frozenset({"ARPT", "GIGE", "GLAN", "ENET", "WLAN"})
_USER_WHAT = ("lid open", "hid activity", "useractivity", "user", "power button", "powerbutton")


def wake_cause(reason: str) -> WakeCause:
    """Classify a wake reason (the text after ``due to``) by the words above."""
    devices, slash, what = reason.rpartition("/")
    if not slash:
        devices, what = "", reason
    what = what.strip().rstrip(":").strip().lower()
    if "maintenance" in what:
        return WakeCause.MAINTENANCE
    if what.startswith(_USER_WHAT):
        return WakeCause.USER
    if "network" in what or "magic packet" in what:
        return WakeCause.NETWORK
    words = {w.upper() for w in re.split(r"[\s.]+", devices) if w}
    if words & _NETWORK_DEVICES:
        return WakeCause.NETWORK
    if words & {"LIDOPEN", "POWERBUTTON", "PWRB"}:
        return WakeCause.USER
    if "RTC" in words:
        return WakeCause.MAINTENANCE
    return WakeCause.OTHER


def _cut_duration(s: str) -> tuple[str, int | None]:
    """``… 6 secs`` -> (``…``, 6)."""
    if not s.endswith(" secs"):
        return s, None
    head = s[:-5]
    j = len(head)
    while j and head[j - 1] in _DIGITS:
        j -= 1
    if not 0 < len(head) - j <= 12 or (j and head[j - 1] not in _BLANKS):
        return s, None
    return head[:j].rstrip(), int(head[j:])


def _split_tail(why: str) -> tuple[str, str, int | None, int | None]:
    """``reason … Using AC (Charge:83%) 6 secs`` -> (reason, source, charge, duration)."""
    s, duration = _cut_duration(why.rstrip())
    charge = None
    source = ""
    i = s.rfind("Using ")
    if i >= 0 and (i == 0 or s[i - 1] in " \t:"):
        m = _USING.match(s, i)
        if m:
            source = m["src"].upper()
            if m["charge"] is not None:
                charge = int(m["charge"])
            s = s[:i]
    i = s.rfind("TCPKeepAlive=")
    if i >= 0 and (i == 0 or s[i - 1] in " \t:") and not any(c in _BLANKS for c in s[i:].rstrip()):
        s = s[:i]
    return s.strip().rstrip(":").strip(), source, charge, duration


def parse_power_message(msg: str) -> PowerLine | None:
    """Parse the message part of one power line; ``None`` when it is not one."""
    s = msg.strip()
    if not s.startswith(("Entering ", "DarkWake", "Wake from")):
        return None
    m = _SLEEP_MSG.match(s)
    if m:
        reason, source, charge, duration = _split_tail(m["why"] or "")
        if len(reason) >= 2 and reason[0] == "'" and "'" in reason[1:]:
            reason = reason[1 : reason.index("'", 1)]
        if m["state"] == "Sleep":
            kind, dark = Kind.SLEEP, False
        else:
            kind, dark = Kind.DARK_WAKE, True
        return PowerLine(kind=kind, dark=dark, reason=reason, sleep_reason=reason,
                         power_source=source, charge=charge, duration_s=duration)
    m = _WAKE_HEAD.match(s)
    if not m or (m["from"] is None and m["verb"] != "DarkWake to FullWake"):
        return None
    i = s.find("due to", m.end())
    if i < 0 or (len(s) > i + 6 and s[i + 6] not in _BLANKS):
        return None
    head = s[m.end():i].rstrip(_BLANKS)
    if head.endswith(":"):
        head = head[:-1].rstrip(_BLANKS)
    caps = ""
    if head.endswith("]"):
        lb = head.rfind("[")
        if lb < 0 or not _CAPS.fullmatch(head[lb + 1:-1]):
            return None
        caps, head = head[lb + 1:-1], head[:lb]
    from_state = head.strip()
    if any(c in "[]:" for c in from_state):
        return None
    verb = m["verb"]
    why = s[i + 6:]
    reason, source, charge, duration = _split_tail(why)
    if verb == "DarkWake to FullWake":
        kind, dark = Kind.DARK_TO_FULL, False
    else:
        dark = ("V" not in caps) if caps else verb == "DarkWake"
        kind = Kind.DARK_WAKE if dark else Kind.FULL_WAKE
    reason_type = reason.rpartition("/")[2].strip() if "/" in reason else ""
    return PowerLine(kind=kind, caps=caps, dark=dark, from_state=from_state, reason=reason,
                     reason_type=reason_type, power_source=source, charge=charge,
                     duration_s=duration, cause=wake_cause(reason))


def _split_domain(rest: str) -> tuple[str, str]:
    m = _DOM_MSG.match(rest)
    if m:
        dom, msg = m["dom"], m["msg"]
        if " " in dom:  # single-blank separator: the "domain" may have swallowed a power message
            p = _POWER_IN.search(dom)
            if p:
                return dom[: p.start()].rstrip(), rest[p.start():]
        return dom, msg
    p = _POWER_IN.search(rest)
    if p:
        return rest[: p.start()].rstrip(), rest[p.start():]
    dom, _, msg = rest.partition(" ")
    return dom, msg


# What pmset prints around its timestamped lines (see the module docstring), after the decor.
_STRUCTURE = re.compile(
    r"(?:Time stamp\b|={3,}|-{3,}|Sleep/Wakes since boot\b|Total Sleep/Wakes\b|UUID:|\.{3}\Z|…\Z"
    r"|id=\d|pid \d+\(|Kernel Assertions:|No kernel assertions\b|Assertion status|Listed by owning process:"
    r"|Entering (?:Sleep|DarkWake) state\b|DarkWake to FullWake\b|(?:DarkWake|Wake) from\b)", _A)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")


def _is_structure(raw: str, body: str) -> bool:
    """A line without a stamp that pmset itself prints (a header, a detail, a continuation)."""
    if _CONTROL.search(raw.rstrip("\r")):
        return False
    return raw[:1] in (" ", "\t") or _STRUCTURE.match(body) is not None


def parse_pmset(text: str, host: str) -> ParseResult:
    """Parse a whole ``pmset -g log`` dump (or a pasted piece of one).

    ``read == parsed + other + skipped + rejected`` always holds; ``read`` counts lines split on
    ``\\n`` (a final newline does not start another line) and ``line`` numbers are 1-based.
    """
    res = ParseResult()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    res.read = len(lines)
    rows = res.rows
    pmset = Source.PMSET
    for no, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped[0] == "#":
            res.skipped += 1
            continue
        d = _DECOR.match(raw)
        body = raw[d.end():]
        if not _TS_LIKE.match(body):
            if _is_structure(raw, body):
                res.skipped += 1  # header, UUID:, separator, continuation line
            else:
                res.reject(no)
            continue
        marks = d["marks"]
        body = body.rstrip()
        if marks:
            body = body.rstrip(marks).rstrip()
        m = _TS.match(body)
        if (m is None or not valid_date(m["date"]) or m["hh"] > "23" or m["mi"] > "59"
                or m["ss"] > "59" or m["oh"] > "23" or m["om"] > "59"):
            res.reject(no)
            continue
        _domain, msg = _split_domain(body[m.end():].strip())  # the domain is not a column
        msg = msg.strip()
        if not msg:
            res.reject(no)
            continue
        t = f"{m['date']}T{m['hh']}:{m['mi']}:{m['ss']}{m['sign']}{m['oh']}:{m['om']}"
        if _POWER_PREFIX.match(msg):
            pl = parse_power_message(msg)
            if pl is None:
                res.reject(no)  # looks like a power line but does not follow the grammar
                continue
            rows.append(row(t, m["ts"], host, pmset, pl.kind, detail=msg, caps=pl.caps, line=no))
            res.parsed += 1
        else:
            rows.append(row(t, m["ts"], host, pmset, Kind.OTHER, detail=msg, line=no))
            res.other += 1
    return res
