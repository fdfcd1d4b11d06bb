"""`make bench`: start the shop as in production, load it, print one JSON line per metric.

What it does, in order (everything on 127.0.0.1, every loop bounded, about 2 minutes):
1. creates the PostgreSQL database museum_bench (BENCH_DB_NAME; dropped at the end), migrates
   it, loads the demo museum and seeds the bench data (bench/setup_data.py); empties Redis
   db 14 (BENCH_REDIS_DB);
2. renders ticket PDFs in-process (bench/pdf.py): ticket_pdf_ms, ticket_pdf_10_ms;
3. starts a Celery worker and gunicorn on a free port with production-like settings
   (DEBUG off, Redis cache and broker, tasks queued to the worker, log level WARNING);
4. 16 reseller API clients try 400 one-ticket orders on one slot of capacity 100:
   api_orders_per_s (until sold out) and oversold (sold seats - capacity, from the DB);
5. waits for the worker to send the 100 ticket e-mails (each renders a PDF): emails_sent;
6. 16 clients GET one exhibition day page for 20 s: day_page_rps, day_page_p95_ms;
7. worker_rss_mb: the largest peak resident memory (VmHWM) of the gunicorn workers;
8. 16 ushers sign in (password, then TOTP) and POST museum card codes to /check-in/ for
   15 s (bench/card_scan.py): card_scan_per_s, card_scan_p95_ms, and
   card_scan_visits_extra (card visits in the DB - scans answered VALID CARD, must be 0).
9. (before the servers start, in a database of its own, BENCH_DB_NAME + "_purge") the
   retention purge (bench/purge.py): BENCH_PURGE_ROWS expired
   orders with their tickets and buyers (default 1,000,000, the issue's size), the nightly
   purge in a child process: purge_rows_per_s, purge_peak_rss_mb.
10. (before the servers start, in BENCH_DB_NAME + "_export") the access bundle
   (bench/export.py): one person with 1,000
   orders (two tickets each) among 200,000 other orders; the median time of their access
   bundle rendered to JSON, in-process: access_export_ms.
11. (before the servers start) a site closure (bench/closure.py): 10,000 paid orders (card,
   demo, cash, reseller) over three days, campaign started and processed as the worker does,
   in a child process: closure_orders_per_s, closure_peak_rss_mb.
Processes are stopped and the database dropped in `finally`, whatever happened.

Progress and a summary against the targets go to stderr; stdout has only the metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# Overridable so that several people can run the bench at once on one PostgreSQL/Redis.
DB_NAME = os.environ.get("BENCH_DB_NAME", "museum_bench")
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "1"))
# The e-mail worker yields the CPU to the web workers: a ticket e-mail may leave a second
# later, a visitor should not wait (see docs/performance.md).
WORKER_NICE = int(os.environ.get("BENCH_WORKER_NICE", "10"))
CLIENTS = 16
API_ATTEMPTS = 400
DAY_PAGE_SECONDS = 20
# Logs and the sent e-mails go to a fresh temporary directory, removed at the end
# (kept with BENCH_KEEP_LOGS=1).
TMP = Path(tempfile.mkdtemp(prefix="museum-bench-"))
WORKER_LOG = TMP / "worker.log"
GUNICORN_LOG = TMP / "gunicorn.log"
MAIL_DIR = TMP / "mail"

TARGETS = {
    "api_orders_per_s": (">=", 150),
    "oversold": ("==", 0),
    "ticket_pdf_ms": ("<=", 30),
    "ticket_pdf_10_ms": ("<=", 150),
    "day_page_rps": (">=", 400),
    "day_page_p95_ms": ("<=", 100),
    "worker_rss_mb": ("<=", 150),
    "card_scan_per_s": (">=", 200),
    "card_scan_visits_extra": ("==", 0),
    "purge_rows_per_s": (">=", 50_000),
    "purge_peak_rss_mb": ("<=", 300),
    "access_export_ms": ("<=", 200),
    "closure_orders_per_s": (">=", 200),
    "closure_peak_rss_mb": ("<=", 300),
}

# For working on one part: BENCH_ONLY=pdf,api,day,card,purge,export,closure (default: all).
PHASES = set(os.environ.get("BENCH_ONLY", "pdf,api,day,card,purge,export,closure").split(","))

metrics: dict[str, float] = {}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(name: str, value: float, unit: str) -> None:
    metrics[name] = value
    print(json.dumps({"metric": name, "value": value, "unit": unit}), flush=True)


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MUSEUM_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "museum.settings",
            "DATABASE_URL": f"{PG_BASE}/{DB_NAME}",
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_DEBUG": "false",
            "MUSEUM_ALLOW_DEMO_PAYMENTS": "true",
            "EMAIL_PROVIDER": "file",  # the worker writes each message to MAIL_DIR
            "EMAIL_FILE_PATH": str(MAIL_DIR),
            # What MUSEUM_PRODUCTION=true sets by default; the bench runs without it, which
            # would need collected static files in the work tree.
            "TICKETING_DAY_PAGE_CACHE_SECONDS": os.environ.get("BENCH_DAY_PAGE_CACHE_SECONDS", "3"),
            "PRIVACY_PAGE_VIEWS_BUFFERED": "true",  # as in production with Redis
            "LOG_LEVEL": "WARNING",
            "MUSEUM_SITE_URL": "http://127.0.0.1",
            # The reseller throttle (6000/min by default) would cap one reseller at 100
            # requests/s; the bench measures what the server can do, not the quota.
            "API_RATE": "1000000/min",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def run(cmd: list[str], env: dict[str, str], capture: bool = False) -> str:
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, check=True, text=True, stdout=subprocess.PIPE if capture else None
    )
    return done.stdout or ""


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def redis_flush() -> None:
    """Empty the bench's own Redis db (cache, throttle counters, Celery queue)."""
    db = str(REDIS_DB).encode()
    with socket.create_connection(("127.0.0.1", 6379), timeout=5) as sock:
        sock.sendall(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n*1\r\n$7\r\nFLUSHDB\r\n" % (len(db), db))
        answer = b""
        while answer.count(b"\r\n") < 2:
            chunk = sock.recv(64)
            if not chunk:
                break
            answer += chunk
    if answer != b"+OK\r\n+OK\r\n":
        raise RuntimeError(f"Redis did not flush db {REDIS_DB}: {answer!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(port: int, process: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {GUNICORN_LOG}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not listen on {port} within {timeout_s} s")


def stop(process: subprocess.Popen | None, name: str) -> None:
    """TERM the process group we started, then KILL it if it lingers."""
    if process is None or process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            log(f"{name} still running after {sig.name}")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def check(name: str) -> str:
    op, target = TARGETS[name]
    value = metrics.get(name)
    if value is None:
        return f"---- {name} not measured"
    ok = {">=": value >= target, "<=": value <= target, "==": value == target}[op]
    return f"{'ok  ' if ok else 'MISS'} {name} = {value} (target {op} {target})"


def own_database(env: dict[str, str], suffix: str) -> tuple[str, dict[str, str]]:
    """A new, migrated database for one benchmark's seed; its name and environment."""
    name = f"{DB_NAME}_{suffix}"
    drop_database(name)
    psql(f'CREATE DATABASE "{name}"')
    own_env = {**env, "DATABASE_URL": f"{PG_BASE}/{name}"}
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], own_env)
    return name, own_env


def drop_database(name: str) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    started = time.time()
    log(f"load average before: {Path('/proc/loadavg').read_text().strip()}")
    env = bench_env()
    gunicorn = worker = None
    db_created = False
    try:
        log(f"creating database {DB_NAME}")
        psql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        psql(f'CREATE DATABASE "{DB_NAME}"')
        db_created = True
        redis_flush()
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
        run([PYTHON, "manage.py", "load_demo"], env, capture=True)
        seed = json.loads(run([PYTHON, "bench/setup_data.py", "seed"], env, capture=True))
        log(f"bench slot {seed['slot']} on {seed['day']} (capacity {seed['capacity']})")

        if "pdf" in PHASES:
            log("rendering ticket PDFs in-process")
            for line in run(
                [PYTHON, "bench/pdf.py", str(seed["pdf_order_1"]), str(seed["pdf_order_10"])],
                env,
                capture=True,
            ).splitlines():
                row = json.loads(line)
                emit(row["metric"], row["value"], row["unit"])
        if "purge" in PHASES:
            import purge

            # A database of its own: a million old tickets in one slot would otherwise
            # skew the planner's statistics for the order and page benchmarks after it.
            purge_db, purge_env = own_database(env, "purge")
            log(f"retention purge: seeding {purge.ROWS} expired orders with their tickets")
            seeded = json.loads(
                run([PYTHON, "bench/purge.py", "seed", str(purge.ROWS)], purge_env, capture=True)
            )
            log(f"seeded {seeded}; running the nightly purge in a child process")
            result = purge.measure(purge_env)
            drop_database(purge_db)
            log(f"purge: {result}")
            emit("purge_rows_per_s", result["purge_rows_per_s"], "rows/s")
            emit("purge_peak_rss_mb", result["purge_peak_rss_mb"], "MB")
        if "export" in PHASES:
            import export

            log(
                f"access bundle: seeding one person with {export.ORDERS} orders among "
                f"{export.OTHER_ORDERS} others"
            )
            # Its own database too (200,000 orders on one slot), dropped after the run.
            export_db, export_env = own_database(env, "export")
            seeded = json.loads(run([PYTHON, "bench/export.py", "seed"], export_env, capture=True))
            log(f"seeded {seeded}; timing the access bundle in-process")
            for line in run(
                [PYTHON, "bench/export.py", "run"], export_env, capture=True
            ).splitlines():
                row = json.loads(line)
                emit(row["metric"], row["value"], row["unit"])
            drop_database(export_db)
        if "closure" in PHASES:
            import closure

            log(f"site closure: seeding {closure.ROWS} paid orders over {closure.DAYS} days")
            seeded = json.loads(
                run([PYTHON, "bench/closure.py", "seed", str(closure.ROWS)], env, capture=True)
            )
            log(f"seeded {seeded}; starting and processing the campaign in a child process")
            result = closure.measure(env)
            log(f"closure: {result}")
            emit("closure_orders_per_s", result["closure_orders_per_s"], "orders/s")
            emit("closure_peak_rss_mb", result["closure_peak_rss_mb"], "MB")
        if not PHASES & {"api", "day", "card"}:
            return 0

        log("starting the Celery worker and gunicorn")
        with WORKER_LOG.open("w") as worker_out:
            worker = subprocess.Popen(
                ["nice", "-n", str(WORKER_NICE), str(BIN / "celery"), "-A", "museum", "worker",
                 "--concurrency", "1",
                 "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                 "--without-heartbeat"],
                cwd=ROOT, env=env, stdout=worker_out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        port = free_port()
        with GUNICORN_LOG.open("w") as gunicorn_out:
            gunicorn = subprocess.Popen(
                [str(BIN / "gunicorn"), "museum.wsgi:application",
                 "--bind", f"127.0.0.1:{port}", "--workers", str(GUNICORN_WORKERS),
                 "--worker-class", "gthread" if GUNICORN_THREADS > 1 else "sync",
                 "--threads", str(GUNICORN_THREADS), "--log-level", "warning",
                 "--max-requests", "0", "--timeout", "60"],
                cwd=ROOT, env=env, stdout=gunicorn_out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_for_http(port, gunicorn)
        day_path = f"/visit/{seed['exhibition']}/{seed['day']}/"
        # one request per worker, so that none of them is measured while importing
        load.run(port=port, method="GET", path=day_path, clients=8, total_requests=40)

        if "api" in PHASES:
            log(f"reseller API: {CLIENTS} clients, {API_ATTEMPTS} one-ticket orders, one slot")
            result, t0 = load.run(
                port=port,
                method="POST",
                path="/api/v1/orders/",
                body={
                    "slot": seed["slot"],
                    "tickets": [{"ticket_type": seed["ticket_type"], "quantity": 1}],
                    "email": "visitor@example.org",
                    "name": "Bench visitor",
                },
                headers={"Authorization": f"Bearer {seed['token']}"},
                clients=CLIENTS,
                total_requests=API_ATTEMPTS,
            )  # fmt: skip
            log(f"API answers: {dict(sorted(result.statuses.items()))}, errors {result.errors}")
            created = len(result.created_at)
            if created:
                emit(
                    "api_orders_per_s",
                    round(created / (max(result.created_at) - t0), 1),
                    "orders/s",
                )
            emit("api_orders_p95_ms", round(load.percentile(result.latencies_ms, 95), 1), "ms")
            counted = json.loads(
                run(
                    [PYTHON, "bench/setup_data.py", "count", str(seed["slot_id"])],
                    env,
                    capture=True,
                )
            )
            emit("oversold", counted["sold"] - counted["capacity"], "seats")
            log(f"sold {counted['sold']} of {counted['capacity']} in {counted['orders']} orders")

            log("waiting for the worker to send the ticket e-mails")
            deadline = time.time() + 120
            while time.time() < deadline:
                counted = json.loads(
                    run([PYTHON, "bench/setup_data.py", "count", str(seed["slot_id"])], env, True)
                )
                if counted["emails"].get("sent", 0) >= counted["orders"]:
                    break
                time.sleep(1)
            drained_s = time.time() - max(result.created_at, default=time.time())
            log(f"outbox: {counted['emails']}, sent by {drained_s:.1f} s after the last order")
            emit("emails_sent", counted["emails"].get("sent", 0), "e-mails")

        if "day" in PHASES:
            log(f"day page {day_path}: {CLIENTS} clients for {DAY_PAGE_SECONDS} s")
            result, t0 = load.run(
                port=port, method="GET", path=day_path, clients=CLIENTS, duration_s=DAY_PAGE_SECONDS
            )
            log(
                f"day page answers: {dict(sorted(result.statuses.items()))}, errors {result.errors}"
            )
            ok = result.statuses.get(200, 0)
            emit("day_page_rps", round(ok / DAY_PAGE_SECONDS, 1), "req/s")
            emit("day_page_p95_ms", round(load.percentile(result.latencies_ms, 95), 1), "ms")

        workers = children_of(gunicorn.pid)
        if not workers:
            raise RuntimeError("no gunicorn worker found")
        emit("worker_rss_mb", round(max(peak_rss_mb(pid) for pid in workers), 1), "MB")

        # After worker_rss_mb: the ushers' sign-ins hash passwords with Argon2 (100 MiB each),
        # a peak that is not the shop's steady memory.
        if "card" in PHASES:
            import card_scan

            log(f"card check-ins: {card_scan.SCANNERS} ushers, {card_scan.DURATION_S} s")
            card_seed = json.loads(run([PYTHON, "bench/card_scan.py", "seed"], env, capture=True))
            scans = card_scan.measure(port=port, seed_data=card_seed)
            log(
                f"card scans: {scans['valid']} valid, other {scans['other']}, errors {scans['errors']}"
            )
            emit("card_scan_per_s", round(scans["valid"] / scans["elapsed_s"], 1), "scans/s")
            emit("card_scan_p95_ms", round(load.percentile(scans["latencies"], 95), 1), "ms")
            counted = json.loads(run([PYTHON, "bench/card_scan.py", "count"], env, capture=True))
            log(
                f"card visits recorded {counted['visits']} (seed included), cards active {counted['active']}"
            )
            new_visits = counted["visits"] - card_seed["visits_before"]["visits"]
            emit("card_scan_visits_extra", new_visits - scans["valid"], "visits")
    finally:
        stop(gunicorn, "gunicorn")
        stop(worker, "celery worker")
        if db_created:
            for name in (DB_NAME, f"{DB_NAME}_purge", f"{DB_NAME}_export"):
                try:
                    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except subprocess.CalledProcessError:
                    log(f"could not drop {name}")
        try:
            redis_flush()
        except (OSError, RuntimeError) as exc:
            log(f"could not empty Redis db {REDIS_DB}: {exc}")
        if os.environ.get("BENCH_KEEP_LOGS"):
            log(f"logs and e-mails kept in {TMP}")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    log(f"done in {time.time() - started:.0f} s; load average {Path('/proc/loadavg').read_text()}")
    for name in TARGETS:
        log(check(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
