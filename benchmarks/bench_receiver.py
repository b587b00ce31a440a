"""Webhook receiver throughput and latency under its production server.

16 client threads (one keep-alive connection each, as Jira's senders hold) post distinct
signed deliveries over loopback to ``jira-pipeline receiver`` (gunicorn); every 202 means
the pending event was written and fsynced. Jira is a remote sender: its CPU is not the
receiver's, but here it shares the 2 cores, so the client is the leanest honest one, a
load generator in the manner of wrk: requests signed and serialised before the clock
starts, sent on a raw socket, answers read to their status and ``Content-Length``
(``requests`` cost ~2 ms of CPU per delivery, ``http.client`` ~0.45 ms). Two runs per
configuration:

* paced: the 16 clients together offer ``TARGET_RATE`` deliveries/s on a fixed schedule
  (latency counted from the scheduled send time, so a stall is not hidden by the client
  waiting for it). The target (p99 < 25 ms at >= 500 accepted/s) is judged here: with 16
  clients that never pause, Little's law ties mean latency to 16 / rate, so a closed loop
  can only show p99 < 25 ms above ~1,000/s; the paced run asks the real question, whether
  500 deliveries/s are absorbed promptly.
* saturation: the same clients post back to back; shows the ceiling (accepted/s).

Both check that the inbox holds exactly one file per 202. ``python -m benchmarks receiver``;
``BENCH_RECEIVER_SECONDS`` (default 8) sets the paced duration, ``BENCH_RECEIVER_CONFIGS``
(e.g. ``2x8,1x16,3x8``) compares workers x threads (the first is the headline)."""

from __future__ import annotations

import array
import fcntl
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import orjson

from jira_pipeline_tests.fixtures.receiver import (
    RunningReceiver,
    delivery_headers,
    json_files,
    running_receiver,
)
from webhook_receiver.server import DEFAULT_THREADS, DEFAULT_WORKERS

CLIENTS = 16
TARGET_P99_MS = 25.0
TARGET_RATE = 500.0
SATURATION_PER_CLIENT = 150
DEFAULT_REPEATS = 3
# Where the data roots go. ext4 without a journal (this disk) skips inodes freed in the
# last 1-6 minutes one by one on each allocation in their block group (perf:
# find_inode_bit -> recently_deleted, 35-43 % of the server's CPU in three runs): after a
# test run or an earlier benchmark deleted thousands of files in the same group, creating
# a file cost 400-2,000 us instead of 25-40 us, and a paced run that met the target at
# p99 23 ms showed 3 s in the next minute. A receiver's data root is its own directory
# (its own volume, in production), where files are created and renamed, hardly ever
# deleted; so each configuration's root is placed the way ext4 places a top-level
# directory (see _spread_out) and its creation cost is measured and shown beside it.
DATA_PARENT = os.environ.get("BENCH_RECEIVER_DIR", "/var/tmp")
_FS_IOC_GETFLAGS, _FS_IOC_SETFLAGS, _FS_TOPDIR_FL = 0x80086601, 0x40086602, 0x00020000


@dataclass
class Run:
    label: str
    workers: int
    threads: int
    sent: int
    accepted: int
    seconds: float
    latencies_ms: list[float]
    server_ms: list[float]
    server_cpu_s: float  # gunicorn master + workers, user + system, during the run
    client_cpu_s: float  # this process (the 16 client threads)
    inbox_files: int
    load_before: float  # 1-minute load average at the start (the box is shared)
    creation_us: float  # file creation beside the data root (see DATA_PARENT)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds

    def pct(self, q: float, values: list[float] | None = None) -> float:
        data = sorted(self.latencies_ms if values is None else values)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")

    @property
    def cpu_ms(self) -> float:
        """Server plus client CPU per accepted delivery: what 2 cores must supply."""
        return (self.server_cpu_s + self.client_cpu_s) * 1000 / max(self.accepted, 1)

    @property
    def met(self) -> bool:
        """For a paced run: every delivery of the 500/s schedule accepted, 99 % within
        25 ms. Its accepted/s reads a hair under 500 even then (499.6 for a p99 of 24 ms),
        because the clock runs until the last answer has arrived."""
        return self.accepted == self.sent and self.pct(0.99) < TARGET_P99_MS

    def row(self) -> str:
        per = max(self.accepted, 1)
        return (
            f"| {self.label} | {self.workers} x {self.threads} | {self.sent} | {self.accepted} | "
            f"{self.inbox_files} | {self.rate:.0f} | {self.pct(0.50):.1f} | {self.pct(0.99):.1f} | "
            f"{max(self.latencies_ms):.1f} | {self.pct(0.5, self.server_ms):.1f} / "
            f"{self.pct(0.99, self.server_ms):.1f} | {self.server_cpu_s * 1000 / per:.2f} | "
            f"{self.client_cpu_s * 1000 / per:.2f} | {self.load_before:.1f} | "
            f"{self.creation_us:.0f} |"
        )


def _delivery(client: int, n: int, tag: str) -> tuple[bytes, str]:
    body = orjson.dumps({
        "timestamp": 1720428052937,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "issue": {"id": str(10000 + n), "key": f"BENCH{client}-{n + 1}",
                  "fields": {"summary": "load", "created": "2024-07-08T10:40:52.937+0200"}},
        "changelog": {"items": [{"field": "status", "fromString": "Open",
                                 "toString": "In Progress"}]},
    })
    return body, f"{tag}-{client}-{n}"


class _Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads just the
    status and ``Content-Length`` body of each answer: a load generator's work, like wrk's.
    ``http.client`` spent ~0.45 ms of CPU per delivery (header parsing through the email
    package), taken from the same 2 cores the receiver runs on."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock = self._connect()
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def exchange(self, request: bytes) -> int:
        """Send ``request``; return the answer's status code once all of it has arrived
        (reconnecting first when the previous answer closed the connection)."""
        if self.sock is None:
            self.sock, self.buffer = self._connect(), b""
        self.sock.sendall(request)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive()
        head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
        length = int(_CONTENT_LENGTH.search(head).group(1))
        while len(self.buffer) < length:
            self._receive()
        self.buffer = self.buffer[length:]
        if _CONNECTION_CLOSE.search(head):
            self.close()
        return int(head[9:12])

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the receiver closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")
_CONNECTION_CLOSE = re.compile(rb"(?im)^connection:\s*close")


def _request(url: SplitResult, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {url.path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _clients(
    receiver: RunningReceiver, count: int, tag: str, send_at: Callable[[int, int], float] | None
) -> tuple[list[float], int, float]:
    """Run 16 clients of ``count`` deliveries; ``send_at(client, n)`` gives each delivery's
    scheduled offset in seconds (None: back to back). Returns latencies, accepted, seconds."""
    barrier = threading.Barrier(CLIENTS + 1)
    start = [0.0]
    url = urlsplit(receiver.webhook_url)

    def client(index: int) -> tuple[list[float], int]:
        work = [
            _request(url, body, delivery_headers(body, receiver.secret, identifier))
            for body, identifier in (_delivery(index, n, tag) for n in range(count))
        ]
        latencies, accepted = [], 0
        connection = _Connection(url.hostname, url.port)  # opened before the clock
        try:
            barrier.wait()
            for n, request in enumerate(work):
                if send_at is None:
                    began = time.perf_counter()
                else:
                    began = start[0] + send_at(index, n)
                    time.sleep(max(0.0, began - time.perf_counter()))
                status = connection.exchange(request)
                latencies.append((time.perf_counter() - began) * 1000)
                accepted += status == 202
        finally:
            connection.close()
        return latencies, accepted

    with ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, i) for i in range(CLIENTS)]
        start[0] = time.perf_counter() + 0.05
        barrier.wait()
        results = [f.result() for f in futures]
        seconds = time.perf_counter() - start[0]
    return [x for lat, _ in results for x in lat], sum(a for _, a in results), seconds


def _server_cpu_seconds(master_pid: int) -> float:
    """User + system CPU of the gunicorn master and its workers, from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if master_pid in (int(stat.parent.name), int(fields[1])):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _server_durations(receiver: RunningReceiver) -> list[float]:
    return [orjson.loads(line[line.index("{"):])["duration_ms"]
            for line in receiver.log_text().splitlines() if '"msg":"webhook delivery"' in line]


def _measure(
    receiver: RunningReceiver, label: str, workers: int, threads: int, count: int,
    send_at: Callable[[int, int], float] | None, creation_us: float,
) -> Run:
    inbox_before = len(json_files(receiver.data_root.inbox_dir))
    logged_before = len(_server_durations(receiver))
    load = os.getloadavg()[0]
    server_cpu, client_cpu = _server_cpu_seconds(receiver.process.pid), time.process_time()
    latencies, accepted, seconds = _clients(receiver, count, label, send_at)
    server_cpu = _server_cpu_seconds(receiver.process.pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    time.sleep(0.3)  # the last log lines reach the file
    return Run(
        label, workers, threads, count * CLIENTS, accepted, seconds, latencies,
        _server_durations(receiver)[logged_before:], server_cpu, client_cpu,
        len(json_files(receiver.data_root.inbox_dir)) - inbox_before, load, creation_us,
    )


def measure(workers: int, threads: int, paced_seconds: float, data_parent: Path) -> list[Run]:
    """One configuration on a fresh data root under ``data_parent``. The roots are removed
    only after every configuration ran: deleting thousands of files slows the next inode
    allocations nearby (see ``DATA_PARENT``), which would tax the next configuration."""
    interval = CLIENTS / TARGET_RATE  # each client's gap; clients are staggered within it
    paced_count = int(paced_seconds * TARGET_RATE / CLIENTS)
    home = Path(tempfile.mkdtemp(prefix=f"{workers}x{threads}-", dir=data_parent))
    creation_us = file_creation_us(home / "probe")  # the block group the root lands in
    with running_receiver(home / "data", workers=workers, threads=threads) as receiver:
        _clients(receiver, 20, "warmup", None)
        return [
            _measure(receiver, f"paced {TARGET_RATE:.0f}/s", workers, threads, paced_count,
                     lambda client, n: (n + client / CLIENTS) * interval, creation_us),
            _measure(receiver, "saturation", workers, threads, SATURATION_PER_CLIENT, None,
                     creation_us),
        ]


def _spread_out(directory: Path) -> bool:
    """Mark ``directory`` as ext4 marks a top-level one (``chattr +T``): its subdirectories
    are then spread over block groups with free inodes (the Orlov allocator) instead of
    packed beside it, out of the groups where other work just deleted files. False where
    the filesystem has no such flag (the runs still happen, without the spreading)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        flags[0] |= _FS_TOPDIR_FL
        fcntl.ioctl(fd, _FS_IOC_SETFLAGS, flags)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def file_creation_us(directory: Path, count: int = 200) -> float:
    """Mean cost of creating an empty file in ``directory``: the disk's state at the time,
    which the receiver pays once per delivery (the files stay until the bench ends)."""
    directory.mkdir(parents=True)
    began = time.perf_counter()
    for n in range(count):
        os.close(os.open(directory / f"{n}.probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return (time.perf_counter() - began) * 1e6 / count


def _configs() -> list[tuple[int, int]]:
    """The shipped default, ``DEFAULT_REPEATS`` times (a paced p99 hangs on whether a
    stall of 50-150 ms happens in the 8 s, so one run says little), unless configured."""
    default = ",".join([f"{DEFAULT_WORKERS}x{DEFAULT_THREADS}"] * DEFAULT_REPEATS)
    spec = os.environ.get("BENCH_RECEIVER_CONFIGS", default)
    return [(int(w), int(t)) for w, t in (item.split("x") for item in spec.split(","))]


def main() -> str:
    seconds = float(os.environ.get("BENCH_RECEIVER_SECONDS", "8"))
    with tempfile.TemporaryDirectory(prefix="bench-receiver-", dir=DATA_PARENT) as tmp:
        spread = _spread_out(Path(tmp))
        runs = [
            run
            for workers, threads in _configs()
            for run in measure(workers, threads, seconds, Path(tmp))
        ]
    paced = runs[0]
    judged = [run for run in runs if run.label.startswith("paced")
              and (run.workers, run.threads) == (paced.workers, paced.threads)]
    met = sum(run.met for run in judged)
    verdict = "**met**" if met == len(judged) else f"**not met** ({met} of {len(judged)} runs)"
    p99s = ", ".join(f"{run.pct(0.99):.1f}" for run in judged)
    accepted = ", ".join(f"{run.accepted}/{run.sent}" for run in judged)
    rows = "\n".join(run.row() for run in runs)
    lost = sum(run.accepted - run.inbox_files for run in runs)
    return f"""## Webhook receiver (`bench_receiver.py`)

`make bench` or `.venv/bin/python -m benchmarks receiver`. {CLIENTS} client threads, each
with its own keep-alive connection (a lean raw-socket load generator, see the module doc),
post distinct signed `jira:issue_updated` deliveries over loopback to `jira-pipeline receiver` (gunicorn with its
`ReadFirstWorker`: `gthread` that reads each request whole on its event loop before a thread
gets it; workers x threads per row; the first configuration is the shipped default). Every 202 means the pending
event was written and fsynced (file and directory); "inbox" counts the new files and must
equal "accepted" (difference over all runs: {lost}).

* **paced**: the clients together offer {TARGET_RATE:.0f} deliveries/s on a fixed schedule
  for {seconds:.0f} s; latency counts from the scheduled send time. The target is judged here.
* **saturation**: the same clients post back to back: the ceiling. With 16 clients that
  never pause, mean latency is 16 / throughput (Little's law), so it is queueing, not
  handling time.

Server ms = time inside the app from its per-delivery log line (p50 / p99); CPU ms = CPU
per accepted delivery of gunicorn (server) and of the 16 client threads (client), which
share the same 2 cores; load = 1-minute load average at the start (other work on the box
competes for cores and disk). Each configuration gets its own data root under
`{DATA_PARENT}`, {"spread over block groups like a top-level directory" if spread else "not spread (no ext4 top-directory flag here)"}; create us =
cost of creating a file beside it just before its runs (a quiet block group: 25-40 us; after
other work deleted many files in it: 400-2,000 us; see `DATA_PARENT` in the bench).

| run | workers x threads | sent | accepted | inbox | accepted/s | p50 ms | p99 ms | max ms | server ms | server CPU ms | client CPU ms | load | create us |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{rows}

Target (paced, {paced.workers} x {paced.threads}, every run): all {TARGET_RATE:.0f} deliveries/s
of the schedule accepted ({accepted}) with p99 {p99s} ms < {TARGET_P99_MS:.0f} ms: {verdict}.

CPU per delivery (paced, server + client): {paced.cpu_ms:.2f} ms, so 2 otherwise idle cores
could carry at most {2000 / paced.cpu_ms:.0f} deliveries/s; {TARGET_RATE:.0f}/s with queueing
short enough for the p99 needs about {2000 / TARGET_RATE * 0.6:.1f} ms or less. This figure
moves less than latency when other work shares the box (see load).
"""


if __name__ == "__main__":
    print(main())
