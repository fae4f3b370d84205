"""Real servers for the tests: a private PostgreSQL cluster, the Unleash server, and the Secret Service keyring.

Each server starts once per test session, on first use, so only the tests that need it pay. A server whose
binaries are missing skips its tests on a developer machine and fails them in CI (CI=true), where
scripts/run-tests provisions everything.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PostgresServer",
    "UnleashServer",
    "postgres_server",
    "pytest_runtest_makereport",
    "secret_service",
    "unleash_server",
]

TESTS = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI", "").lower() == "true"
UNLEASH_START_DEADLINE = 120.0  # seconds; a fresh database is migrated first (about 7 s on 2 cores)


def unavailable(reason: str) -> None:
    """Skip on a developer machine that lacks a component; fail in CI, which must have everything."""
    if IN_CI:
        pytest.fail(f"{reason} (CI provides it through scripts/run-tests)", pytrace=False)
    pytest.skip(f"{reason}; run scripts/run-tests to provision it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- PostgreSQL -------------------------------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists():
            return bindir
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """A private cluster for this test session: trust auth, superuser `postgres`, on 127.0.0.1."""

    bindir: Path
    folder: Path
    port: int
    owner_prefix: list[str]
    host: str = "127.0.0.1"
    user: str = "postgres"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of a database (psycopg 3 driver), as `open_workspace` takes it."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str) -> str:
        """The plain libpq URL of a database, as Node, psql and psycopg take it."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        subprocess.run(
            [str(self.bindir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user, name],
            check=True, capture_output=True, text=True,
        )
        return self.url(name)

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.owner_prefix, str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), *args],
            capture_output=True, text=True,
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable("PostgreSQL is not installed (no initdb)")
    folder = Path(tempfile.mkdtemp(prefix="launchdesk-pg-"))
    owner_prefix: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: the cluster belongs to the `postgres` account.
        shutil.chown(folder, user="postgres")
        owner_prefix = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bindir=bindir, folder=folder, port=free_port(), owner_prefix=owner_prefix)
    init = subprocess.run(
        [*owner_prefix, str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--locale=C", "--no-sync"],
        capture_output=True, text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
    # fsync off: a test cluster need not survive a power cut, and it makes every commit cheap.
    options = f"-k {folder} -h {server.host} -p {server.port} -F"
    start = server.pg_ctl("-l", str(folder / "server.log"), "-o", options, "-w", "-t", "60", "start")
    if start.returncode != 0:
        log = log_tail(folder / "server.log")
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start:\n{start.stdout}{start.stderr}\n{log}", pytrace=False)
    try:
        yield server
    finally:
        server.pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


# --- Unleash ----------------------------------------------------------------------------------------------------


@dataclass
class UnleashServer:
    """A running Unleash server: its URL, an admin token and a backend (client API) token for `development`."""

    base_url: str
    admin_token: str
    client_token: str
    log_path: Path


@pytest.fixture(scope="session")
def unleash_server(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UnleashServer]:
    import httpx

    node = shutil.which("node")
    if node is None or not (TESTS / "node_modules" / "unleash-server").is_dir():
        unavailable("The Unleash server is not installed (needs node and tests/node_modules/unleash-server)")
    postgres_server.create_database("unleash")
    folder = tmp_path_factory.mktemp("unleash")
    log_path, port_file = folder / "unleash.log", folder / "port"
    # Tokens made up for this run: an admin token for the Admin API and a backend token for the client API.
    admin_token = f"*:*.{secrets.token_hex(20)}"
    client_token = f"*:development.{secrets.token_hex(20)}"
    env = {
        **os.environ,
        "DATABASE_URL": postgres_server.dsn("unleash"),
        "DATABASE_SSL": "false",
        "HTTP_PORT": "0",
        "INIT_ADMIN_API_TOKENS": admin_token,
        "INIT_BACKEND_API_TOKENS": client_token,
        "LAUNCHDESK_PORT_FILE": str(port_file),
        "CHECK_VERSION": "false",
        "SEND_TELEMETRY": "false",
        "TZ": "UTC",
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [node, str(TESTS / "servers" / "unleash.js")], cwd=TESTS, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        base_url = _wait_for_unleash(process, port_file, log_path, httpx)
        yield UnleashServer(base_url, admin_token, client_token, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_unleash(process: subprocess.Popen[bytes], port_file: Path, log_path: Path, httpx: object) -> str:
    deadline = time.monotonic() + UNLEASH_START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The Unleash server exited ({process.returncode}):\n{log_tail(log_path)}", pytrace=False)
        if port_file.exists():
            base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:  # type: ignore[attr-defined]
                    return base_url
            except httpx.TransportError:  # type: ignore[attr-defined]
                pass
        time.sleep(0.2)
    pytest.fail(
        f"The Unleash server did not answer /health within {UNLEASH_START_DEADLINE:g} s:\n{log_tail(log_path)}",
        pytrace=False,
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A failed test that used the Unleash server shows the server's log beside its own output."""
    report = yield
    if report.failed and "unleash_server" in getattr(item, "fixturenames", ()):
        server = item.funcargs.get("unleash_server") if hasattr(item, "funcargs") else None
        if isinstance(server, UnleashServer):
            report.sections.append(("Unleash server log (last lines)", log_tail(server.log_path)))
    return report


# --- Secret Service ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def secret_service() -> object:
    """The real Secret Service keyring backend, checked to be the active one (scripts/with-keyring starts it)."""
    import keyring
    from keyring.backends import SecretService, chainer

    backend = keyring.get_keyring()
    chained = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    if not chained or not isinstance(chained[0], SecretService.Keyring):
        unavailable(f"The Secret Service keyring is not the active keyring (found {backend.name})")
    return backend


# --- Prometheus -------------------------------------------------------------------------------------------------

from exporter import TestExporter  # noqa: E402

PROMETHEUS_START_DEADLINE = 30.0  # seconds until ready and two scrapes of the exporter (about 7 s here)


@dataclass
class PrometheusServer:
    """A Prometheus scraping its own test exporter (tests/exporter.py) every second."""

    base_url: str
    exporter: TestExporter  # set its traffic to move the gates
    log_path: Path


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Prometheus and its exporter, shared by the session (the first scrape comes about 6 s after start).

    A test that changes the exporter's traffic sets it at its start: what it reads back over a rate() window
    still holds the traffic of that window's length before.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        unavailable("Prometheus is not installed (no prometheus binary; Debian package prometheus)")
    folder = tmp_path_factory.mktemp("prometheus")
    exporter = TestExporter()
    config, log_path = folder / "prometheus.yml", folder / "prometheus.log"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: exporter\n    static_configs:\n"
        f"      - targets: ['{exporter.address}']\n"
    )
    base_url = f"http://127.0.0.1:{free_port()}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address={base_url.removeprefix('http://')}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for_prometheus(process, base_url, log_path, exporter)
        yield PrometheusServer(base_url, exporter, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        exporter.stop()


def _wait_for_prometheus(
    process: subprocess.Popen[bytes], base_url: str, log_path: Path, exporter: TestExporter
) -> None:
    import httpx

    deadline = time.monotonic() + PROMETHEUS_START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            unavailable(f"Prometheus exited ({process.returncode}) at start:\n{log_tail(log_path)}")
        # Two scrapes: Prometheus runs, and rate() has the two samples it needs.
        if exporter.wait_for_scrapes(2, timeout=0.5):
            try:
                if httpx.get(f"{base_url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            exporter.wait_for_next_scrape(timeout=1)
    unavailable(
        f"Prometheus did not scrape the exporter within {PROMETHEUS_START_DEADLINE:g} s:\n{log_tail(log_path)}"
    )


__all__ += ["PrometheusServer", "prometheus_server"]
