"""Fixtures for the notification tests: a real SMTP server (aiosmtpd) and a webhook
receiver (a small HTTP server) on free local ports, a topic of its own for each test with
alert records in the contract's shape (docs/design.md, "Alerts"), and `clickpulse alerts
notify` started from the command line as the stack starts it."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from alert_records import alert
from clickpulse.stack.kafka import admin
from conftest import CLI, ROOT
from suites import free_port


class Mailbox:
    """aiosmtpd handler: every message received, parsed."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free port; yields (port, mailbox)."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


class Webhook:
    """What a Slack-compatible receiver got; `fail_first` answers 500 to that many posts."""

    def __init__(self, fail_first: int = 0):
        self.posts: list[dict] = []
        self.refused = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()


@pytest.fixture
def webhook():
    """A webhook receiver on a free port; yields (url, Webhook)."""
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                if hook.refused < hook.fail_first:
                    hook.refused += 1
                    code = 500
                else:
                    hook.posts.append(body)
                    code = 200
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/ops", hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerts_topic(kafka, migrated):
    """A one-partition topic of its own (one partition: records are read in the order
    written, so a later record being delivered means every earlier one was handled)."""
    name = f"test-alerts-{uuid.uuid4().hex[:8]}"
    client = admin(kafka)   # kept: the futures fail when their client is destroyed
    client.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    yield name
    client.delete_topics([name])[name].result(timeout=30)


def produce(settings, topic: str, *records: dict) -> None:
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True})
    for r in records:
        p.produce(topic, key=r["alert_id"], value=json.dumps(r))
    assert p.flush(30) == 0


class NotifierProcess:
    """`clickpulse alerts notify` (or other ARGS: `alerts watch`) as a subprocess with the
    test's topic, group and servers."""

    def __init__(self, env: dict, name: str, args: tuple[str, ...] | list[str] = ("alerts", "notify")):
        self.env, self.name, self.args = env, name, list(args)
        self.proc: subprocess.Popen | None = None
        self.logs: list[str] = []

    def start(self) -> None:
        path = ROOT / ".clickpulse" / "logs" / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(str(path))
        self.log = open(path, "w")
        self.proc = subprocess.Popen([*CLI, *self.args], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        assert self.proc.wait(timeout=30) == 0, f"the notifier exited {self.proc.returncode}: {self.logs[-1]}"
        self.log.close()

    def output(self) -> str:
        return "".join(open(p).read() for p in self.logs)

    def wait_until(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"the notifier exited {self.proc.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s:\n{self.output()}"
            time.sleep(0.2)


@pytest.fixture
def notifier_env(kafka, alerts_topic, smtp_server, webhook):
    smtp_port, _ = smtp_server
    url, _ = webhook
    return {**os.environ, "CLICKPULSE_ALERTS_TOPIC": alerts_topic, "CLICKPULSE_NOTIFY_GROUP": f"{alerts_topic}-g",
            "ALERT_WEBHOOK_URL": url, "ALERT_EMAIL_TO": "ops@example.com, oncall@example.com",
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "false",
            "CLICKPULSE_NOTIFY_BACKOFF_MS": "200"}


@pytest.fixture
def notifier(notifier_env, alerts_topic):
    n = NotifierProcess(notifier_env, f"test-notifier-{alerts_topic}")
    yield n
    if n.proc and n.proc.poll() is None:
        n.stop()
