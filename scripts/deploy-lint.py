#!/usr/bin/env python3
"""Checks of the rendered Kubernetes manifests that no off-the-shelf tool does, for scripts/deploy-lint.sh.

Runs in .venv-deploy (PyYAML and kubernetes-validate come from deploy/requirements-lint.txt).

  validate K8S_VERSION... -- RENDERED.yaml...
      Every object against the Kubernetes JSON schemas of each version, strict (unknown fields are errors).
      kubernetes-validate's own CLI only warns, exit 0, on a kind it has no schema for, which would let a typo'd
      kind or apiVersion pass: here a missing schema fails, except for the one CRD kind we use, ServiceMonitor
      (monitoring.coreos.com/v1, the Prometheus Operator's; the wheel has no CRD schemas). That one gets a
      structural check instead: it must select a Service of the same render by labels and name one of that
      Service's ports, with path /metrics.

  check-config TOLLGATE_BIN WORKDIR RENDERED.yaml
      Rebuilds the Deployment's container filesystem under WORKDIR from the render: each ConfigMap volume's
      files at its mountPath, each Secret volume's items (a throw-away key of signing.alg from `tollgate keys
      generate` for a .pem item; nothing else is supported), an empty directory for each other volume. Rewrites those mount
      paths in the config file to WORKDIR, then runs `tollgate check --strict --config` on it with the
      Deployment's environment (secretKeyRef values replaced by dummies of the right shape) and nothing else.
      Also checks the wiring: --config names a file of a mounted ConfigMap; the key file, the policy folder
      and a SQLite path lie under mounts; terminationGracePeriodSeconds exceeds preStop + shutdown grace.
"""

import os
import subprocess
import sys

import yaml

import kubernetes_validate
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

CRD_WITHOUT_SCHEMA = ("monitoring.coreos.com/v1", "ServiceMonitor")

# Dummy values for Secret-sourced environment variables, by variable name: the shape tollgate check parses.
DUMMY_SECRET_ENV = {"TOLLGATE_STATE_URL": "postgres://tollgate:dummy@db.invalid:5432/tollgate?sslmode=require"}


def load(paths):
    objects = []
    for path in paths:
        with open(path) as handle:
            objects += [(path, doc) for doc in yaml.safe_load_all(handle) if doc]
    return objects


def name_of(doc):
    return "%s/%s" % (doc.get("kind"), doc.get("metadata", {}).get("name"))


def check_service_monitor(doc, objects):
    """The CRD kind without a schema: it must scrape /metrics on a named port of a Service in the render."""
    errors = []
    spec = doc.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    namespace = doc.get("metadata", {}).get("namespace")
    services = [
        d for _, d in objects
        if d.get("kind") == "Service" and d.get("metadata", {}).get("namespace") == namespace
        and selector and all(d.get("metadata", {}).get("labels", {}).get(k) == v for k, v in selector.items())
    ]
    if len(services) != 1:
        errors.append("selector %s matches %d Services (want exactly 1)" % (selector, len(services)))
    endpoints = spec.get("endpoints") or []
    if not endpoints:
        errors.append("no endpoints")
    unknown = set(spec) - {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels",
                           "sampleLimit", "targetLimit", "attachMetadata", "scrapeProtocols"}
    if unknown:
        errors.append("unexpected spec fields %s" % sorted(unknown))
    for endpoint in endpoints:
        if endpoint.get("path") != "/metrics":
            errors.append("endpoint path %r is not /metrics" % endpoint.get("path"))
        ports = {p.get("name") for s in services for p in s["spec"].get("ports", [])}
        if endpoint.get("port") not in ports:
            errors.append("endpoint port %r is not a port of the selected Service %s" % (endpoint.get("port"), ports))
    return errors


def validate(versions, paths):
    objects = load(paths)
    failures = checked = 0
    for version in versions:
        for path, doc in objects:
            label = "%s %s (Kubernetes %s)" % (path, name_of(doc), version)
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                checked += 1
            except ValidationError as error:
                failures += 1
                where = ".".join(str(item) for item in error.path)
                print("ERROR %s: %s: %s" % (label, where, error.message))
            except SchemaNotFoundError as error:
                if (doc.get("apiVersion"), doc.get("kind")) != CRD_WITHOUT_SCHEMA:
                    failures += 1
                    print("ERROR %s: %s" % (label, error.message))
                    continue
                errors = check_service_monitor(doc, [o for o in objects if o[0] == path])
                for message in errors:
                    print("ERROR %s (CRD, structural check): %s" % (label, message))
                failures += len(errors)
                checked += 1
    print("kubernetes-validate: %d object checks (%d objects x Kubernetes %s), %d failed"
          % (checked, len(objects), ", ".join(versions), failures))
    return 1 if failures else 0


def under(path, mounts):
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def check_config(tollgate, workdir, rendered):
    objects = [doc for _, doc in load([rendered])]
    by_kind = {}
    for doc in objects:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    deployments = list(by_kind.get("Deployment", {}).values())
    if len(deployments) != 1:
        print("ERROR %s: %d Deployments (want 1)" % (rendered, len(deployments)))
        return 1
    pod = deployments[0]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    root = os.path.join(workdir, "root")
    errors = []
    mounts = {}
    keys = []
    for mount in container.get("volumeMounts", []):
        target = root + mount["mountPath"]
        os.makedirs(target, exist_ok=True)
        mounts[mount["mountPath"]] = target
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            data = by_kind.get("ConfigMap", {}).get(volume["configMap"]["name"])
            if data is None:
                errors.append("volume %s: ConfigMap %s is not in the render" % (mount["name"], volume["configMap"]["name"]))
                continue
            for key, text in (data.get("data") or {}).items():
                with open(os.path.join(target, key), "w") as handle:
                    handle.write(text)
        elif "secret" in volume:
            for item in volume["secret"].get("items") or []:
                if not item["path"].endswith(".pem"):
                    errors.append("secret volume %s: cannot fake item %s" % (mount["name"], item["path"]))
                    continue
                keys.append(os.path.join(target, item["path"]))
    args = container.get("args") or []
    if "--config" not in args or args.index("--config") + 1 >= len(args):
        print("ERROR the container's args %s name no --config" % args)
        return 1
    config_path = args[args.index("--config") + 1]
    if not under(config_path, mounts) or not os.path.isfile(root + config_path):
        errors.append("--config %s is not a file of a mounted ConfigMap" % config_path)
    if errors:
        for message in errors:
            print("ERROR %s" % message)
        return 1
    with open(root + config_path) as handle:
        text = handle.read()
    config = yaml.safe_load(text)
    # The wiring: every path the config names must be under one of the pod's mounts.
    signing = config.get("signing") or {}
    named = {"policies": config.get("policies"), "signing.key_file": signing.get("key_file")}
    if (config.get("state") or {}).get("backend", "sqlite") == "sqlite":
        named["state.path"] = (config.get("state") or {}).get("path")
    if (config.get("audit") or {}).get("path"):
        named["audit.path"] = config["audit"]["path"]
    for key, path in named.items():
        if key == "signing.key_file" and signing.get("managed"):
            continue
        if not path or not path.startswith("/") or not under(path, mounts):
            errors.append("%s: %r is not an absolute path under the pod's mounts %s" % (key, path, sorted(mounts)))
    for key in keys:
        subprocess.run([tollgate, "keys", "generate", "--alg", signing.get("alg", "ES256"), "--out", key],
                       check=True, stdout=subprocess.DEVNULL)
    grace = config.get("shutdown_grace_seconds", 20)
    pre_stop = (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination <= pre_stop + grace:
        errors.append("terminationGracePeriodSeconds %d <= preStop sleep %d + shutdown_grace_seconds %d"
                      % (termination, pre_stop, grace))
    if errors:
        for message in errors:
            print("ERROR %s" % message)
        return 1
    # Longest mount first, so that /etc/tollgate/config is rewritten before a /etc/tollgate could be.
    for mount_path in sorted(mounts, key=len, reverse=True):
        text = text.replace(mount_path, mounts[mount_path])
    checked = os.path.join(workdir, "tollgate.yaml")
    with open(checked, "w") as handle:
        handle.write(text)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir}
    for variable in container.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in (variable.get("valueFrom") or {}):
            if variable["name"] not in DUMMY_SECRET_ENV:
                print("ERROR no dummy value for the Secret-sourced variable %s" % variable["name"])
                return 1
            env[variable["name"]] = DUMMY_SECRET_ENV[variable["name"]]
    result = subprocess.run([tollgate, "check", "--strict", "--config", checked], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = result.stdout.strip().replace(workdir + "/root", "").replace(checked, config_path)
    print("tollgate check --strict (%s, %s): %s" % (rendered.rsplit("/", 1)[-1], config_path, output))
    return result.returncode


def main(argv):
    if argv[:1] == ["validate"] and "--" in argv:
        split = argv.index("--")
        return validate(argv[1:split], argv[split + 1:])
    if argv[:1] == ["check-config"] and len(argv) == 4:
        return check_config(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
