"""`smoke` over TLS the way it reaches a gateway before DNS knows the pool's hostname:
`--resolve <hostname>:<port>:127.0.0.1` and `--ca-file` of the internal CA. The server is a
stand-in on loopback (the standard library's HTTPS server with a certificate for the pool's
hostname only, signed by a CA made here), answering `/v1/models` as vLLM does; it proves
the TLS path (server name, certificate check against the CA), not vLLM. Serving tier: the
certificates are made with `cryptography`, which only the vLLM tier brings."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tools import endpoints
from tools.__main__ import main

pytestmark = pytest.mark.serving

HOST = "chat.llm.dev.example.internal"
KEY = "tls-test-key-0123456789abcdef"


def _certificates(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, public_key, signing_key, ca, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        return builder.sign(signing_key, hashes.SHA256())

    def pem(certificate):
        return certificate.public_bytes(serialization.Encoding.PEM)

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test internal CA")])
    ca = build(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    server = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]), ca_name, server_key.public_key(),
                   ca_key, ca=False, names=[HOST])  # fmt: skip
    (folder / "ca.pem").write_bytes(pem(ca))
    (folder / "other-ca.pem").write_bytes(pem(build(ca_name, ca_name, server_key.public_key(), server_key, ca=True)))
    (folder / "server.pem").write_bytes(pem(server) + pem(ca))
    (folder / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return folder


class _Models(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the standard library's name)
        authorized = self.headers.get("Authorization") == f"Bearer {KEY}"
        served_host = self.headers.get("Host", "").split(":")[0]
        status = 200 if authorized and served_host == HOST else 401
        body = {"object": "list", "data": [{"id": "llama-3-1-8b-instruct"}]} if status == 200 else {"error": "x"}
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_port(tmp_path_factory):
    folder = _certificates(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], folder
    finally:
        server.shutdown()
        server.server_close()


def _smoke(capsys, port, ca_file):
    code = main(["smoke", "dev", "--pool", "chat", "--resolve", f"{HOST}:{port}:127.0.0.1", "--ca-file", str(ca_file)])
    return code, capsys.readouterr().out


def test_resolve_keeps_the_hostname_for_tls_and_the_host_header(capsys, https_port, monkeypatch):
    port, folder = https_port
    monkeypatch.setenv(endpoints.key_variable("offline-client"), KEY)
    _, out = _smoke(capsys, port, folder / "ca.pem")
    assert "PASS chat models: serves llama-3-1-8b-instruct" in out and "PASS chat no key: 401" in out
    assert "PASS chat key offline-client: accepted" in out and KEY not in out


def test_a_certificate_from_another_ca_fails_in_one_line(capsys, https_port, monkeypatch):
    port, folder = https_port
    monkeypatch.setenv(endpoints.key_variable("offline-client"), KEY)
    code, out = _smoke(capsys, port, folder / "other-ca.pem")
    assert code == 1 and "FAIL chat models: cannot connect" in out and "CERTIFICATE_VERIFY_FAILED" in out
    assert "Traceback" not in out and KEY not in out
