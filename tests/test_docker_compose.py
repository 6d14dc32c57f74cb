"""docker-compose.yml must be a valid Compose file (checked with Debian's docker-compose when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_compose_file_is_valid_and_requires_the_secrets() -> None:
    def config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "config"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={"PATH": os.environ["PATH"], **env},
        )

    nats_passwords = {
        f"NATS_{user}_PASSWORD": f"pw-{user.lower()}"
        for user in ("ADMIN", "THREADING", "ROUTING", "TRANSLATION", "CHANNELS", "INBOX_WEB")
    }
    secrets = {
        "CHANNELS_CHAT_SECRET": "s" * 24,
        "CHANNELS_SURVEY_SECRET": "v" * 24,
        "WEB_SESSION_SECRET": "w" * 32,
        "GRAFANA_ADMIN_PASSWORD": "g" * 16,
    }
    result = config({**secrets, **nats_passwords})
    assert result.returncode == 0, result.stderr
    services = yaml_services(result.stdout)
    assert services == {
        "api-keys",
        "nats",
        "mongo",
        "libretranslate",
        "threading",
        "routing",
        "translation",
        "channels",
        "inbox-web",
        "otel-collector",
        "jaeger",
        "prometheus",
        "grafana",
    }
    # Every service of ours runs on MongoDB (the replica set), none on a SQLite file.
    assert result.stdout.count("MONGODB_URI: mongodb://mongo:27017/inbox?replicaSet=rs0") == 5
    # The services that call others read their own key from the volume the api-keys service fills.
    assert result.stdout.count("INBOX_API_KEY_FILE: /keys/") == 3  # translation, channels, inbox-web
    # Each service connects to NATS as its own user.
    for user in ("threading", "routing", "translation", "channels", "inbox-web"):
        password = nats_passwords[f"NATS_{user.upper().replace('-', '_')}_PASSWORD"]
        assert f"NATS_URL: nats://{user}:{password}@nats:4222" in result.stdout
    # Each service serves /metrics on the port Prometheus scrapes, and sends its spans to the collector.
    assert result.stdout.count("METRICS_PORT: '9464'") == 5
    assert result.stdout.count("OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318") == 5
    scraped = (REPO / "infra/observability/prometheus.yml").read_text()
    for service in ("threading", "routing", "translation", "channels", "inbox-web"):
        assert f'"{service}:9464"' in scraped
    # NATS is reached by the services only: nothing publishes its client port to the host.
    assert "4222:4222" not in result.stdout and "published: 4222" not in result.stdout
    missing = config({})
    assert missing.returncode != 0
    assert "CHANNELS_CHAT_SECRET" in missing.stderr or "NATS_" in missing.stderr


def yaml_services(rendered: str) -> set[str]:
    """Top-level keys under `services:` in docker-compose's normalised output (two-space indent)."""
    names: set[str] = set()
    inside = False
    for line in rendered.splitlines():
        if not line.startswith(" "):
            inside = line.startswith("services:")
            continue
        if inside and line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            names.add(line.strip().rstrip(":"))
    return names


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_the_cluster_profile_runs_three_nats_nodes_a_replica_set_and_every_service_twice() -> None:
    passwords = {
        f"NATS_{user}_PASSWORD": f"pw-{user.lower()}"
        for user in ("ADMIN", "THREADING", "ROUTING", "TRANSLATION", "CHANNELS", "INBOX_WEB")
    }
    secrets = {"CHANNELS_CHAT_SECRET": "s" * 24, "CHANNELS_SURVEY_SECRET": "v" * 24, "WEB_SESSION_SECRET": "w" * 32}
    result = subprocess.run(
        ["docker-compose", "-f", str(REPO / "docker-compose.cluster.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": os.environ["PATH"], **secrets, **passwords},
    )
    assert result.returncode == 0, result.stderr
    services = yaml_services(result.stdout)
    suite = ("threading", "routing", "translation", "channels", "inbox-web")
    assert services == {
        "nats-1",
        "nats-2",
        "nats-3",
        "mongo-1",
        "mongo-2",
        "mongo-3",
        "api-keys",
        "libretranslate",
        *(f"{name}-{replica}" for name in suite for replica in (1, 2)),
    }
    # Every service on the three nodes (any will do) with R3 streams, and on the three-member replica set.
    for user in suite:
        password = passwords[f"NATS_{user.upper().replace('-', '_')}_PASSWORD"]
        nodes = ",".join(f"nats://{user}:{password}@nats-{n}:4222" for n in (1, 2, 3))
        assert result.stdout.count(f"NATS_URL: {nodes}") == 2, user
    # Every service's replicas, and the api-keys command (should it make the keys' bucket).
    assert result.stdout.count("NATS_STREAM_REPLICAS: '3'") == 11
    assert result.stdout.count("replicaSet=rs0") == 10
    routes = (REPO / "infra/nats/nats-cluster.conf").read_text()
    assert all(f"nats-route://nats-{n}:6222" in routes for n in (1, 2, 3))
    assert "include ./authorization.conf" in routes
