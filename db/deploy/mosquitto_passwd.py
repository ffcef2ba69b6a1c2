"""mosquitto's password file, written here so that no password goes on a command line
(``mosquitto_passwd -b``) and no broker binary is needed to make one.

The format is mosquitto's ``$7$``: ``user:$7$<iterations>$<base64 salt>$<base64 hash>``, the hash
being PBKDF2-HMAC-SHA512 of the password, 64 bytes (mosquitto's ``src/password_mosq.c``; 2.0 and
2.1 read it, 2.1 writes 64-byte salts by default, 2.0 12-byte ones: both are accepted).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 101  # mosquitto_passwd's default (PW_DEFAULT_ITERATIONS)
SALT_BYTES = 12  # what mosquitto 2.0 writes; 2.1 reads any length


def hash_line(user: str, password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    if not user or ":" in user or any(c.isspace() for c in user):
        raise ValueError(f"MQTT user name {user!r}: empty, or holds ':' or white space")
    if not password:
        raise ValueError(f"MQTT user {user!r}: empty password")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"{user}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(line: str, password: str) -> bool:
    """Whether ``password`` matches one line of a password file."""
    user, _, encoded = line.strip().partition(":")
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise ValueError(f"password line of {user!r} is not in mosquitto's $7$ format")
    iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(mine, digest)


def render(passwords: dict[str, str]) -> str:
    return "".join(hash_line(user, password) + "\n" for user, password in passwords.items())
