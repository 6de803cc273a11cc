"""Ed25519 keys for the twin's hosts and for the rig's client identity.

paramiko cannot generate Ed25519 keys, so ``cryptography`` (already a paramiko dependency) makes
them and writes the OpenSSH formats that paramiko and OpenSSH both read.
"""
from __future__ import annotations

import os
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def new_key(path: Path, comment: str = "") -> paramiko.Ed25519Key:
    """Write a new private key at ``path`` (0600) and its ``.pub``; return it loaded by paramiko."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption())
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    path.with_suffix(".pub").write_text(pub.decode() + (f" {comment}" if comment else "") + "\n")
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def known_hosts_line(host: str, port: int, key: paramiko.PKey) -> str:
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {key.get_name()} {key.get_base64()}"
