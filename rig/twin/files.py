"""A twin Mac's files: one real directory per Mac, its home, reachable by the shell and by SFTP.

The rig fetches large logs the way it does from a real Mac: the shell writes them to a file in the
login user's home (``log show … > F && gzip -f F``), SFTP fetches ``F.gz``, ``rm -f`` removes it.
So a twin Mac needs a file system that both doors see alike. It is ``<twin root>/fs/<mac>/``:

- the twin's shell (``shell.py``) resolves every path it writes, reads or removes there;
- the embedded SSH door serves SFTP with ``RootedSFTP`` over the same directory;
- the OpenSSH door runs OpenSSH's own ``sftp-server`` started in it (``shell_door.py``).

Relative paths are home-relative through every door, which is all the rig uses. Absolute paths are
mapped into the same directory by the twin's shell and embedded SFTP (a twin Mac has no other
files); OpenSSH's sftp-server does not map them, so the rig never sends one.
"""
from __future__ import annotations

import os
from pathlib import Path

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_PERMISSION_DENIED


def files_dir(root: Path, host: str) -> Path:
    """Where the twin keeps ``host``'s files (the shell door derives the same path)."""
    return Path(root) / "fs" / host


class MacFiles:
    """Path resolution confined to one Mac's directory: nothing resolves outside it."""

    def __init__(self, home: Path, faults=None):
        self.home = Path(home)
        self.faults = faults  # rig.twin.faults.Faults: a transfer may be cut half way
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o755)  # the OpenSSH door's sftp-server runs as another user

    def resolve(self, path: str) -> Path:
        """``path`` (relative to home, or absolute on the Mac) -> the real file; refuses ``..`` escapes."""
        rel = os.path.normpath(path.lstrip("/") or ".")
        if rel == ".." or rel.startswith("../"):
            raise PermissionError(f"{path}: outside the Mac's files")
        return self.home / rel


class _Handle(paramiko.SFTPHandle):
    cut = None  # fault: called with (offset, size); True closes the link (rig.twin.faults)

    def read(self, offset, length):
        f = self.readfile
        if self.cut is not None and f is not None:
            size = os.fstat(f.fileno()).st_size
            if offset + length >= size // 2 and size and self.cut():
                self.cut = None
                return SFTP_FAILURE
        return super().read(offset, length)

    def stat(self):
        f = self.readfile or self.writefile
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(f.fileno()))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        return SFTP_OK


class RootedSFTP(paramiko.SFTPServerInterface):
    """paramiko's SFTP server interface over one ``MacFiles`` directory (home = SFTP's ``.``)."""

    def __init__(self, server, files: MacFiles, *args, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.files = files
        self.transport = getattr(server, "transport", None)

    def _path(self, path: str) -> Path:
        return self.files.resolve(path)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except PermissionError:
            return SFTP_PERMISSION_DENIED
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno) if e.errno else SFTP_FAILURE

    def canonicalize(self, path):
        try:
            rel = self._path(path).relative_to(self.files.home)
        except PermissionError:
            return "/"
        return "/" + str(rel) if str(rel) != "." else "/"

    def stat(self, path):
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.stat(self._path(path))))

    def lstat(self, path):
        return self._call(lambda: paramiko.SFTPAttributes.from_stat(os.lstat(self._path(path))))

    def list_folder(self, path):
        def ls():
            d = self._path(path)
            out = []
            for name in sorted(os.listdir(d)):
                attr = paramiko.SFTPAttributes.from_stat(os.lstat(d / name))
                attr.filename = name
                out.append(attr)
            return out
        return self._call(ls)

    def open(self, path, flags, attr):
        def op():
            fd = os.open(self._path(path), flags, 0o644)
            if flags & os.O_WRONLY:
                mode = "ab" if flags & os.O_APPEND else "wb"
            elif flags & os.O_RDWR:
                mode = "a+b" if flags & os.O_APPEND else "r+b"
            else:
                mode = "rb"
            f = os.fdopen(fd, mode)
            h = _Handle(flags)
            h.filename = str(path)
            h.readfile = f if mode != "wb" and mode != "ab" else None
            h.writefile = f if mode != "rb" else None
            if self.files.faults is not None and self.transport is not None and h.readfile is not None:
                h.cut = lambda: self.files.faults.take("sftp_drop") and (self.transport.close() or True)
            return h
        return self._call(op)

    def remove(self, path):
        return self._call(lambda: (os.remove(self._path(path)), SFTP_OK)[1])

    def rename(self, oldpath, newpath):
        return self._call(lambda: (os.rename(self._path(oldpath), self._path(newpath)), SFTP_OK)[1])

    def mkdir(self, path, attr):
        return self._call(lambda: (os.mkdir(self._path(path)), SFTP_OK)[1])

    def rmdir(self, path):
        return self._call(lambda: (os.rmdir(self._path(path)), SFTP_OK)[1])

    def chattr(self, path, attr):
        return self._call(lambda: (os.stat(self._path(path)), SFTP_OK)[1])
