#!/usr/bin/env python3
"""Mints COUNT dev CI tokens through a dev-mode Tollgate's POST /dev/token and writes them to OUT, one per line.

Used by scripts/bench-state.sh. Every token is a GitHub-shaped token of the dev issuer with its own `jti` (the
dev issuer numbers the tokens it mints), `aud: tollgate` and the dev defaults (`sub`
repo:acme/web:ref:refs/heads/main, `repository_owner_id` 1000). Standard library only: THREADS threads, each
with one keep-alive connection (http.client), so the server's RSA signing is the limit, not connection setup.
Fails (exit 1) on the first non-200 answer or if fewer than COUNT distinct tokens were minted.

    scripts/mint-dev-tokens.py --url http://127.0.0.1:8080 --count 1000 --out tokens.txt [--threads 8] [--ttl 1800]
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def mint(url, count, ttl, out, lock, errors):
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"provider": "github", "ttl_seconds": ttl}).encode()
    headers = {"Content-Type": "application/json"}
    try:
        for _ in range(count):
            conn.request("POST", "/dev/token", body=body, headers=headers)
            response = conn.getresponse()
            token = response.read().decode().strip()
            if response.status != 200 or not token:
                raise RuntimeError(f"POST /dev/token answered {response.status}: {token[:200]}")
            with lock:
                out.append(token)
    except Exception as error:  # reported by the main thread
        errors.append(error)
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of a `tollgate serve --dev` instance")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--ttl", type=int, default=1800, help="token lifetime in seconds (dev issuer: 1..3600)")
    args = parser.parse_args()

    tokens, lock, errors = [], threading.Lock(), []
    shares = [args.count // args.threads + (1 if i < args.count % args.threads else 0) for i in range(args.threads)]
    started = time.monotonic()
    workers = [threading.Thread(target=mint, args=(args.url, n, args.ttl, tokens, lock, errors)) for n in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    if errors:
        print(f"mint-dev-tokens: {errors[0]}", file=sys.stderr)
        return 1
    if len(set(tokens)) != args.count:
        print(f"mint-dev-tokens: {len(set(tokens))} distinct tokens, wanted {args.count}", file=sys.stderr)
        return 1
    with open(args.out, "w") as out:
        out.write("\n".join(tokens) + "\n")
    print(f"minted {args.count} tokens in {elapsed:.1f} s ({args.count / elapsed:.0f}/s) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
