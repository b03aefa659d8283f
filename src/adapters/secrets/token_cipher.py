"""Access tokens at rest: Fernet (AES-128-CBC with HMAC-SHA256) from `cryptography`.

Stored values carry a prefix, so a value written before encryption existed (plain
text) is recognised and encrypted in place at start-up. The key comes from
WAZYBOT_SECRET_KEY or, with the embedded database, from a key file created once
beside its data directory (mode 0600).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Final

import structlog
from cryptography.fernet import Fernet, InvalidToken

from application.gateway import AccessTokenUnreadableError

log = structlog.get_logger(__name__)

ENCRYPTED_PREFIX: Final = "fernet:"
KEY_SETTING: Final = "WAZYBOT_SECRET_KEY"
KEY_FILE_NAME: Final = "secret.key"
_KEY_BYTES: Final = 32


class SecretKeyError(AccessTokenUnreadableError):
    """No key to encrypt with, or a key that does not open what is stored."""


def parse_secret_key(raw: str) -> bytes:
    """A Fernet key from 32 random bytes in base64 (standard or URL-safe alphabet)."""
    text = raw.strip()
    for decode in (base64.urlsafe_b64decode, base64.standard_b64decode):
        try:
            key = decode(text.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
        if len(key) == _KEY_BYTES:
            return base64.urlsafe_b64encode(key)
    raise ValueError(
        f"{KEY_SETTING} must be {_KEY_BYTES} random bytes in base64 "
        "(make one with `openssl rand -base64 32`)"
    )


def key_file_beside(data_dir: Path) -> Path:
    return data_dir.expanduser().resolve().parent / KEY_FILE_NAME


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, or create it with a fresh key if there is none (mode 0600).

    Creation is atomic (a complete temporary file linked into place), so two processes
    starting together end up with the same key.
    """
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")
        try:
            with os.fdopen(descriptor, "wb") as file:  # mkstemp creates it with mode 0600
                file.write(Fernet.generate_key() + b"\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
                log.info("secrets.key_file_created", path=str(path))
        finally:
            os.unlink(temporary)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("secrets.key_file_readable_by_others", path=str(path), mode=oct(mode))
    try:
        return parse_secret_key(path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError) as error:
        raise SecretKeyError(
            f"{path} does not hold a valid key; restore it or set {KEY_SETTING}"
        ) from error


class TokenCipher:
    """Encrypts tokens for storage and opens them for use; never logs them."""

    def __init__(self, key: bytes | None, *, missing_key: str = "") -> None:
        self._fernet = Fernet(key) if key is not None else None
        self._missing_key = missing_key or f"set {KEY_SETTING} to store access tokens"

    @classmethod
    def without_key(cls, reason: str) -> TokenCipher:
        return cls(None, missing_key=reason)

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def encrypt(self, token: str) -> str:
        return ENCRYPTED_PREFIX + self._key().encrypt(token.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The token a stored value holds; a value stored before encryption is returned as is."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._key().decrypt(stored[len(ENCRYPTED_PREFIX) :].encode("ascii")).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored access token cannot be decrypted with this key: set {KEY_SETTING} "
                "to the key it was encrypted with (or store the token again)"
            ) from None

    def _key(self) -> Fernet:
        if self._fernet is None:
            raise SecretKeyError(self._missing_key)
        return self._fernet


def is_encrypted(stored: str) -> bool:
    return stored.startswith(ENCRYPTED_PREFIX)
