"""Building email messages and handing them to SMTP or to .eml files (MAIL_URL)."""

import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


def build_message(sender: str, payload: dict) -> EmailMessage:
    """Make a plain-text (and, when given, HTML) message from an outbox payload."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="stimme.local")
    for name, value in (payload.get("headers") or {}).items():
        message[name] = value
    message.set_content(payload["text"])
    if payload.get("html"):
        message.add_alternative(payload["html"], subtype="html")
    return message


class SMTPMailer:
    def __init__(self, url):
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 25
        self.username = unquote(url.username) if url.username else None
        self.password = unquote(url.password) if url.password else None
        self.starttls = parse_qs(url.query).get("starttls", ["0"])[0] in ("1", "true")

    def send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


class FileMailer:
    """Writes each message as an .eml file: the development default."""

    def __init__(self, url):
        self.folder = Path(unquote(url.path))

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = (
            self.folder
            / f"{formatdate(usegmt=True)[5:25].replace(' ', '-')}-{uuid.uuid4().hex[:8]}.eml"
        )
        path.write_bytes(bytes(message))


def mailer_from_url(mail_url: str):
    """Return the mailer for a MAIL_URL; raises ValueError for an unknown scheme."""
    url = urlsplit(mail_url)
    if url.scheme == "smtp":
        return SMTPMailer(url)
    if url.scheme == "file":
        return FileMailer(url)
    raise ValueError(f"MAIL_URL must start with smtp:// or file://, not {mail_url!r}")
