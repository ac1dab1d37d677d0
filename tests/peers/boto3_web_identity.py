#!/usr/bin/env python3
"""Peer: boto3's own web-identity credential provider against an STS-compatible endpoint.

No explicit AssumeRoleWithWebIdentity call here: boto3's default credential chain reads
AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN / AWS_ROLE_SESSION_NAME and calls
AssumeRoleWithWebIdentity itself, on AWS_ENDPOINT_URL_STS (the endpoint under test).
The resulting credentials then call GetCallerIdentity on STS_CHECK_ENDPOINT.

Required env: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN, AWS_ROLE_SESSION_NAME,
AWS_ENDPOINT_URL_STS, AWS_DEFAULT_REGION, STS_CHECK_ENDPOINT.

Prints one JSON line on stdout:
  success: {"access_key_id": "...", "arn": "..."}                       exit 0
  ClientError (either call): {"error_code": "...", "message": "..."}    exit 1
  missing env / other failure: {"error_code": "<exception class>", ...} exit 2
"""
import json
import os
import sys

REQUIRED = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
    "AWS_DEFAULT_REGION",
    "STS_CHECK_ENDPOINT",
)

# Anything that would let another provider win over (or reshape) the web-identity one.
SCRUB = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_ENDPOINT_URL",  # global override would also redirect the check call
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


def emit(obj, code):
    print(json.dumps(obj), flush=True)
    sys.exit(code)


def main():
    missing = [k for k in REQUIRED if not os.environ.get(k)]
    if missing:
        emit({"error_code": "MissingEnv", "message": "missing: " + ", ".join(missing)}, 2)

    for k in SCRUB:
        os.environ.pop(k, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    # Never fall through to the EC2 instance-metadata provider (it would probe 169.254.169.254).
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session = boto3.Session()
        creds = session.get_credentials()
        if creds is None:
            emit({"error_code": "NoCredentials", "message": "default chain found nothing"}, 2)
        method = getattr(creds, "method", None)
        if method != "assume-role-with-web-identity":
            emit({"error_code": "WrongProvider", "message": "credential method: %r" % (method,)}, 2)
        # Deferred refresh: this is where AssumeRoleWithWebIdentity is really called.
        frozen = creds.get_frozen_credentials()
        sts = session.client("sts", endpoint_url=os.environ["STS_CHECK_ENDPOINT"])
        ident = sts.get_caller_identity()
    except ClientError as e:
        err = e.response.get("Error", {})
        emit(
            {
                "error_code": err.get("Code", "Unknown"),
                "message": err.get("Message", ""),
                "operation": e.operation_name,
                "http_status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            },
            1,
        )
    except BotoCoreError as e:
        emit({"error_code": type(e).__name__, "message": str(e)}, 2)

    emit({"access_key_id": frozen.access_key, "arn": ident["Arn"]}, 0)


if __name__ == "__main__":
    main()
