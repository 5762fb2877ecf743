"""A private PostgreSQL + PostGIS cluster under ``var/`` for development, demos and tests.

Uses the system's ``initdb``/``pg_ctl``. PostgreSQL refuses to run as root, so as root every server binary runs
through ``runuser -u postgres`` and the cluster directory belongs to ``postgres``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import DomainError

EXTENSIONS = ("postgis", "postgis_raster", "pgrouting", "pg_trgm")
APP_ROLE = "onemap"
# What a throwaway cluster (``durable=False``: the test suite) trades for speed. A crash can then lose acknowledged
# commits (synchronous_commit) or corrupt the cluster (fsync, full_page_writes): never for data anyone keeps.
NON_DURABLE_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class ClusterError(DomainError):
    http_status = 503
    code = "database_unavailable"


def _is_root() -> bool:
    return os.geteuid() == 0


def find_bindir() -> Path:
    """The newest PostgreSQL server bindir that has initdb (``PG_BINDIR`` overrides)."""
    if os.environ.get("PG_BINDIR"):
        candidates = [Path(os.environ["PG_BINDIR"])]
    else:
        root = Path("/usr/lib/postgresql")
        versions = sorted((p for p in root.glob("*") if p.name.isdigit()), key=lambda p: int(p.name), reverse=True)
        candidates = [p / "bin" for p in versions]
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise ClusterError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: run `make install-system` "
        "(Debian: apt-get install postgresql-15-postgis-3 postgresql-15-pgrouting) or set DATABASE_URL",
        "未找到 PostgreSQL 服务端程序：请运行 make install-system，或设置 DATABASE_URL",
    )


def check_extensions_installed(bindir: Path) -> None:
    """Fail early, naming the package, when PostGIS or pgRouting is missing for this PostgreSQL version."""
    version = bindir.parent.name
    share = Path(f"/usr/share/postgresql/{version}/extension")
    missing = {
        "postgis": f"postgresql-{version}-postgis-3",
        "pgrouting": f"postgresql-{version}-pgrouting",
    }
    absent = [pkg for ext, pkg in missing.items() if not (share / f"{ext}.control").exists()]
    if absent and share.exists():
        raise ClusterError(
            f"PostgreSQL {version} lacks extensions: install {' '.join(absent)} (or run `make install-system`)",
            f"PostgreSQL {version} 缺少扩展：请安装 {' '.join(absent)}",
        )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _reachable_by_postgres(path: Path) -> bool:
    """Whether the postgres user can traverse every ancestor of ``path`` (mktemp dirs are 0700)."""
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    result = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], capture_output=True)
    return result.returncode == 0


@dataclass
class PrivateCluster:
    base: Path
    port: int
    dbname: str = "onemap"
    # what each module needs done by a superuser on a new database ("module:function(conn, app_role)");
    # None: the installed modules' Manifest.cluster_setup (access control: the audit log's owner and hardening)
    setup: tuple[str, ...] | None = None
    # Durable unless a caller says otherwise: an acknowledged incident, order or audit row must survive a power cut
    # or a killed container. Only the test suite opts out (its clusters are thrown away after the session).
    durable: bool = True
    # WAL archiving (core.backup.BackupSettings: prepare() and archive_options()): the cluster archives every finished
    # WAL segment; None: it does not
    archive: Any = None

    def __post_init__(self) -> None:
        self.base = Path(self.base).resolve()
        if _is_root() and not _reachable_by_postgres(self.base):
            # The checkout lives where the postgres user cannot go (e.g. a 0700 temp dir): keep the cluster in
            # a per-checkout directory under /var/tmp instead of loosening the user's permissions.
            digest = hashlib.sha1(str(self.base).encode()).hexdigest()[:12]
            self.base = Path("/var/tmp") / f"onemap-pg-{digest}"

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "postgresql.log"

    @property
    def secrets_file(self) -> Path:
        return self.base / "credentials.json"

    # -- helpers -----------------------------------------------------------------------------------------
    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["runuser", "-u", "postgres", "--", *args] if _is_root() else args
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"{Path(args[0]).name} failed: {' | '.join(tail)} (log: {self.logfile})")
        return result

    def _credentials(self) -> dict[str, str]:
        try:
            return json.loads(self.secrets_file.read_text())
        except FileNotFoundError:
            raise ClusterError(
                f"no private cluster in {self.base}: run `onemap db up`", "私有数据库未初始化：请运行 onemap db up"
            ) from None

    def url(self, superuser: bool = False, dbname: str | None = None) -> str:
        creds = self._credentials()
        user, password = ("postgres", creds["superuser"]) if superuser else (APP_ROLE, creds["app"])
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{dbname or self.dbname}"

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists() and self.secrets_file.exists()

    def running(self) -> bool:
        if not self.initialised:
            return False
        bindir = find_bindir()
        return self._run([str(bindir / "pg_ctl"), "status", "-D", str(self.data)], check=False).returncode == 0

    def init(self) -> None:
        bindir = find_bindir()
        check_extensions_installed(bindir)
        if self.data.exists() and any(self.data.iterdir()):
            if self.initialised:
                return
            shutil.rmtree(self.data)  # a half-made cluster from an interrupted init: start again
        for d in (self.base, self.data, self.run_dir, self.logfile.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        creds = {"superuser": secrets.token_urlsafe(24), "app": secrets.token_urlsafe(24)}
        pwfile = self.base / "pwfile"
        pwfile.write_text(creds["superuser"] + "\n")
        if _is_root():
            shutil.chown(self.base, "postgres", "postgres")
            for d in (self.data, self.run_dir, self.logfile.parent, pwfile):
                shutil.chown(d, "postgres", "postgres")
        try:
            self._run([
                str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                f"--pwfile={pwfile}", "--encoding=UTF8", "--locale=C.UTF-8",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self.secrets_file.write_text(json.dumps(creds))
        self.secrets_file.chmod(0o600)

    def durability(self) -> dict[str, str]:
        """What the running server says of each setting a non-durable cluster turns off (``SHOW``)."""
        import psycopg

        creds = self._credentials()
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=creds["superuser"],
                             dbname="postgres", autocommit=True) as conn:
            return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in NON_DURABLE_SETTINGS}

    def _durable_or_unknown(self) -> bool:
        import psycopg

        try:
            return all(v == "on" for v in self.durability().values())
        except psycopg.Error:
            return True  # not reachable on our port (another configuration started it): leave it alone

    def _archiving_as_asked(self) -> bool:
        import psycopg

        creds = self._credentials()
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=creds["superuser"],
                                 dbname="postgres", autocommit=True) as conn:
                mode = conn.execute("SHOW archive_mode").fetchone()[0]
        except psycopg.Error:
            return True  # not reachable on our port: leave it alone
        return (mode == "on") == (self.archive is not None)

    def start(self) -> None:
        if self.running():
            if (not self.durable or self._durable_or_unknown()) and self._archiving_as_asked():
                return
            # started non-durable by an earlier version of this module, or archiving when it should not (or the
            # other way round): both settings take a restart
            self.stop()
        if port_in_use(self.port):
            raise ClusterError(
                f"port {self.port} is already in use by another program: set ONEMAP_PG_PORT to a free port "
                "or DATABASE_URL to an existing PostGIS",
                f"端口 {self.port} 已被其他程序占用：请设置 ONEMAP_PG_PORT 或 DATABASE_URL",
            )
        bindir = find_bindir()
        opts = (f"-p {self.port} -k {self.run_dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                "-c shared_buffers=256MB -c work_mem=16MB")
        if not self.durable:
            opts += " " + " ".join(f"-c {name}={value}" for name, value in NON_DURABLE_SETTINGS.items())
        if self.archive is not None:
            self.archive.prepare()
            opts += " " + " ".join(f"-c {shlex.quote(setting)}" for setting in self.archive.archive_options())
        self._run([str(bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.logfile),
                   "-o", opts])

    def stop(self) -> None:
        if not self.running():
            return
        self._run([str(find_bindir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data)])

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def ensure_database(self) -> None:
        """Create the app role, the database and its extensions (idempotent)."""
        import psycopg
        from psycopg import sql

        creds = self._credentials()
        admin = dict(host="127.0.0.1", port=self.port, user="postgres", password=creds["superuser"])
        with psycopg.connect(dbname="postgres", autocommit=True, **admin) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(creds["app"])))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,)).fetchone():
                conn.execute(f'CREATE DATABASE "{self.dbname}" OWNER {APP_ROLE}')
        with psycopg.connect(dbname=self.dbname, autocommit=True, **admin) as conn:
            for ext in EXTENSIONS:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
            conn.execute(f"GRANT ALL ON SCHEMA public TO {APP_ROLE}")
            # e.g. the audit log's owner role + hardening function: only a superuser can put the log out of the
            # app role's reach (access/audit/schema.py); migrations call the function.
            from core.manifest import collect, load

            for reference in self.setup if self.setup is not None else collect(None, "cluster_setup"):
                load(reference)(conn, APP_ROLE)

    def recreate_database(self) -> None:
        """Drop the database (closing its sessions) and create it anew, empty (``onemap demo build`` over a demo
        city of another build: case histories and the audit log are append-only and cannot be reloaded in place)."""
        import psycopg

        creds = self._credentials()
        with psycopg.connect(dbname="postgres", autocommit=True, host="127.0.0.1", port=self.port, user="postgres",
                             password=creds["superuser"]) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
        self.ensure_database()

    def up(self) -> None:
        self.init()
        self.start()
        self.ensure_database()
