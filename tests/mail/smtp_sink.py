"""A real SMTP server on loopback for the test suite.

Usage: smtp_sink.py PORT
Prints "ready" once it accepts connections, then one JSON line per message received:
{"from": ..., "to": [...], "subject": ..., "body": ...}. Each line "flush" on its standard input is
answered with a line "flushed" once every message received before it has been printed. Stops when its
standard input closes.
"""

import email
import email.policy
import json
import sys
import threading

from aiosmtpd.controller import Controller

_output = threading.Lock()


def emit(line):
    """Writes one whole line, never interleaved with another thread's."""
    with _output:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        emit(
            json.dumps(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "subject": str(message["subject"]),
                    "body": body.get_content() if body is not None else "",
                }
            )
        )
        # The sender hears "accepted" only after the line is out.
        return "250 Message accepted"


def main():
    port = int(sys.argv[1])
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    emit("ready")
    try:
        for line in sys.stdin:
            if line.strip() == "flush":
                emit("flushed")
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
