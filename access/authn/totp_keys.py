"""Encryption at rest of TOTP secrets (``users.totp_secret``, ``users.totp_pending_secret``) with Fernet.

The keys are Fernet keys, newest first: the newest encrypts, every one of them decrypts (MultiFernet), so a
key can be rotated without a flag day (``onemap user rotate-totp-key``). They come from, in this order:

* the environment variable named by ``auth.totp.key_env`` (comma-separated), when that is set and non-empty;
* the file ``auth.totp.key_file`` (default ``<paths.var>/secrets/totp.key``; one key a line), created with mode
  0600 when the first secret is encrypted and no key exists yet. A file that others may read is refused.

A stored value is a Fernet token (``gAAAAA…``); a plain base32 value is a secret written before migration
``a002`` or by the demo seeder and is still accepted on read (sign-in re-stores it encrypted).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import DomainError

log = logging.getLogger(__name__)

DEFAULT_KEY_FILE = "secrets/totp.key"   # under paths.var
_CLEAR = re.compile(r"^[A-Z2-7]{16,128}=*$")


class TotpKeyError(DomainError):
    """The TOTP key is missing, malformed, readable by others, or does not open a stored secret (HTTP 503)."""

    http_status = 503
    code = "totp_key_unavailable"
    user_id: int | None = None      # whose sign-in it stopped, for the audit record
    username: str | None = None


def is_sealed(stored: str) -> bool:
    return stored.startswith("gAAAAA")  # Fernet's version byte 0x80, base64url: never valid upper-case base32


def is_clear(stored: str) -> bool:
    return bool(_CLEAR.match(stored))


def fingerprint(key: bytes) -> str:
    """A short name for a key in messages and audit records (a hash: the key itself is never shown)."""
    return hashlib.sha256(key).hexdigest()[:12]


def _parse(text: str, where: str) -> list[bytes]:
    keys = [k.strip().encode("ascii", "replace") for k in re.split(r"[\s,]+", text) if k.strip()]
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise TotpKeyError(f"{where}: not a Fernet key (32 url-safe base64-encoded bytes)",
                               f"{where}：不是有效的 Fernet 密钥") from None
    return keys


class TotpKeys:
    """The key ring of one application (or CLI run). Loaded on first use; the file is re-read when it changes,
    so a rotation by the command line reaches running workers without a restart."""

    def __init__(self, key_file: Path, env_var: str | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.key_file = key_file
        self.env_var = env_var
        self._environ = environ
        self._lock = threading.Lock()
        self._loaded: tuple[Any, list[bytes]] | None = None  # (file signature or "env", keys)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> TotpKeys:
        from core.config import resolve_path

        totp = config["auth"]["totp"]
        path = resolve_path(totp["key_file"]) if totp.get("key_file") else \
            resolve_path(config["paths"]["var"]) / DEFAULT_KEY_FILE
        return cls(path, totp.get("key_env"), environ)

    # -- where the keys are ---------------------------------------------------------------------------------------
    @property
    def from_env(self) -> bool:
        env = os.environ if self._environ is None else self._environ
        return bool(self.env_var and env.get(self.env_var, "").strip())

    def describe(self) -> str:
        return f"${self.env_var}" if self.from_env else str(self.key_file)

    def _read(self) -> tuple[Any, list[bytes]]:
        if self.from_env:
            env = os.environ if self._environ is None else self._environ
            return "env", _parse(env[self.env_var or ""], f"${self.env_var}")
        try:
            info = self.key_file.stat()
        except FileNotFoundError:
            return None, []
        if not stat.S_ISREG(info.st_mode):
            raise TotpKeyError(f"{self.key_file}: not a regular file", f"{self.key_file}：不是普通文件")
        if info.st_mode & 0o077:
            raise TotpKeyError(f"{self.key_file}: readable or writable by others (mode {info.st_mode & 0o777:o}); "
                               f"chmod 600 it", f"{self.key_file}：其他用户可访问（权限 {info.st_mode & 0o777:o}），"
                               f"请执行 chmod 600")
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        keys = _parse(self.key_file.read_text("ascii", "replace"), str(self.key_file))
        return signature, keys

    def _signature(self) -> Any:
        if self.from_env:
            return "env"
        try:
            info = self.key_file.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def keys(self) -> list[bytes]:
        """The keys, newest first (empty when none exists yet)."""
        with self._lock:
            if self._loaded is None or self._loaded[0] != self._signature():
                self._loaded = self._read()
            return list(self._loaded[1])

    def _ring(self, create: bool) -> MultiFernet:
        keys = self.keys()
        if not keys and create and not self.from_env:
            self._create_file()
            keys = self.keys()
        if not keys:
            raise TotpKeyError(f"no TOTP encryption key at {self.describe()} (a deployment that lost it must "
                               f"reset every user's TOTP: `onemap user reset-totp`)",
                               f"未找到 TOTP 加密密钥（{self.describe()}）")
        return MultiFernet([Fernet(k) for k in keys])

    # -- the file ---------------------------------------------------------------------------------------------------
    def _write(self, keys: list[bytes], *, exclusive: bool) -> None:
        """Write atomically with mode 0600: a temporary file beside it, then link (first key) or rename."""
        self.key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".totp-key-", dir=self.key_file.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write("".join(k.decode("ascii") + "\n" for k in keys))
                out.flush()
                os.fsync(out.fileno())
            if exclusive:
                try:
                    os.link(tmp, self.key_file)  # two workers racing to create it: one wins, both use its key
                except FileExistsError:
                    pass
            else:
                os.replace(tmp, self.key_file)
                tmp = ""
        finally:
            if tmp:
                Path(tmp).unlink(missing_ok=True)

    def _create_file(self) -> None:
        self._write([Fernet.generate_key()], exclusive=True)
        log.warning("created TOTP encryption key file %s: back it up with the database backups", self.key_file)

    def add_key(self) -> bytes:
        """Put a new key first in the file (the old ones still decrypt); returns it."""
        if self.from_env:
            raise TotpKeyError(f"the keys come from ${self.env_var}: put the new key first there",
                               f"密钥来自环境变量 ${self.env_var}，请在其中添加新密钥")
        key = Fernet.generate_key()
        self._write([key, *self.keys()], exclusive=False)
        return key

    def drop_old_keys(self) -> int:
        """Keep only the newest key in the file; returns how many were removed."""
        if self.from_env:
            raise TotpKeyError(f"the keys come from ${self.env_var}: remove old keys there",
                               f"密钥来自环境变量 ${self.env_var}，请在其中删除旧密钥")
        keys = self.keys()
        if len(keys) > 1:
            self._write(keys[:1], exclusive=False)
        return max(0, len(keys) - 1)

    # -- secrets ----------------------------------------------------------------------------------------------------
    def seal(self, secret: str) -> str:
        return self._ring(create=True).encrypt(secret.encode("ascii")).decode("ascii")

    def open(self, stored: str) -> str:
        """The base32 secret of a stored value (a legacy clear value is returned as it is)."""
        if not is_sealed(stored):
            if is_clear(stored):
                return stored
            raise TotpKeyError("a stored TOTP secret is neither encrypted nor base32",
                               "存储的 TOTP 密钥格式无效")
        try:
            return self._ring(create=False).decrypt(stored.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise TotpKeyError(f"the TOTP key(s) at {self.describe()} do not decrypt the stored secret: wrong or "
                               f"replaced key file", "TOTP 加密密钥与已存储的密钥不匹配，双因素登录暂不可用，"
                               "请联系系统管理员") from None

    def reseal(self, stored: str) -> str:
        """Encrypted under the newest key (a clear value is encrypted; an old key's token re-encrypted)."""
        if not is_sealed(stored):
            return self.seal(self.open(stored))
        try:
            return self._ring(create=False).rotate(stored.encode("ascii")).decode("ascii")
        except InvalidToken:
            self.open(stored)  # raises the explanatory error
            raise


def check(config: Mapping[str, Any]) -> list[str]:
    """``onemap config check``: an existing key source must be readable only by us and hold valid keys."""
    try:
        TotpKeys.from_config(config).keys()
    except TotpKeyError as exc:
        return [f"auth.totp: {exc.message_en}"]
    return []
