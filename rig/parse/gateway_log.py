"""Parse a security gateway's log into canonical gateway rows (pure: text in, rows out).

The gateway sees the other side of a sleeping Mac: its session ends by dead-peer detection (DPD)
while the Mac sleeps, and a new one starts when the extension reconnects in a dark wake. Three
formats (``[gateway] format`` in a lab file):

``ocserv``
    journald's ``-o short-iso-precise`` (or rsyslog's RFC 3339) lines::

        2026-11-25T08:30:00.123456+0000 gw-staging ocserv[14860]: main[mac1]:127.0.0.1:36990 new user session

    ``main[USER]:IP:PORT new user session`` -> ``gw_session_start`` (session ``IP:PORT``);
    ``worker[USER]: IP connection timeout (DPD); tearing down connection`` -> ``gw_dpd_timeout``
    (session: the user's open session from that IP, if this log showed it start);
    ``main[USER]:IP:PORT user disconnected (reason: R, rx: N, tx: M)`` -> ``gw_session_end``
    (detail ``R``, e.g. ``DPD timeout``; ``user disconnected`` when the version logs no reason).
    Every other timestamped line is a ``Kind.OTHER`` row, with the user's Mac when it names one.
    ocserv's foreground output (``ocserv[14860]: main: …``, ``note: …``) has no timestamp: such a
    line cannot be an event and is rejected (reason :data:`UNTIMED`).

``strongswan``
    charon's lines through journald/syslog (``charon[PID]:`` or ``charon-systemd[PID]:``) with an
    ISO timestamp, in strongSwan's grammar ``13[IKE] <conn|3> message``:
    ``IKE_SA NAME[ID] established between LOCAL[LID]...REMOTE[RID]`` -> ``gw_session_start``;
    ``DPD check timed out, enforcing DPD action`` and ``giving up after N retransmits`` ->
    ``gw_dpd_timeout``; ``deleting IKE_SA NAME[ID] between …`` -> ``gw_session_end`` (and
    ``IKE_SA deleted`` when no ``deleting`` line already ended that IKE_SA). Session is
    ``NAME[ID]``. The client is the remote identity of the ``established`` line (remembered for
    the IKE_SA's later lines), else the connection name, mapped through ``clients``. Other lines
    (``sending DPD request``, ``retransmit 2 of request …``) are ``Kind.OTHER`` rows.

``jsonl``
    one JSON object a line: ``{"ts": "2026-11-25T08:30:00.5+00:00", "event": "dpd_timeout",
    "user": "mbp-01", "session": "S1", "reason": "DPD timeout"}``; ``event`` is one of
    session_start, keepalive, dpd_timeout, session_end (-> ``gw_*``); another event is a
    ``Kind.OTHER`` row. ``ts`` must carry a UTC offset.

``clients`` maps a gateway user to the Mac it belongs to: ``mac`` is ``clients.get(user, "")``,
so a row of an unknown user (or of no user) has ``mac == ""``. ``host`` is the gateway.
Blank lines and journald's ``-- Boot …`` / ``-- No entries --`` markers are ``skipped``; a line
that cannot be understood is ``rejected`` with its line number and a reason (counted in
:attr:`GatewayParseResult.reject_reasons`). Nothing raises but an unknown ``fmt``.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import orjson

from rig.events import Kind, ParseResult, Source, row
from rig.timestamps import valid_date

__all__ = ["FORMATS", "GatewayParseResult", "parse_gateway", "UNTIMED", "UNPARSED", "BAD_JSON",
           "BAD_TIME", "NO_YEAR"]

UNTIMED = "no timestamp (foreground output: collect the log through journald or syslog)"
UNPARSED = "not a log line of this format"
BAD_JSON = "not a JSON object"
BAD_TIME = "missing or bad 'ts' (ISO-8601 with a UTC offset)"
NO_YEAR = "BSD syslog timestamp without year or offset (use journalctl -o short-iso-precise)"


@dataclass
class GatewayParseResult(ParseResult):
    """A :class:`~rig.events.ParseResult` that also says why lines were rejected."""

    reject_reasons: Counter = field(default_factory=Counter)

    def reject_for(self, line_no: int, reason: str) -> None:
        self.reject(line_no)
        self.reject_reasons[reason] += 1


# ---- shared line structure ---------------------------------------------------------------------

# ISO-8601 with an offset: "2026-11-25T08:30:00.123456+0000", "+00:00" or "Z"
_ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)"
_ISO_PARTS = re.compile(
    r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?:(Z)|([+-]\d\d):?(\d\d))\Z", re.ASCII)
# journald short-iso-precise / RFC 3339 syslog: TS HOST IDENT[PID]: MESSAGE
_JOURNAL = re.compile(
    rf"(?P<ts>{_ISO})\s+(?P<host>\S+)\s+(?P<ident>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?:\s?(?P<msg>.*)\Z",
    re.ASCII | re.S)
_TS_LIKE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)
_BSD_SYSLOG = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d ", re.ASCII)


def _iso(ts: str) -> str | None:
    """An ISO-8601 stamp with its offset normalised to ``+HH:MM`` (``Z`` -> ``+00:00``)."""
    m = _ISO_PARTS.match(ts)
    if m is None or not valid_date(m[1]) or m[2][:2] > "23" or m[2][3:5] > "59" \
            or m[2][6:8] > "59" or (m[4] is not None and (m[4][1:] > "23" or m[5] > "59")):
        return None   # a stamp no clock writes (month 13, 25:00): rejected, not a silent NaT
    off = "+00:00" if m[3] else f"{m[4]}:{m[5]}"
    return f"{m[1]}T{m[2]}{off}"


def _why_not(line: str) -> str:
    """The reason a line of a journal-style format did not parse."""
    s = line.strip()
    if _TS_LIKE.match(s):
        return UNPARSED
    if _BSD_SYSLOG.match(s):
        return NO_YEAR
    return UNTIMED


def _structure(line: str) -> bool:
    """Blank lines and journald's own markers (``-- Boot 1a2b… --``, ``-- No entries --``)."""
    s = line.strip()
    return not s or (s.startswith("-- ") and s.endswith(" --")) or s.startswith("#")


# ---- ocserv ------------------------------------------------------------------------------------

_OC_MAIN = re.compile(
    r"main\[(?P<user>[^\]]*)\]:(?P<ip>\[[0-9A-Fa-f:.]+\]|[0-9.]+|[0-9A-Fa-f:]+):(?P<port>\d+)\s+"
    r"(?P<rest>.*)\Z", re.S)
_OC_WORKER = re.compile(r"worker\[(?P<user>[^\]]*)\]:\s*(?P<ip>\S+)\s+(?P<rest>.*)\Z", re.S)
_OC_DISCONNECTED = re.compile(r"user disconnected(?: \(reason: (?P<reason>[^,)]*))?")
_OC_SECMOD_USER = re.compile(r"user '(?P<u1>[^']*)'|session for (?P<u2>\S+) \(session:")


def _parse_ocserv(text: str, host: str, clients: dict[str, str], res: GatewayParseResult) -> None:
    open_sessions: dict[tuple[str, str], str] = {}    # (user, ip) -> "IP:PORT"
    for no, t, m, msg in _journal_lines(text, res):
        kind, user, session, detail = Kind.OTHER, "", "", msg
        if m["ident"].startswith("ocserv"):
            mm = _OC_MAIN.match(msg)
            mw = _OC_WORKER.match(msg) if mm is None else None
            if mm is not None:
                user = mm["user"]
                session = f"{mm['ip']}:{mm['port']}"
                rest = mm["rest"]
                if rest.startswith("new user session"):
                    kind = Kind.GW_SESSION_START
                    open_sessions[(user, mm["ip"])] = session
                else:
                    d = _OC_DISCONNECTED.match(rest)
                    if d is not None:
                        kind = Kind.GW_SESSION_END
                        detail = (d["reason"] or "").strip() or "user disconnected"
                        if open_sessions.get((user, mm["ip"])) == session:
                            del open_sessions[(user, mm["ip"])]
            elif mw is not None:
                user = mw["user"]
                if mw["rest"].startswith("connection timeout (DPD)"):
                    kind = Kind.GW_DPD_TIMEOUT
                    session = open_sessions.get((user, mw["ip"]), "")
            else:
                s = _OC_SECMOD_USER.search(msg)
                if s is not None:
                    user = s["u1"] if s["u1"] is not None else s["u2"]
        _emit(res, t, m["ts"], host, kind, user, clients, session=session, detail=detail, line=no)


# ---- strongSwan charon -------------------------------------------------------------------------

_CHARON = re.compile(
    r"(?:\d+\[(?P<group>[A-Z]+)\]\s+)?(?:<(?:(?P<conn>[^|>]*)\|)?(?P<uid>\d+)>\s+)?(?P<body>.*)\Z",
    re.S)
# "IKE_SA rw[3] established between 192.0.2.1[gw.lab]...198.51.100.7[mbp-01@lab]"
_IKE_ESTABLISHED = re.compile(
    r"IKE_SA (?P<name>[^\s\[]+)\[(?P<id>\d+)\] established between "
    r"(?P<local>[^\[\s]+)\[(?P<lid>[^\]]*)\]\.\.\.(?P<remote>[^\[\s]+)\[(?P<rid>[^\]]*)\]")
_IKE_DELETING = re.compile(
    r"deleting IKE_SA (?P<name>[^\s\[]+)\[(?P<id>\d+)\] between "
    r"(?:(?P<local>[^\[\s]+)\[(?P<lid>[^\]]*)\]\.\.\.(?P<remote>[^\[\s]+)\[(?P<rid>[^\]]*)\])?")
_DPD_TIMEOUT = re.compile(r"DPD check timed out, enforcing DPD action|giving up after \d+ retransmits")


def _parse_strongswan(text: str, host: str, clients: dict[str, str],
                      res: GatewayParseResult) -> None:
    users: dict[str, str] = {}        # IKE_SA unique id -> client identity
    ended: set[str] = set()           # IKE_SA unique ids already ended by a "deleting" line
    for no, t, m, msg in _journal_lines(text, res):
        kind, user, session, detail = Kind.OTHER, "", "", msg
        if m["ident"].startswith("charon"):
            c = _CHARON.match(msg)
            conn, uid, body = c["conn"] or "", c["uid"] or "", c["body"]
            if uid:
                session = f"{conn}[{uid}]" if conn else uid
            e = _IKE_ESTABLISHED.match(body)
            d = _IKE_DELETING.match(body) if e is None else None
            if e is not None:
                kind = Kind.GW_SESSION_START
                uid = e["id"]
                session = f"{e['name']}[{uid}]"
                users[uid] = _client(clients, e["rid"], e["name"])
                ended.discard(uid)
            elif d is not None:
                kind, detail = Kind.GW_SESSION_END, "deleting IKE_SA"
                uid = d["id"]
                session = f"{d['name']}[{uid}]"
                if uid not in users and d["rid"] is not None:
                    users[uid] = _client(clients, d["rid"], d["name"])
                ended.add(uid)
            elif body.startswith("IKE_SA deleted"):
                if uid and uid not in ended:
                    kind, detail = Kind.GW_SESSION_END, "IKE_SA deleted"
                    ended.add(uid)
            elif _DPD_TIMEOUT.match(body):
                kind = Kind.GW_DPD_TIMEOUT
            user = users.get(uid) or conn
        _emit(res, t, m["ts"], host, kind, user, clients, session=session, detail=detail, line=no)


def _client(clients: dict[str, str], remote_id: str, conn: str) -> str:
    """The gateway user of an IKE_SA: its remote identity, else its connection name if mapped."""
    if remote_id not in clients and conn in clients:
        return conn
    return remote_id


# ---- jsonl -------------------------------------------------------------------------------------

_JSONL_KINDS = {
    "session_start": Kind.GW_SESSION_START,
    "keepalive": Kind.GW_KEEPALIVE,
    "dpd_timeout": Kind.GW_DPD_TIMEOUT,
    "session_end": Kind.GW_SESSION_END,
}


def _parse_jsonl(text: str, host: str, clients: dict[str, str], res: GatewayParseResult) -> None:
    for no, line in _lines(text, res):
        if not line.strip():
            res.skipped += 1
            continue
        try:
            rec = orjson.loads(line)
        except ValueError:      # orjson.JSONDecodeError, and str that is not valid UTF-8
            rec = None
        if not isinstance(rec, dict):
            res.reject_for(no, BAD_JSON)
            continue
        ts = rec.get("ts")
        t = _iso(ts) if isinstance(ts, str) else None
        if t is None:
            res.reject_for(no, BAD_TIME)
            continue
        event = rec.get("event")
        kind = _JSONL_KINDS.get(event, Kind.OTHER) if isinstance(event, str) else Kind.OTHER
        user, session, reason = (_text(rec.get(k)) for k in ("user", "session", "reason"))
        detail = reason if reason or kind is not Kind.OTHER else _text(event)
        _emit(res, t, ts, host, kind, user, clients, session=session, detail=detail, line=no)


def _text(v: object) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


# ---- entry point -------------------------------------------------------------------------------

_PARSERS = {"ocserv": _parse_ocserv, "strongswan": _parse_strongswan, "jsonl": _parse_jsonl}
FORMATS = tuple(_PARSERS)


def parse_gateway(text: str, host: str, fmt: str, clients: dict[str, str]) -> GatewayParseResult:
    """Parse a gateway log of format ``fmt`` (``ocserv``, ``strongswan`` or ``jsonl``).

    ``read == parsed + other + skipped + rejected`` (``read`` counts lines split on ``\\n``; a
    final newline does not start another line); ``line`` numbers are 1-based.
    """
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown gateway log format {fmt!r} (known: {', '.join(FORMATS)})")
    res = GatewayParseResult()
    parser(text, host, dict(clients), res)
    return res


def _journal_lines(text: str, res: "GatewayParseResult"):
    """Journald lines of a syslog-style gateway: (line number, ISO time, match, message).

    Structure lines are counted as skipped and lines that are not journal lines as rejected (with
    the reason) here, so each gateway grammar only reads messages.
    """
    for no, line in _lines(text, res):
        if _structure(line):
            res.skipped += 1
            continue
        m = _JOURNAL.match(line.strip())
        if m is None:
            res.reject_for(no, _why_not(line))
            continue
        t = _iso(m["ts"])
        if t is None:
            res.reject_for(no, UNPARSED)
            continue
        yield no, t, m, m["msg"].strip()


def _lines(text: str, res: ParseResult):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    res.read += len(lines)
    return enumerate(lines, 1)


def _emit(res: ParseResult, t: str, t_raw: str, host: str, kind: Kind, user: str,
          clients: dict[str, str], *, session: str, detail: str, line: int) -> None:
    r = row(t, t_raw, host, Source.GATEWAY, kind, session=session, detail=detail, line=line)
    r["mac"] = clients.get(user, "") if user else ""   # row() would default it to the gateway
    res.rows.append(r)
    if kind is Kind.OTHER:
        res.other += 1
    else:
        res.parsed += 1
