"""Is the extension at build X? One answer for the cycle, ``rig install``, ``rig doctor`` and the
pytest session, read from what ``systemextensionsctl list`` prints on the Mac.

A build is named ``kind:version`` (``twin:naive``, ``pkg:1.4.2``) or just a version; the Mac's
listing shows the version inside the extension's line, e.g.::

    *  *  ABCDE12345  com.acme.proxy.extension (1.4.2/1.4.2)  AcmeProxy  [activated enabled]

Lines are compared with their runs of blanks folded to one, so column padding never matters.
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.lab.inventory import Extension

#: The command whose listing says which build is installed (quoted like every remote command).
LIST_ARGV = ("systemextensionsctl", "list")


def version(build: str) -> str:
    """``twin:naive`` -> ``naive``; ``twin:naive@1.4.2`` -> ``1.4.2`` (a labelled twin build, as
    ``rig bisect`` installs it); ``1.4.2`` -> ``1.4.2``: the part the listing shows."""
    tail = build.split(":", 1)[-1]
    return tail.split("@", 1)[1] if build.startswith("twin:") and "@" in tail else tail


def bundle(ext: Extension) -> str:
    """The name the listing shows for the product's extension."""
    return ext.bundle_id or ext.subsystem


@dataclass(frozen=True)
class Installed:
    """What the listing says about one extension and one wanted build."""

    bundle: str
    want: str
    line: str        # the listing's line at the wanted build, else its first line of the bundle
    at_build: bool

    @property
    def found(self) -> str:
        return self.line or "not installed"

    def refusal(self, mac: str, then: str = "install it first (rig install)") -> str:
        """The one sentence every caller gives when the build is wrong."""
        return f"{mac}: extension {self.bundle} is not at build {self.want!r} ({self.found}); {then}"


def installed(listing: str, ext: Extension, build: str) -> Installed:
    """Read ``systemextensionsctl list`` for the product's extension at ``build``."""
    name, want = bundle(ext), version(build)
    lines = [" ".join(ln.split()) for ln in listing.splitlines() if name in ln]
    hit = next((ln for ln in lines if want in ln), None)
    return Installed(name, want, hit if hit is not None else (lines[0] if lines else ""), hit is not None)
