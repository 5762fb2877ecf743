"""A private Mosquitto broker under ``var/`` for development, demos and tests (core/pgcluster.py is the model).

Everything lives in one directory: the generated ``mosquitto.conf``, the password file (one credential per
enterprise gateway, one for the ingest worker), the ACL file (a gateway may publish only under its own enterprise's
topic, the ingest worker may only read), the broker's persistence (a persistent session's queued QoS 1 messages
survive a broker restart) and its log. The plain passwords are kept in ``credentials.json`` (0600), the way the
private PostgreSQL cluster keeps its own; the broker only ever sees their PBKDF2 hashes.

Changing the gateways rewrites the password and ACL files and tells the running broker to reload them (SIGHUP).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.errors import DomainError
from core.pgcluster import port_in_use

INGEST_USER = "onemap-ingest"
TOPIC_ROOT = "onemap/v1"
# mosquitto 2.0's password format: $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>
_PW_ITERATIONS = 101


class BrokerError(DomainError):
    http_status = 503
    code = "broker_unavailable"


def readings_topic(enterprise: str, gateway: str) -> str:
    """Where gateway ``gateway`` of enterprise ``enterprise`` (统一社会信用代码) publishes its readings."""
    return f"{TOPIC_ROOT}/{enterprise}/{gateway}/readings"


def password_hash(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PW_ITERATIONS)
    return f"$7${_PW_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def find_mosquitto() -> str:
    for candidate in (os.environ.get("MOSQUITTO_BIN"), shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise BrokerError("the MQTT broker (mosquitto) is not installed: run `make install-system` "
                      "(Debian: apt-get install mosquitto)", "未找到 MQTT 服务 mosquitto：请运行 make install-system")


@dataclass
class PrivateBroker:
    base: Path
    port: int
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.base = Path(self.base).resolve()

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def conf_file(self) -> Path:
        return self.base / "mosquitto.conf"

    @property
    def passwd_file(self) -> Path:
        return self.base / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.base / "acl"

    @property
    def pid_file(self) -> Path:
        return self.base / "mosquitto.pid"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "mosquitto.log"

    @property
    def secrets_file(self) -> Path:
        return self.base / "credentials.json"

    # -- credentials ---------------------------------------------------------------------------------------
    def _credentials(self) -> dict:
        try:
            return json.loads(self.secrets_file.read_text())
        except FileNotFoundError:
            return {"ingest": secrets.token_urlsafe(24), "gateways": {}}

    def ingest_credentials(self) -> tuple[str, str]:
        return INGEST_USER, self._credentials()["ingest"]

    def gateway_credentials(self, gateway: str) -> tuple[str, str]:
        gateways = self._credentials()["gateways"]
        if gateway not in gateways:
            raise BrokerError(f"gateway {gateway!r} has no broker credential: register it first")
        return gateway, gateways[gateway]["password"]

    def set_gateways(self, gateways: Iterable[tuple[str, str]]) -> None:
        """Give each ``(gateway code, enterprise uscc)`` a credential (kept if it had one) and rewrite the files.
        Gateways not listed lose theirs."""
        creds = self._credentials()
        old = creds["gateways"]
        creds["gateways"] = {code: {"enterprise": uscc,
                                    "password": old.get(code, {}).get("password") or secrets.token_urlsafe(18)}
                             for code, uscc in gateways}
        self._write(creds)

    def _write(self, creds: dict) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        (self.base / "log").mkdir(exist_ok=True)
        (self.base / "data").mkdir(exist_ok=True)
        self.secrets_file.write_text(json.dumps(creds))
        self.secrets_file.chmod(0o600)
        lines = [f"{INGEST_USER}:{password_hash(creds['ingest'])}"]
        lines += [f"{code}:{password_hash(g['password'])}" for code, g in sorted(creds["gateways"].items())]
        self.passwd_file.write_text("\n".join(lines) + "\n")
        acl = [f"user {INGEST_USER}", f"topic read {TOPIC_ROOT}/#", ""]
        for code, g in sorted(creds["gateways"].items()):
            acl += [f"user {code}", f"topic write {TOPIC_ROOT}/{g['enterprise']}/{code}/#", ""]
        self.acl_file.write_text("\n".join(acl))
        for f in (self.passwd_file, self.acl_file):
            f.chmod(0o600)
        self.conf_file.write_text("\n".join([
            "# generated by OneMap (supervision/monitoring/broker.py): edit the gateways, not this file",
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "allow_anonymous false",
            f"password_file {self.passwd_file}",
            f"acl_file {self.acl_file}",
            "persistence true",
            f"persistence_location {self.base / 'data'}/",
            "autosave_interval 1",
            "max_queued_messages 1000000",
            "max_inflight_messages 1000",   # per client: the worker acknowledges a batch at a time
            f"pid_file {self.pid_file}",
            f"log_dest file {self.logfile}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type subscribe",
            "connection_messages true",
            "",
        ]))

    # -- lifecycle ---------------------------------------------------------------------------------------
    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def start(self, timeout: float = 10.0) -> None:
        if self.running():
            return
        if not self.conf_file.exists():
            self._write(self._credentials())
        if port_in_use(self.port, self.host):
            raise BrokerError(f"port {self.port} is already in use by another program: set ONEMAP_MQTT_PORT "
                              "to a free port", f"端口 {self.port} 已被占用：请设置 ONEMAP_MQTT_PORT")
        self.pid_file.unlink(missing_ok=True)
        subprocess.run([find_mosquitto(), "-c", str(self.conf_file), "-d"], check=True, capture_output=True)
        deadline = time.monotonic() + timeout
        while not port_in_use(self.port, self.host):
            if time.monotonic() > deadline:
                raise BrokerError(f"the MQTT broker did not start (log: {self.logfile})")
            time.sleep(0.05)

    def reload(self) -> None:
        """Make the running broker read the password and ACL files again."""
        pid = self._pid()
        if pid is not None:
            os.kill(pid, signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.running() or port_in_use(self.port, self.host):
            if time.monotonic() > deadline:
                raise BrokerError(f"the MQTT broker (pid {pid}) did not stop")
            time.sleep(0.05)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


__all__ = ["INGEST_USER", "TOPIC_ROOT", "BrokerError", "PrivateBroker", "password_hash", "readings_topic"]
