"""``rig install``: put a build of the extension on Macs and check it is the one running.

The package goes over SFTP to a scratch folder, ``sudo -n installer -pkg … -target /`` installs
it (``-n``: never wait for a password prompt that nobody will answer at night), and
``systemextensionsctl list`` must then show the bundle at the expected version, or the install is
a failure however cleanly the installer exited (an extension awaiting user approval looks
installed to the installer). The twin's Macs accept build manifests in place of ``.pkg`` files,
so the same command works on both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rig.drive import extension
from rig.lab.inventory import Lab, Mac
from rig.outcomes import RigError
from rig.drive.ssh import SSHSession

REMOTE_DIR = "rig-install"  # in the login user's home (relative: SFTP and shell agree)


@dataclass
class InstallResult:
    mac: str
    ok: bool
    installed: str
    detail: str = ""


def expected_version(pkg: Path) -> str:
    """``AcmeProxy-1.4.2.pkg`` -> ``1.4.2`` (override with --expect when names differ)."""
    m = re.search(r"(\d+(?:\.\d+)+(?:[-+][\w.\-]+)?)\.pkg$", pkg.name)
    if not m:
        raise RigError(f"cannot tell the version from {pkg.name!r}; pass --expect VERSION")
    return m.group(1)


def listing(ssh: SSHSession) -> str:
    return ssh.run(list(extension.LIST_ARGV)).check().text


def install(lab: Lab, mac: Mac, pkg: Path, expect: str) -> InstallResult:
    clock = lab.clock()
    remote = f"{REMOTE_DIR}/{pkg.name}"
    try:
        with SSHSession(mac.ssh, clock).connect() as ssh:
            ssh.run(["mkdir", "-p", REMOTE_DIR]).check()
            ssh.put(pkg, remote)
            res = ssh.run(["sudo", "-n", "installer", "-pkg", remote, "-target", "/"], timeout=600)
            ssh.run(["rm", "-f", remote])
            if res.status != 0:
                return InstallResult(mac.name, False, "", f"installer exited {res.status}: "
                                     f"{res.err.decode('utf-8', 'replace').strip()[:300]}")
            found = extension.installed(listing(ssh), lab.extension, expect)
    except RigError as e:
        return InstallResult(mac.name, False, "", str(e))
    if not found.at_build:
        return InstallResult(mac.name, False, found.line,
                             f"installed, but systemextensionsctl shows {found.line or 'nothing'}"
                             f" (expected {expect}); approve the extension on the Mac or check the package")
    return InstallResult(mac.name, True, found.line)
