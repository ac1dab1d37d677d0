"""Independent verifier: PyJWT checks a Tollgate token using only Tollgate's OIDC discovery and JWKS.

usage: verify_pyjwt.py ISSUER_URL AUDIENCE < token
Prints the verified claims as JSON; exits non-zero on any failure.
"""
import json
import sys
import urllib.request

import jwt


def main() -> int:
    issuer, audience = sys.argv[1], sys.argv[2]
    token = sys.stdin.read().strip()
    with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5) as response:
        discovery = json.load(response)
    assert discovery["issuer"] == issuer, discovery
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=discovery["id_token_signing_alg_values_supported"],
        audience=audience,
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
    )
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
