"""What the blueprint needs from its app: the settings and the delivery store, built once
per app by the factory (one per gunicorn worker)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from jira_pipeline.config import Settings
from jira_pipeline.storage import DataRoot
from webhook_receiver.store import DeliveryStore

EXTENSION_NAME = "webhook_receiver"
MAX_BODY_BYTES = 1024 * 1024  # Jira bodies are a few KiB; anything past 1 MiB is refused (413)


@dataclass(frozen=True)
class ReceiverContext:
    settings: Settings
    store: DeliveryStore

    @property
    def root(self) -> DataRoot:
        return self.store.root

    @classmethod
    def of(cls, app: Flask) -> ReceiverContext:
        return app.extensions[EXTENSION_NAME]

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION_NAME] = self
