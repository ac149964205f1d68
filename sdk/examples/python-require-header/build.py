#!/usr/bin/python3
"""Builds the require-header plugin into one executable file.

    /usr/bin/python3 build.py -o /usr/local/lib/sshgress/require-header

generates the Python gRPC stubs of sdk/proto/plugin/v1/plugin.proto and of
goplugin.proto with grpc_tools (Debian: python3-grpc-tools), and packs them
with require_header.py into a zipapp run by /usr/bin/python3 -I. One file
holds all of the plugin's own code, so the sha256 the edge's config names
covers all of it (the interpreter and the grpcio, protobuf and cryptography
packages come from the system, like a Go plugin's libc).
"""

import argparse
import os
import shutil
import sys
import tempfile
import zipapp

from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto", "plugin", "v1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True, help="the executable to write")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as src:
        rc = protoc.main([
            "grpc_tools.protoc",
            "-I" + PROTO_DIR,
            "-I" + HERE,
            "--python_out=" + src,
            "--grpc_python_out=" + src,
            "plugin.proto",
            "goplugin.proto",
        ])
        if rc != 0:
            sys.exit("build.py: protoc failed (exit %d)" % rc)
        shutil.copy(os.path.join(HERE, "require_header.py"), src)
        zipapp.create_archive(src, args.output, interpreter="/usr/bin/python3 -I", main="require_header:main")
    os.chmod(args.output, 0o755)


if __name__ == "__main__":
    main()
