"""Serve the receiver with gunicorn, programmatically (no config file to drift).

Threaded workers (:class:`~webhook_receiver.worker.ReadFirstWorker`, below): a delivery
spends much of its time waiting on fsync, which releases the GIL, so threads overlap those
waits while the processes run the Python parts (HMAC, JSON, Flask, gunicorn) in parallel.
Three processes of four threads on 2 cores: more GILs than cores keeps both cores busy
while one process waits, and fewer threads per process hand the GIL around less. In paced
runs of ``benchmarks/bench_receiver.py`` (500/s) it gave p99 17-46 ms where 2 x 8 gave
63-167 ms at the same CPU per delivery.

The worker is :class:`~webhook_receiver.worker.ReadFirstWorker`, ``gthread`` reading each
request whole on its event loop first: a client that stops mid-request holds no thread,
and is answered 408 after ``REQUEST_DEADLINE_S``."""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from webhook_receiver.worker import ReadFirstWorker

DEFAULT_WORKERS = 3
DEFAULT_THREADS = 4
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class ReceiverServer(BaseApplication):
    """gunicorn running :func:`webhook_receiver.create_app` with the given settings."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1
            # One fixed socket path per user: parallel instances would fight over it, and
            # systemd (deploy/) already manages the process.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        from webhook_receiver import create_app  # in the worker: each builds its own app

        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        app = create_app()
        # Everything imported so far lives as long as the worker: moved out of the cyclic
        # GC's reach, the full collections a long-lived worker runs now and then no longer
        # walk ~30,000 objects with the GIL held (20-40 ms here, a stall for every thread
        # of the worker) but only what deliveries left behind.
        gc.freeze()
        return app


def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run until SIGTERM/SIGINT (graceful: in-flight deliveries finish). Port 0 picks a free
    port; gunicorn logs the bound address ("Listening at: …")."""
    ReceiverServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": ReadFirstWorker,
            "keepalive": 5,  # Jira and reverse proxies reuse connections
            "graceful_timeout": 10,
            "timeout": 30,
            "accesslog": None,  # the app logs one structured line per delivery instead
            "errorlog": "-",
            "loglevel": os.environ.get("JIRA_RECEIVER_LOG_LEVEL", "info"),
            "proc_name": "jira-webhook-receiver",
        }
    ).run()
