#!/usr/bin/env python3
"""Validates docker-compose.yml where no Docker engine runs: it parses, the
full stack is there, every service has a health check, and api/worker wait
for healthy dependencies."""
import sys

import yaml

path = sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"
with open(path) as f:
    doc = yaml.safe_load(f)

errors = []
services = doc.get("services") or {}
for name in ("postgres", "redis", "api", "worker"):
    svc = services.get(name)
    if svc is None:
        errors.append(f"service {name} is missing")
        continue
    check = svc.get("healthcheck") or {}
    if not check.get("test"):
        errors.append(f"service {name} has no healthcheck")
    if not (svc.get("image") or svc.get("build")):
        errors.append(f"service {name} has neither image nor build")
for name in ("api", "worker"):
    deps = (services.get(name) or {}).get("depends_on") or {}
    for dep in ("postgres", "redis"):
        cond = deps.get(dep, {}).get("condition") if isinstance(deps, dict) else None
        if cond != "service_healthy":
            errors.append(f"{name} must depend on {dep} with condition service_healthy")
    env = (services.get(name) or {}).get("environment") or {}
    for var in ("DATABASE_URL", "REDIS_URL"):
        if var not in env:
            errors.append(f"{name} does not set {var}")

if errors:
    print("docker-compose.yml is invalid:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"{path}: {len(services)} services, all with health checks")
