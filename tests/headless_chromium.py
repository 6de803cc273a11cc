"""Open a page in a real headless Chromium and report what a person (and a security reviewer)
would see: a screenshot, the console, every network request, and values read from the live page.

It talks the DevTools protocol over ``--remote-debugging-pipe`` (JSON messages ended by a NUL
byte on file descriptors 3 and 4), so it needs only the stdlib and the Debian ``chromium``
package: no webdriver, no websocket. Each call starts its own browser with a fresh profile and
the flags that keep it off the network (see docs in PEERS.md), and stops it afterwards.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars"]


@dataclass
class Page:
    screenshot: bytes = b""
    console: list = field(default_factory=list)     # (level, text)
    exceptions: list = field(default_factory=list)  # text of uncaught exceptions
    log: list = field(default_factory=list)         # (level, source, text): CSP violations land here
    requests: list = field(default_factory=list)    # every URL the page asked for
    values: dict = field(default_factory=dict)      # expression -> value, read after load

    @property
    def errors(self) -> list:
        return ([t for lvl, t in self.console if lvl in ("error", "assert")] + self.exceptions
                + [t for lvl, _, t in self.log if lvl == "error"])


class _Pipe:
    def __init__(self, proc, write_fd: int, read_fd: int):
        self.proc, self.w, self.r = proc, write_fd, read_fd
        self.events: queue.Queue = queue.Queue()
        self.replies: dict = {}
        self.cond = threading.Condition()
        self.next_id = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cond:
                    self.cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                if "id" in m:
                    with self.cond:
                        self.replies[m["id"]] = m
                        self.cond.notify_all()
                else:
                    self.events.put(m)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while mid not in self.replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"chromium: no reply to {method}")
                self.cond.wait(left)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"chromium: {method}: {reply['error']}")
        return reply.get("result", {})


def open_page(path: Path, expressions: list[str] = (), width: int = 1200, max_height: int = 6000,
              settle_s: float = 0.5, clip_selector: str = "") -> Page:
    """Load ``path`` (a local file) and return what happened; ``expressions`` are evaluated in
    the page after it loaded (their values land in :attr:`Page.values`). ``clip_selector``: shoot
    only the first element it selects (at twice the resolution), else the whole page."""
    profile = tempfile.mkdtemp(prefix="rig-chromium-")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()

    def child_fds():
        # move both ends out of the way first: one of them may already sit on 3 or 4
        a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.dup2(a, 3, inheritable=True)
        os.dup2(b, 4, inheritable=True)

    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                             "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=child_fds, close_fds=False)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    page = Page()
    try:
        targets = pipe.call("Target.getTargets")["targetInfos"]
        target = next(t["targetId"] for t in targets if t["type"] == "page")
        sid = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            pipe.call(f"{domain}.enable", session=sid)
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=sid)
        pipe.call("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=sid)
        loaded, deadline = False, time.monotonic() + 60
        quiet_until = None
        while time.monotonic() < deadline:
            try:
                ev = pipe.events.get(timeout=0.1)
            except queue.Empty:
                if quiet_until and time.monotonic() > quiet_until:
                    break
                continue
            _note(page, ev)
            if ev.get("method") == "Page.loadEventFired" and not loaded:
                loaded = True
                quiet_until = time.monotonic() + settle_s
        if not loaded:
            raise RuntimeError(f"chromium: {path} did not load")
        for expr in expressions:
            r = pipe.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=sid)
            page.values[expr] = r.get("result", {}).get("value")
        size = pipe.call("Page.getLayoutMetrics", session=sid)["cssContentSize"]
        h = int(min(max(size["height"], 1), max_height))
        pipe.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": h, "deviceScaleFactor": 1, "mobile": False}, session=sid)
        params: dict = {"format": "png"}
        if clip_selector:
            r = pipe.call("Runtime.evaluate", {"expression": "(() => {const r = document.querySelector("
                          + json.dumps(clip_selector) + ").getBoundingClientRect();"
                          " return [r.x, r.y + window.scrollY, r.width, r.height];})()",
                          "returnByValue": True}, session=sid)
            x, y, w, hh = r["result"]["value"]
            params["clip"] = {"x": x, "y": y, "width": w, "height": hh, "scale": 2}
        shot = pipe.call("Page.captureScreenshot", params, session=sid)
        page.screenshot = base64.b64decode(shot["data"])
        while not pipe.events.empty():
            _note(page, pipe.events.get_nowait())
        try:
            pipe.call("Browser.close", timeout=5)
        except RuntimeError:
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
    return page


def _note(page: Page, ev: dict) -> None:
    method, p = ev.get("method"), ev.get("params", {})
    if method == "Runtime.consoleAPICalled":
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
        page.console.append((p.get("type"), text))
    elif method == "Runtime.exceptionThrown":
        d = p.get("exceptionDetails", {})
        page.exceptions.append(d.get("exception", {}).get("description") or d.get("text", ""))
    elif method == "Log.entryAdded":
        e = p.get("entry", {})
        page.log.append((e.get("level"), e.get("source"), e.get("text", "")))
    elif method == "Network.requestWillBeSent":
        page.requests.append(p.get("request", {}).get("url", ""))
