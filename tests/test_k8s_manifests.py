"""The Kubernetes manifests (infra/k8s/) against Kubernetes' own JSON schemas (kubernetes-validate, strict:
an unknown field fails), and what a deployment of the suite needs of them: a three-node NATS cluster with
routes to each node, two replicas of every service with gRPC health probes, resources and a disruption
budget, streams made R3, and the NATS users kept in step with the permissions table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[1] / "infra" / "k8s"
KUBERNETES_VERSION = "1.33"
SERVICES = ("threading", "routing", "translation", "channels", "inbox-web")


def documents() -> list[dict[str, Any]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents() if doc["kind"] == kind}


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_object_is_valid_kubernetes(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_nats_is_a_three_node_cluster_with_a_route_to_each_node_and_one_node_down_at_most() -> None:
    nats = of_kind("StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3 and nats["spec"]["serviceName"] == "nats-cluster"
    config = of_kind("ConfigMap")["nats-config"]["data"]["nats.conf"]
    for node in range(3):
        assert f"nats://nats-{node}.nats-cluster.inbox.svc.cluster.local:6222" in config
    assert "include ./authorization.conf" in config
    assert of_kind("PodDisruptionBudget")["nats"]["spec"]["maxUnavailable"] == 1


def test_every_service_runs_twice_with_health_probes_resources_and_a_disruption_budget() -> None:
    deployments, budgets = of_kind("Deployment"), of_kind("PodDisruptionBudget")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert spec["replicas"] >= 2, name
        [container] = spec["template"]["spec"]["containers"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in container, f"{name} has no {probe}"
            if name != "inbox-web":
                assert "grpc" in container[probe], f"{name}'s {probe} is not grpc.health.v1"
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        labels = spec["template"]["metadata"]["labels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == labels
    settings = of_kind("ConfigMap")["inbox-config"]["data"]
    assert settings["NATS_STREAM_REPLICAS"] == "3"


def test_the_nats_users_are_the_permissions_tables() -> None:
    generated = of_kind("ConfigMap")["nats-authorization"]["data"]["authorization.conf"]
    assert generated == (K8S.parent / "nats" / "authorization.conf").read_text(), (
        "stale: run .venv/bin/python infra/scripts/nats_authorization.py"
    )
