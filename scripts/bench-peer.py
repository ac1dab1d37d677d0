#!/usr/bin/env python3
"""The peer of scripts/bench-load.sh: starts OpenBao (`bao server -dev`, in-memory storage, 127.0.0.1 only) and
configures what a user would to let a CI token log in, on the same key and claims as Tollgate's bench role:

  - no audit device: OpenBao 2.x enables them only from its config file, and without one each login is cheaper
    for OpenBao, so the comparison leans its way (Tollgate runs with its audit log on);
  - auth/jwt with jwt_validation_pubkeys = the bench issuer's RSA key as PEM (the counterpart of a static
    jwks_file) and bound_issuer;
  - role `deploy`: role_type jwt, bound_audiences [tollgate], bound_claims {repository_owner_id: 1000,
    sub: repo:acme/web:ref:refs/heads/main}, user_claim sub, batch tokens of 15 minutes (no storage write per
    login: the cheapest kind OpenBao has).

Checks one login with the bench token (200 and an auth block) and one with a wrong role (refused), then prints
shell assignments for the bench: port, server_pid. The server keeps running (its own session); the bench stops it.

    scripts/bench-peer.py --bao BAO --work DIR --jwks JWKS --issuer URL --token FILE
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt  # PyJWT, from the project's .venv
from cryptography.hazmat.primitives import serialization

ROOT = "bench-root"


def call(base, method, path, body=None, token=ROOT):
    request = urllib.request.Request(f"{base}{path}", method=method)
    request.add_header("X-Vault-Token", token)
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, data=data, timeout=10) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main():
    parser = argparse.ArgumentParser()
    for name in ("--bao", "--work", "--jwks", "--issuer", "--token"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
    env["HOME"] = args.work
    server = subprocess.Popen(
        [args.bao, "server", "-dev", f"-dev-root-token-id={ROOT}", "-dev-no-store-token",
         f"-dev-listen-address=127.0.0.1:{port}", "-log-level=warn"],
        stdin=subprocess.DEVNULL, stdout=open(f"{args.work}/bao.log", "w"), stderr=subprocess.STDOUT,
        env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if server.poll() is not None:
            sys.exit(f"bao exited ({server.returncode}); see {args.work}/bao.log")
        try:
            if call(base, "GET", "/v1/sys/health")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.05)
    else:
        server.kill()
        sys.exit("bao did not become ready in 15 s")

    keys = json.load(open(args.jwks))["keys"]
    rsa = [key for key in keys if key.get("kty") == "RSA"]
    pem = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(rsa[0])).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    steps = [
        ("POST", "/v1/sys/auth/jwt", {"type": "jwt"}),
        ("POST", "/v1/auth/jwt/config", {"jwt_validation_pubkeys": [pem], "bound_issuer": args.issuer}),
        ("POST", "/v1/auth/jwt/role/deploy", {
            "role_type": "jwt", "bound_audiences": ["tollgate"], "user_claim": "sub",
            "bound_claims": {"repository_owner_id": "1000", "sub": "repo:acme/web:ref:refs/heads/main"},
            "token_type": "batch", "token_ttl": "15m", "token_policies": ["default"]}),
    ]
    for method, path, body in steps:
        status, answer = call(base, method, path, body)
        if status not in (200, 204):
            server.kill()
            sys.exit(f"{method} {path}: {status} {answer}")
    token = open(args.token).read().strip()
    status, answer = call(base, "POST", "/v1/auth/jwt/login", {"role": "deploy", "jwt": token}, token="")
    if status != 200 or not answer.get("auth", {}).get("client_token"):
        server.kill()
        sys.exit(f"the bench token does not log in to OpenBao: {status} {answer}")
    status, _ = call(base, "POST", "/v1/auth/jwt/login", {"role": "nobody", "jwt": token}, token="")
    if status < 400:
        server.kill()
        sys.exit(f"an unknown role logged in to OpenBao: {status}")
    print(f"port={port}\nserver_pid={server.pid}")


if __name__ == "__main__":
    main()
