#!/usr/bin/env python3
"""Seeds fuzz/corpus/<target>/ for every cargo-fuzz target (make fuzz runs it before fuzzing).

Usage: scripts/fuzz-seeds.py VECTORS_DIR CORPUS_DIR

Third-party vectors are read from VECTORS_DIR (../shared/vectors) at run time and written only into CORPUS_DIR,
which git ignores: they are never copied into the repository. Extracted: compact JWS/JWE strings and the payloads of
the real GitHub Actions tokens (token_verify, also as STS and RFC 8693 form bodies), JWKs and JWKS documents
(jwks_parser), GitHub's discovery document (discovery_parser). The project's own files seed the rest:
deploy/**/*.yaml (config_parser), policies/*.yaml (policy_parser). A missing VECTORS_DIR is a notice, or an error
under CI=true.
"""

import base64
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlencode

# Must match fuzz/fuzz_targets/token_verify.rs: the fixed instant, issuer, audience and Ed25519 key id.
NOW = 1_700_000_000
ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "tollgate"
ED_HEADER = '{"alg":"EdDSA","kid":"fuzz-ed","typ":"JWT"}'
COMPACT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){2,4}$")
ROLE_ARN = "arn:aws:iam::123456789012:role/deploy"


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class Corpus:
    def __init__(self, root):
        self.root = Path(root)
        self.counts = {}

    def add(self, target, data):
        if isinstance(data, str):
            data = data.encode()
        folder = self.root / target
        folder.mkdir(parents=True, exist_ok=True)
        name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
        (folder / name).write_bytes(data)
        self.counts.setdefault(target, set()).add(name)


def walk(value, found):
    """Collects compact tokens, JWKs and JWKS documents anywhere in a JSON value."""
    if isinstance(value, str):
        if len(value) > 16 and COMPACT.match(value):
            found["tokens"].append(value)
    elif isinstance(value, list):
        for item in value:
            walk(item, found)
    elif isinstance(value, dict):
        if "kty" in value:
            found["jwks"].append({"keys": [value]})
        if isinstance(value.get("keys"), list):
            found["jwks"].append(value)
        for item in value.values():
            walk(item, found)


def refreshed_claims(claims):
    """The claims of a real token, moved to the fuzz target's fixed rules so a re-signed copy verifies."""
    claims = dict(claims, iss=ISSUER, aud=AUDIENCE, iat=NOW - 10, nbf=NOW - 10, exp=NOW + 300)
    return json.dumps(claims, separators=(",", ":"))


def token_forms(token):
    sts = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE_ARN,
        "RoleSessionName": "ci-run-1",
        "DurationSeconds": "3600",
        "WebIdentityToken": token,
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    yield "sts_query_form", "\n" + urlencode(sts)
    yield "sts_query_form", "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\n" + urlencode(
        {k: v for k, v in sts.items() if k not in ("Action", "Version")}
    )
    yield "sts_query_form", urlencode(dict(sts, Policy=policy))
    yield "sts_query_form", urlencode(dict(sts, **{"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/x"}))
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "scope": "deploy",
        "audience": "deploy-api",
    }
    yield "token_exchange_form", urlencode(exchange)
    yield "token_exchange_form", urlencode(
        dict(exchange, subject_token_type="urn:ietf:params:oauth:token-type:jwt", audience="", resource="https://x")
    )
    yield "token_exchange_form", urlencode(dict(exchange, requested_token_type="urn:ietf:params:oauth:token-type:jwt"))
    yield "introspect_request", "Bearer 0123456789abcdef\n" + urlencode({"token": token, "token_type_hint": "access_token"})
    yield "introspect_request", "Basic dmF1bHQ6czNjcmV0\n" + urlencode({"token": token})


def from_vectors(vectors, corpus):
    found = {"tokens": [], "jwks": []}
    for path in sorted(vectors.rglob("*.json")):
        walk(json.loads(path.read_text()), found)
    github = vectors / "github-actions"
    for path in sorted((github / "tokens").glob("*.jwt")):
        token = path.read_text().strip()
        found["tokens"].append(token)
        claims = json.loads(b64decode(token.split(".")[1]))
        corpus.add("token_verify", json.dumps(claims))
        corpus.add("token_verify", refreshed_claims(claims))
        corpus.add("token_verify", ED_HEADER + "\n" + refreshed_claims(claims))
        for target, form in token_forms(token):
            corpus.add(target, form)
    for token in found["tokens"]:
        corpus.add("token_verify", token)
    for jwks in found["jwks"]:
        corpus.add("jwks_parser", json.dumps(jwks))
    for path in sorted(github.glob("jwks_*.json")):
        corpus.add("jwks_parser", path.read_bytes())
    discovery = json.loads((github / "openid-configuration_github_2023.json").read_text())
    corpus.add("discovery_parser", json.dumps(discovery))
    corpus.add("discovery_parser", json.dumps(dict(discovery, jwks_uri="http://127.0.0.1/jwks")))
    corpus.add("discovery_parser", json.dumps(dict(discovery, issuer=ISSUER + "/")))


def from_project(repo, corpus):
    for path in sorted((repo / "deploy").rglob("*.yaml")):
        corpus.add("config_parser", path.read_bytes())
    for path in sorted((repo / "policies").glob("*.yaml")):
        corpus.add("policy_parser", path.read_bytes())
    local = "http://127.0.0.1:8080/dev/issuer/github"
    corpus.add("discovery_parser", json.dumps({"issuer": local, "jwks_uri": local + "/jwks"}))
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main", "iat": NOW, "exp": NOW + 60}
    corpus.add("token_verify", json.dumps(claims))
    for target, form in token_forms("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"):
        corpus.add(target, form)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    vectors, corpus = Path(sys.argv[1]), Corpus(sys.argv[2])
    from_project(Path(__file__).resolve().parent.parent, corpus)
    if vectors.is_dir():
        from_vectors(vectors, corpus)
    elif os.environ.get("CI") == "true":
        sys.exit(f"error: CI=true but {vectors} is missing")
    else:
        print(f"notice: {vectors} is absent; seeding from the project's own files only")
    for target, names in sorted(corpus.counts.items()):
        print(f"seeds: {target}: {len(names)}")


if __name__ == "__main__":
    main()
