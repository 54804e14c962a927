"""Real local receivers for delivery tests: an HTTP server that records each request and answers
from a script, and an SMTP server (aiosmtpd) that records each message and checks a login."""

from __future__ import annotations

import email
import email.policy
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class HttpReceiver:
    url: str
    requests: list[Request] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, *answers: Answer) -> None:
        """Answer the next requests with these, in order; then with `default`."""
        with self.lock:
            self.script.extend(answers)

    def next_answer(self) -> Answer:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def received(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_args: Any) -> None:
        return

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with receiver.lock:
            receiver.requests.append(
                Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
        answer = receiver.next_answer()
        if answer.delay:
            time.sleep(answer.delay)
        data = answer.body.encode()
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: HttpReceiver) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receiver = receiver


@contextmanager
def running_http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(url="")
    server = _Server(receiver)
    host, port = server.server_address[:2]
    receiver.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# -- SMTP ---------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class SmtpState:
    users: dict[str, str]
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "451 try again later"


class _Handler_SMTP:
    def __init__(self, state: SmtpState) -> None:
        self.state = state

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        if self.state.refuse_with:
            return self.state.refuse_with
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.login.decode() if session.auth_data else None
        self.state.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, login)
        )
        return "250 Message accepted for delivery"


def _authenticator(state: SmtpState) -> Any:
    def check(_server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> Any:
        if mechanism not in ("LOGIN", "PLAIN") or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        if state.users.get(login) == password:
            state.logins.append(login)
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    return check


@dataclass
class SmtpServer:
    host: str
    port: int
    state: SmtpState


@contextmanager
def running_smtp_server(
    users: dict[str, str] | None = None,
    *,
    tls: str = "none",
    cert: tuple[Path, Path] | None = None,
) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1:<free port>. `tls`: "none" (AUTH allowed without TLS),
    "starttls" (AUTH only after STARTTLS) or "tls" (implicit TLS); the last two need `cert`."""
    import ssl

    state = SmtpState(users or {})
    # aiosmtpd cannot tell an implicit-TLS connection is encrypted: AUTH is only held back
    # until STARTTLS. Without TLS, login is offered but not required (it warns otherwise).
    kwargs: dict[str, Any] = {
        "authenticator": _authenticator(state),
        "auth_require_tls": tls == "starttls",
        "auth_required": bool(users) and tls == "starttls",
    }
    if tls != "none":
        assert cert is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        if tls == "starttls":
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = True
        else:
            kwargs["ssl_context"] = context
    controller = Controller(_Handler_SMTP(state), hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, state)
    finally:
        controller.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key
