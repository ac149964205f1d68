"""require-header: an sshgress HTTP middleware plugin written in Python.

    ssh -R 443:localhost:3000 v2@edge http --require-header X-Api-Key

refuses, with 403 and a short body, every request whose head lacks
X-Api-Key (or carries it empty); other requests go upstream unchanged.

It speaks the same contract as a Go plugin built with sdk.Serve, without
the Go SDK: the Plugin and Middleware services of plugin.proto over gRPC,
and hashicorp/go-plugin's handshake around them:

1. the edge starts it with an empty environment but for go-plugin's
   variables: the magic cookie SSHGRESS_PLUGIN, PLUGIN_PROTOCOL_VERSIONS
   and, because the edge enables AutoMTLS, PLUGIN_CLIENT_CERT (the edge's
   one-time client certificate, PEM);
2. the plugin makes a one-time certificate of its own, listens on a Unix
   socket in a private directory with mutual TLS (only the holder of the
   edge's certificate may connect), and prints one line on stdout:
   CORE-PROTOCOL|APP-PROTOCOL|unix|SOCKET|grpc|BASE64-DER-CERT
3. beside plugin.proto's services it serves go-plugin's health service
   (service "plugin" is SERVING) and plugin.GRPCController/Shutdown.
   go-plugin's broker and stdio services are optional: the edge uses no
   broker, and the plugin logs to stderr (hclog's JSON lines, so each line
   reaches the edge's log with its level).

Nothing but the handshake line is ever written to stdout.

Build it into one executable file with build.py (see README.md).
"""

import base64
import datetime
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import goplugin_pb2
import plugin_pb2
import plugin_pb2_grpc

NAME = "require-header"
VERSION = "0.1.0"
FLAG = "require-header"

# go-plugin's handshake, as sdk/internal/wire declares it for the edge.
CORE_PROTOCOL_VERSION = "1"
APP_PROTOCOL_VERSION = "1"  # moves with the proto package sshgress.plugin.v1
API_VERSION = 1  # Manifest.api_version
MAGIC_COOKIE_KEY = "SSHGRESS_PLUGIN"
MAGIC_COOKIE_VALUE = "b1d7c0a4-sshgress-plugin-v1"

# MAX_MESSAGE_BYTES bounds every request the plugin accepts: a request
# head is at most 64 KiB at the edge, so 1 MiB is plenty.
MAX_MESSAGE_BYTES = 1 << 20
# MAX_HEADER_NAME bounds the flag's value.
MAX_HEADER_NAME = 256
# CACHE_TTL_MILLIS lets the edge reuse a verdict for requests with the same
# value of the required header: the verdict depends on nothing else. The
# edge caps it at 5 minutes.
CACHE_TTL_MILLIS = 5 * 60 * 1000
# WORKERS bounds the threads serving calls; the edge calls concurrently.
WORKERS = 8
# CERT_DAYS is the validity of the one-time certificate; it never leaves
# this process and dies with it.
CERT_DAYS = 3650

# TOKEN_CHARS are the characters of an RFC 9110 header field name.
TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
)

log = logging.getLogger(NAME)


class UserError(Exception):
    """A refusal shown verbatim in the tunnel owner's SSH session."""


def canonical(name):
    """Returns name as Go's http.CanonicalHeaderKey writes a valid token."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def parse_header_name(values):
    """Checks the flag's values and returns the canonical header name."""
    if len(values) != 1:
        raise UserError("--%s takes one header name (got %d)" % (FLAG, len(values)))
    name = values[0].strip()
    if not name or len(name) > MAX_HEADER_NAME or not set(name) <= TOKEN_CHARS:
        raise UserError(
            "--%s needs a header name of letters, digits and dashes, at most %d characters (e.g. X-Api-Key)"
            % (FLAG, MAX_HEADER_NAME)
        )
    name = canonical(name)
    if name == "Host":
        raise UserError("--%s: Host is routed by the edge and every request has it; name another header" % FLAG)
    return name


def has_header(headers, name):
    """Reports whether headers (plugin_pb2.Header list) carry name with a non-empty value."""
    lower = name.lower()
    for h in headers:
        if h.name.lower() == lower and any(v != "" for v in h.values):
            return True
    return False


class Tunnels:
    """The required header of every open tunnel, guarded by a lock: the edge calls concurrently."""

    def __init__(self):
        self._lock = threading.Lock()
        self._required = {}

    def open(self, tunnel_id, name):
        with self._lock:
            self._required[tunnel_id] = name

    def close(self, tunnel_id):
        with self._lock:
            self._required.pop(tunnel_id, None)

    def required(self, tunnel_id):
        with self._lock:
            return self._required.get(tunnel_id)


class PluginService(plugin_pb2_grpc.PluginServicer):
    """The Plugin service of plugin.proto: manifest, configuration, tunnels."""

    def __init__(self, tunnels):
        self.tunnels = tunnels

    def Describe(self, request, context):
        flag = plugin_pb2.FlagSpec(
            name=FLAG,
            type=plugin_pb2.FLAG_TYPE_STRING,
            help="Refuse requests that lack this header with 403.",
            value_name="NAME",
            commands=["http"],
        )
        manifest = plugin_pb2.Manifest(
            name=NAME,
            version=VERSION,
            api_version=API_VERSION,
            flags=[flag],
            http_middleware=True,
        )
        return plugin_pb2.DescribeResponse(manifest=manifest)

    def Configure(self, request, context):
        raw = request.config_json or b"{}"
        try:
            section = json.loads(raw)
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config section is not JSON: %s" % e)
        if not isinstance(section, dict):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config section is not a JSON object")
        if section:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "require-header: configure: unknown setting %r (this plugin has no settings)" % sorted(section)[0],
            )
        log.info("configured")
        return plugin_pb2.ConfigureResponse()

    def OpenTunnel(self, request, context):
        values = request.values.get(FLAG)
        try:
            name = parse_header_name(list(values.values) if values is not None else [])
        except UserError as e:
            # INVALID_ARGUMENT refuses the tunnel; the edge shows the
            # message to its owner verbatim.
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        self.tunnels.open(request.tunnel_id, name)
        return plugin_pb2.OpenTunnelResponse(protection="requires the %s header" % name)

    def CloseTunnel(self, request, context):
        self.tunnels.close(request.tunnel_id)
        return plugin_pb2.CloseTunnelResponse()


class MiddlewareService(plugin_pb2_grpc.MiddlewareServicer):
    """The Middleware service: one verdict per request head."""

    def __init__(self, tunnels):
        self.tunnels = tunnels

    def Check(self, request, context):
        name = self.tunnels.required(request.tunnel_id)
        if name is None:
            # Any error makes the edge answer 503: fail closed.
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "require-header: check: tunnel %r is not open" % request.tunnel_id)
        cache = plugin_pb2.CacheHint(depends_on=[name], ttl_millis=CACHE_TTL_MILLIS)
        if has_header(request.headers, name):
            return plugin_pb2.CheckResponse(**{"continue": plugin_pb2.Continue(), "cache": cache})
        body = ("403 Forbidden: this endpoint requires the %s header.\n" % name).encode()
        respond = plugin_pb2.Respond(
            status=403,
            headers=[plugin_pb2.Header(name="Content-Type", values=["text/plain; charset=utf-8"])],
            body=body,
        )
        return plugin_pb2.CheckResponse(respond=respond, cache=cache)


class GoPluginServices:
    """go-plugin's health check and controller, registered by their full names."""

    def __init__(self, shutdown):
        self.shutdown = shutdown

    def health_check(self, request, context):
        status = goplugin_pb2.HealthCheckResponse.SERVING
        if request.service not in ("", "plugin"):
            status = goplugin_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        return goplugin_pb2.HealthCheckResponse(status=status)

    def controller_shutdown(self, request, context):
        log.info("shutdown requested by the edge")
        self.shutdown.set()
        return goplugin_pb2.Empty()

    def handlers(self):
        def unary(fn, req):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=lambda m: m.SerializeToString()
            )

        return [
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health", {"Check": unary(self.health_check, goplugin_pb2.HealthCheckRequest)}
            ),
            grpc.method_handlers_generic_handler(
                "plugin.GRPCController", {"Shutdown": unary(self.controller_shutdown, goplugin_pb2.Empty)}
            ),
        ]


class HCLogJSON(logging.Formatter):
    """Formats records as hclog's JSON lines, which go-plugin relays with their level."""

    LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warn", logging.ERROR: "error"}

    def format(self, record):
        now = datetime.datetime.now(datetime.timezone.utc)
        entry = {
            "@level": self.LEVELS.get(record.levelno, "error"),
            "@message": record.getMessage(),
            "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z",
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def one_time_certificate():
    """Returns (key PEM, cert PEM, cert DER) of a fresh self-signed certificate for localhost.

    go-plugin's host dials with server name "localhost" and trusts exactly
    the certificate the handshake line carries.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def refuse(message):
    """Explains on stderr why the plugin does not start, and exits 1."""
    sys.stderr.write("require-header: %s\n" % message)
    sys.exit(1)


def main():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HCLogJSON())
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        refuse("this executable is an sshgress plugin: the edge starts it (see docs/plugins.md); it is not run by hand")
    if APP_PROTOCOL_VERSION not in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        refuse("the edge speaks plugin protocol %r, this plugin only %s" % (os.environ.get("PLUGIN_PROTOCOL_VERSIONS", ""), APP_PROTOCOL_VERSION))
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "").encode()
    if not client_cert:
        # The edge always enables AutoMTLS: without the edge's certificate,
        # anyone who can reach the socket could call the plugin.
        refuse("no PLUGIN_CLIENT_CERT: refusing to serve without mutual TLS")

    key_pem, cert_pem, cert_der = one_time_certificate()
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert, require_client_auth=True)

    shutdown = threading.Event()
    tunnels = Tunnels()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
    )
    plugin_pb2_grpc.add_PluginServicer_to_server(PluginService(tunnels), server)
    plugin_pb2_grpc.add_MiddlewareServicer_to_server(MiddlewareService(tunnels), server)
    server.add_generic_rpc_handlers(GoPluginServices(shutdown).handlers())

    sockdir = tempfile.mkdtemp(prefix="sshgress-plugin-")  # mode 0700
    try:
        sock = os.path.join(sockdir, "plugin.sock")
        server.add_secure_port("unix:" + sock, creds)
        server.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: shutdown.set())
        cert_b64 = base64.b64encode(cert_der).decode().rstrip("=")  # Go's base64.RawStdEncoding
        sys.stdout.write("|".join([CORE_PROTOCOL_VERSION, APP_PROTOCOL_VERSION, "unix", sock, "grpc", cert_b64]) + "\n")
        sys.stdout.flush()
        log.info("serving")
        while not shutdown.wait(1):
            pass
        server.stop(grace=1).wait(2)
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)


if __name__ == "__main__":
    main()
