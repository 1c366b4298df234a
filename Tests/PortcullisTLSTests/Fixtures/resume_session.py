#!/usr/bin/env python3
"""Connects twice to a local TLS server, offering the first session on the second connection.

Usage: python3 resume_session.py PORT CAFILE MAXVERSION(1.2|1.3) [SECOND_PORT]
The second connection goes to SECOND_PORT when given (another server, e.g. a reloaded one).
Prints "<reused on first> <reused on second>", e.g. "False True".
"""
import socket
import ssl
import sys

port, cafile, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
second_port = int(sys.argv[4]) if len(sys.argv) > 4 else port
context = ssl.create_default_context(cafile=cafile)
context.maximum_version = ssl.TLSVersion.TLSv1_2 if version == "1.2" else ssl.TLSVersion.TLSv1_3


def fetch(port, session=None):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            while tls.recv(4096):
                pass  # read to close_notify, so TLS 1.3 tickets have arrived
            return tls.session, tls.session_reused


first_session, first_reused = fetch(port)
_, second_reused = fetch(second_port, first_session)
print(first_reused, second_reused)
