"""WSGI entry point for any server: ``gunicorn webhook_receiver.wsgi:app``."""

from webhook_receiver import create_app

app = create_app()
