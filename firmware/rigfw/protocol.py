"""Protocol v1, the actuator's side: the one copy of the firmware's logic.

The board (``firmware/main.py`` on an RP2040 under MicroPython), the simulated board (the same
``main.py`` on MicroPython's unix port) and the twin (``rig/twin/firmware.py`` under CPython)
all import this module, so what the rig meets on a pty in CI is what a rack meets on USB.
It is MicroPython-compatible Python (``mpy-cross`` compiles it in a test): no dataclasses, no
typing, no ordered dicts, no ``str.isprintable``; it touches no hardware and no clock itself.
A *pin layer* does that (``board_rp2.py``, ``board_sim.py``, the twin's ``TwinPins``)::

    now_us()            a microsecond clock that does not wrap (``at=`` in every reply)
    lid(ch, closed)     move the lid mechanism (servo arm, or electromagnet on/off)
    press(ch, ms)       close the power-button relay (released by ``release``)
    release(ch)         open the power-button relay
    ac(ch, on)          the AC relay (its normally-closed contact powers the Mac)

How a request becomes a reply (``docs/actuator.md`` is the contract):

1. **Framing** (:class:`Framer`): bytes in, lines out, at ``\\n`` or ``\\r`` (a terminal's
   Enter). A line over :data:`MAX_LINE` bytes is kept only as far as needed to refuse it, so
   line noise cannot eat the board's RAM.
2. **Parsing** (:func:`parse_request`): ``<id> <VERB> [args]``, printable ASCII only. Anything
   else is refused with ``ERR 1`` and the line's id, or ``?`` when it has none.
3. **Recent ids** (:class:`Recent`): the reply to each of the last :data:`RECENT` *actions*
   (LID, PWR, AC) is kept by id. The same request again (a retry) gets the same reply and is
   not acted on twice (a doubled power press puts a Mac straight back to sleep). The same id
   for a *different* request is refused, never answered with another request's reply.
4. **Acting** (:class:`Board`): every channel starts in its safe state at boot (button
   released, AC on, lid open). A press is bounded (1..:data:`MAX_PRESS_MS` ms) and held
   without blocking: the reply comes when the button is released (``at=`` is when it went
   down), and meanwhile other requests are served; a second press on the same channel is
   ``ERR 3`` (busy). A pin layer that raises is ``ERR 4`` (hardware fault).
5. **Replies** (:func:`format_ok`, :func:`format_err`): ``<id> OK k=v …`` with ``at=<µs>``,
   ``<id> ERR <code> <text>``; PING also says ``fw``, ``proto``, ``channels`` and ``boot``, the
   id random per boot that lets the rig tell a reset board (which forgot every id) from a slow one.
"""

PROTOCOL = 1
VERSION = "1.0.0"
VERBS = ("PING", "LID", "PWR", "AC", "STATUS")
ACTIONS = ("LID", "PWR", "AC")

ERR_BAD = 1       # not protocol v1: unknown verb, bad arguments, a press out of bounds
ERR_CHANNEL = 2   # no such channel
ERR_BUSY = 3      # the channel is still pressing its button
ERR_HARDWARE = 4  # the pin layer failed

MAX_LINE = 96        # bytes in a request line; the longest valid one is about 40
MAX_ID = 32          # characters in a request id
MAX_PRESS_MS = 10000  # a Mac forces itself off after ~10 s held; the rig's longest press is 6 s
RECENT = 64          # action replies remembered; a retry comes within seconds
NO_ID = "?"          # the id of a reply to a line that had none
ID_CHARS = "-_.:"    # allowed in ids besides letters and digits


class Refused(ValueError):
    """A request that is answered ``<rid> ERR <code> <text>``."""

    def __init__(self, code, text, rid=NO_ID):
        super().__init__(text)
        self.code = code
        self.text = text
        self.rid = rid


def id_ok(word):
    """An id is 1..MAX_ID ASCII letters, digits or ``-_.:`` (the rig sends decimal numbers)."""
    if not 0 < len(word) <= MAX_ID:
        return False
    for c in word:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in ID_CHARS):
            return False
    return True


def digits(word):
    """ASCII decimal digits only (CPython's ``str.isdigit`` also takes "²", MicroPython's not)."""
    if not word:
        return False
    for c in word:
        if not "0" <= c <= "9":
            return False
    return True


def decode_line(raw):
    """bytes -> str; anything but printable ASCII (line noise, a wrong baud rate) is refused."""
    for b in raw:
        if b < 0x20 or b > 0x7E:
            raise Refused(ERR_BAD, "not protocol v1: control or non-ASCII bytes")
    return raw.decode()


def parse_request(line):
    """One request line (str) -> ``(rid, verb, channel, arg, ms)``; raises :class:`Refused`.

    Verbs and their words are case-insensitive (a person at a terminal types ``lid 1 close``).
    ``ms`` is any decimal here: the press bound is the board's to enforce (``ERR 1`` too).
    """
    parts = line.split()
    if not parts:
        raise Refused(ERR_BAD, "empty request")
    if not id_ok(parts[0]):
        raise Refused(ERR_BAD, "bad id: expected '<id> <VERB> [args]' with an id of up to %d "
                               "letters, digits or %s" % (MAX_ID, ID_CHARS))
    rid = parts[0]
    if len(parts) < 2:
        raise Refused(ERR_BAD, "expected '<id> <VERB> [args]'", rid)
    verb, args = parts[1].upper(), parts[2:]
    if verb not in VERBS:
        raise Refused(ERR_BAD, "unknown verb " + verb, rid)
    if verb == "PING":
        if args:
            raise Refused(ERR_BAD, "PING: takes no arguments", rid)
        return (rid, verb, 0, "", 0)
    if not args or not digits(args[0]):
        raise Refused(ERR_BAD, verb + ": channel number required", rid)
    ch = int(args[0])
    words = [a.upper() for a in args[1:]]
    if verb == "LID" and len(words) == 1 and words[0] in ("CLOSE", "OPEN"):
        return (rid, verb, ch, words[0], 0)
    if verb == "AC" and len(words) == 1 and words[0] in ("ON", "OFF"):
        return (rid, verb, ch, words[0], 0)
    if verb == "PWR" and len(words) == 2 and words[0] == "PRESS" and digits(words[1]):
        return (rid, verb, ch, "PRESS", int(words[1]))
    if verb == "STATUS" and not words:
        return (rid, verb, ch, "", 0)
    raise Refused(ERR_BAD, verb + ": bad arguments " + " ".join(args), rid)


def format_ok(rid, pairs=()):
    """``<rid> OK k=v …\\n`` as bytes; ``pairs`` in order (MicroPython's dicts keep none)."""
    out = rid + " OK"
    for k, v in pairs:
        out += " " + k + "=" + str(v)
    return (out + "\n").encode()


def format_err(rid, code, text):
    return (rid + " ERR " + str(code) + " " + text + "\n").encode()


class Framer:
    """Bytes in, lines out (without their terminator). A line over :data:`MAX_LINE` bytes
    comes out cut to ``MAX_LINE + 1`` bytes, which :meth:`Board.handle` refuses."""

    def __init__(self):
        self.buf = b""
        self.overlong = False

    def push(self, data):
        lines = []
        buf = self.buf + bytes(data)
        while True:
            i = _line_end(buf)
            if i < 0:
                break
            line, buf = buf[:i], buf[i + 1:]
            if self.overlong:
                line, self.overlong = b"x" * (MAX_LINE + 1), False
            lines.append(line)
        if len(buf) > MAX_LINE:
            buf, self.overlong = b"", True
        self.buf = buf
        return lines


def _line_end(buf):
    n, r = buf.find(b"\n"), buf.find(b"\r")
    if n < 0:
        return r
    return n if r < 0 or n < r else r


class Recent:
    """The replies to the last :data:`RECENT` action requests, by id: ``(request, reply)``,
    ``reply`` ``None`` while its press is still held."""

    def __init__(self, size=RECENT):
        self.size = size
        self.order = []
        self.entries = {}

    def get(self, rid):
        return self.entries.get(rid)

    def put(self, rid, request, reply):
        if rid not in self.entries:
            self.order.append(rid)
        self.entries[rid] = (request, reply)
        while len(self.order) > self.size:
            del self.entries[self.order.pop(0)]

    def __len__(self):
        return len(self.order)


class Board:
    """Protocol v1 over a pin layer: :meth:`handle` a line, :meth:`poll` for presses that ended.

    ``on_act(rid, what, at_us)`` (optional) hears every action as it is done, e.g.
    ``("17", "PWR 1 PRESS", 1234)``: the twin's record of what it did.
    """

    def __init__(self, pins, channels, fw, boot, on_act=None):
        self.pins = pins
        self.channels = channels
        self.fw = fw
        self.boot = boot
        self.proto = PROTOCOL
        self.on_act = on_act
        self.recent = Recent()
        self.framer = Framer()
        self.closed = [False] * (channels + 1)  # index 0 unused: channels count from 1
        self.powered = [True] * (channels + 1)
        self.held = []  # presses in progress: [channel, rid, request, at_us, until_us]
        for ch in range(1, channels + 1):
            self.safe(ch)

    def safe(self, ch):
        """A channel's safe state: button released, AC on, lid open (a reset must never
        leave a button held or a Mac unpowered)."""
        self.pins.release(ch)
        self.pins.ac(ch, True)
        self.pins.lid(ch, False)

    # -- requests ---------------------------------------------------------------------------
    def feed(self, data):
        """Bytes from the host -> the replies to send now."""
        out = []
        for line in self.framer.push(data):
            reply = self.handle(line)
            if reply:
                out.append(reply)
        return out

    def handle(self, raw):
        """One line (bytes) -> its reply, or ``None`` (a blank line; a press still held)."""
        if len(raw) > MAX_LINE:
            return format_err(NO_ID, ERR_BAD, "line over %d bytes" % MAX_LINE)
        if not raw.strip():
            return None
        try:
            rid, verb, ch, arg, ms = parse_request(decode_line(raw))
            return self.dispatch(rid, verb, ch, arg, ms)
        except Refused as e:
            return format_err(e.rid, e.code, e.text)

    def dispatch(self, rid, verb, ch, arg, ms):
        now = self.pins.now_us()
        if verb == "PING":
            pairs = [("fw", self.fw), ("proto", self.proto), ("channels", self.channels)]
            if self.boot:
                pairs.append(("boot", self.boot))
            return format_ok(rid, pairs + [("at", now)])
        if not 1 <= ch <= self.channels:
            raise Refused(ERR_CHANNEL, "no channel %d" % ch, rid)
        if verb == "STATUS":
            return format_ok(rid, [("lid", "closed" if self.closed[ch] else "open"),
                                   ("ac", "on" if self.powered[ch] else "off"), ("at", now)])
        request = "%s %d %s" % (verb, ch, arg) + (" %d" % ms if verb == "PWR" else "")
        seen = self.recent.get(rid)
        if seen is not None:
            if seen[0] != request:
                raise Refused(ERR_BAD, "id %s was already used for %s" % (rid, seen[0]), rid)
            return seen[1]  # a retry: the same answer, no second action (None: still pressing)
        reply = self.act(rid, verb, ch, arg, ms, now, request)
        if reply is not None:
            self.recent.put(rid, request, reply)
        return reply

    def act(self, rid, verb, ch, arg, ms, now, request):
        if verb == "PWR":
            if not 1 <= ms <= MAX_PRESS_MS:
                raise Refused(ERR_BAD, "PWR: a press of %d ms is outside 1..%d ms" % (ms, MAX_PRESS_MS), rid)
            if self.pressing(ch):
                raise Refused(ERR_BUSY, "channel %d is still pressing its button" % ch, rid)
            self.pin(rid, self.pins.press, ch, ms)
            self.held.append([ch, rid, request, now, now + ms * 1000])
            self.recent.put(rid, request, None)
            self.acted(rid, "PWR %d PRESS" % ch, now)
            return None
        if verb == "LID":
            self.pin(rid, self.pins.lid, ch, arg == "CLOSE")
            self.closed[ch] = arg == "CLOSE"
        else:
            self.pin(rid, self.pins.ac, ch, arg == "ON")
            self.powered[ch] = arg == "ON"
        self.acted(rid, "%s %d %s" % (verb, ch, arg), now)
        return format_ok(rid, [("at", now)])

    def pin(self, rid, fn, ch, value):
        try:
            fn(ch, value)
        except Exception as e:  # noqa: BLE001 - whatever the pin layer raised is a hardware fault
            raise Refused(ERR_HARDWARE, "channel %d: %s" % (ch, e), rid)

    def acted(self, rid, what, at):
        if self.on_act is not None:
            self.on_act(rid, what, at)

    # -- presses in progress ----------------------------------------------------------------
    def pressing(self, ch):
        for p in self.held:
            if p[0] == ch:
                return True
        return False

    def due_us(self):
        """When the next held press ends (``None``: nothing held): how long the loop may sleep."""
        return min([p[4] for p in self.held]) if self.held else None

    def poll(self):
        """Release every press whose time is up -> their replies (``at=`` when it went down)."""
        out = []
        if not self.held:
            return out
        now = self.pins.now_us()
        for p in [p for p in self.held if p[4] <= now]:
            self.held.remove(p)
            ch, rid, request, at = p[0], p[1], p[2], p[3]
            try:
                self.pins.release(ch)
                reply = format_ok(rid, [("at", at)])
            except Exception as e:  # noqa: BLE001 - the button may still be held: say so
                reply = format_err(rid, ERR_HARDWARE, "channel %d: release failed: %s" % (ch, e))
            self.recent.put(rid, request, reply)
            out.append(reply)
        return out
