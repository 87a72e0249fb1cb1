"""The Kubernetes manifests of deploy/k8s/: every overlay rendered by `kubectl kustomize` and each of
its objects validated against the schemas of every supported Kubernetes version (kubernetes-validate,
strict: unknown fields fail), then what the manifests promise, read from the rendered objects.
These are schema and consistency checks: nothing here runs the manifests on a cluster.

Without kubectl these tests skip, saying why; with REQUIRE_KUBECTL=1 (CI) they fail instead.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import yaml

from {{ cookiecutter.package_name }}.contract import READINESS_PROBE

PROJECT = Path(__file__).resolve().parents[2]
K8S = PROJECT / "deploy" / "k8s"
COMPOSE = PROJECT / "compose"
OVERLAYS = ("cpu", "gpu", "secure", "loadtest")
# The supported Kubernetes versions: the three newest minor releases that the kubernetes-validate
# pinned in requirements.txt has schemas for (upstream maintains the three newest minors).
KUBERNETES_VERSIONS = ("1.35", "1.36", "1.37")
# The ConfigMaps are generated from compose/'s files, outside the kustomizations (as in the
# Makefile's kube-manifests target).
KUSTOMIZE = ("kustomize", "--load-restrictor", "LoadRestrictionsNone")
# The containers that requests pass through, and which must drain them when they stop.
SERVING = {"tfserving": "tfserving", "tfserving-balancer": "haproxy", "tfserving-proxy": "nginx"}

Manifest = dict[str, Any]


def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        message = "kubectl is not on PATH: these tests render deploy/k8s/ with `kubectl kustomize`"
        if os.environ.get("REQUIRE_KUBECTL") == "1":
            pytest.fail(message + ", and REQUIRE_KUBECTL=1")
        pytest.skip(message)
    return path


@functools.cache
def _kustomize(kubectl: str, directory: Path) -> tuple[Manifest, ...]:
    result = subprocess.run([kubectl, *KUSTOMIZE, str(directory)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(overlay: str | Path) -> tuple[Manifest, ...]:
    directory = overlay if isinstance(overlay, Path) else K8S / "overlays" / overlay
    return _kustomize(kubectl(), directory)


def find(docs: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def of_kind(docs: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def container(deployment: Manifest, name: str) -> Manifest:
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert name in containers, f"{deployment['metadata']['name']} has no container {name}"
    return containers[name]


def server(overlay: str) -> Manifest:
    return container(find(render(overlay), "Deployment", "tfserving"), "tfserving")


def env(c: Manifest) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def service_port(docs: tuple[Manifest, ...], host: str, port: int) -> Manifest:
    """The Service that answers host:port inside the namespace, and that it selects some pods."""
    service = find(docs, "Service", host)
    assert port in [p["port"] for p in service["spec"]["ports"]], f"Service {host} has no port {port}"
    assert any(selects(service["spec"]["selector"], pod_labels(d)) for d in of_kind(docs, "Deployment")), host
    return service


def dotenv() -> dict[str, str]:
    lines = (PROJECT / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))


def compose_services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((COMPOSE / "docker-compose.yml").read_text())["services"]
    return services


def compose_defaults(text: str) -> str:
    """${VAR:-default} as compose expands it when VAR is unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def seconds(value: str, unit: str | None, default_unit: str) -> float:
    return int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit or default_unit]


def longest_request_seconds() -> float:
    """The longest a request may take through the balancer and the TLS proxy (their timeouts)."""
    haproxy = re.findall(r"^\s*timeout server\s+(\d+)(ms|s|m|h)?\s*$", (COMPOSE / "haproxy.cfg").read_text(), re.M)
    nginx = re.findall(r"(?:proxy|grpc)_read_timeout\s+(\d+)(ms|s|m|h)?;", (COMPOSE / "nginx.conf").read_text())
    assert haproxy and nginx
    return max([seconds(v, u, "ms") for v, u in haproxy] + [seconds(v, u, "s") for v, u in nginx])


def quantity(text: str | int) -> float:
    """A Kubernetes quantity such as 1Gi, 256Mi or 500m, as a number."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i|[kMGT]|m)?", str(text))
    assert match, text
    factor = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}[match.group(2)]
    return float(match.group(1)) * factor


# --- schemas --------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_of_the_overlay_validates_strictly(overlay: str, version: str) -> None:
    docs = render(overlay)
    assert docs
    errors = []
    for doc in docs:
        try:
            # A kind without a schema raises SchemaNotFoundError: the test fails, nothing is skipped.
            checked = kubernetes_validate.validate(doc, version, strict=True)
            assert checked == version, f"validated against {checked}, not {version}"
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{doc['kind']} {doc['metadata']['name']}: {path}: {error.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_model_volume_shell_validates_strictly(version: str) -> None:
    docs = [doc for doc in yaml.safe_load_all((K8S / "tools" / "models-shell.yaml").read_text()) if doc]
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    assert find(tuple(docs), "Pod", "models-shell")["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "models"


# --- the model server -----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_server_probes_wait_until_the_model_is_available(overlay: str) -> None:
    """TF Serving answers 200 in every version state: the probes must read AVAILABLE in the body."""
    tfserving = server(overlay)
    model = dotenv()["MODEL_NAME"]
    assert env(tfserving)["MODEL_NAME"] == model
    for kind in ("startupProbe", "readinessProbe"):
        probe = tfserving[kind]
        command = probe["exec"]["command"]
        assert command == ["bash", "-c", READINESS_PROBE], kind  # the contract's probe, as compose's healthcheck
        script = command[2].replace("${MODEL_NAME}", env(tfserving)["MODEL_NAME"])
        assert "/dev/tcp/127.0.0.1/8501" in script and f"GET /v1/models/{model} " in script, kind
        assert "grep -q AVAILABLE" in script, kind
    startup = tfserving["startupProbe"]
    # At least compose's start_period: loading and warming up the model come before the ports open.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_server_runs_with_the_flags_and_files_of_compose(overlay: str) -> None:
    compose = compose_services()["tfserving"]
    tfserving = server(overlay)
    assert tfserving["args"] == [compose_defaults(arg) for arg in compose["command"]]
    mounts = {m["mountPath"]: m for m in tfserving["volumeMounts"]}
    deployment = find(render(overlay), "Deployment", "tfserving")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    config = find(render(overlay), "ConfigMap", volumes[mounts["/config"]["name"]]["configMap"]["name"])
    for volume in compose["volumes"]:
        source, target = volume.split(":")[:2]
        if target.startswith("/config/"):  # each compose file is a key of the mounted ConfigMap
            assert Path(target).name in config["data"] and Path(source).name == Path(target).name, volume
        else:  # the models, read-only at the same place
            assert target == "/models" and mounts["/models"]["readOnly"] is True
            claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
            find(render(overlay), "PersistentVolumeClaim", claim)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_never_drop_capacity(overlay: str) -> None:
    for name in SERVING:
        if name == "tfserving-proxy" and overlay != "secure":
            continue
        strategy = find(render(overlay), "Deployment", name)["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stopping_pods_leave_the_pool_then_finish_their_requests(overlay: str) -> None:
    """preStop sleeps while the pod leaves the endpoints and the balancer; the grace period lets the
    requests in flight finish (TF Serving ignores SIGTERM, so it is killed at the end of it)."""
    for name, container_name in SERVING.items():
        if name == "tfserving-proxy" and overlay != "secure":
            continue
        deployment = find(render(overlay), "Deployment", name)
        sleep = container(deployment, container_name)["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert sleep >= 5, name
        assert grace - sleep >= longest_request_seconds(), f"{name}: {grace} s grace - {sleep} s preStop"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_a_memory_limit(overlay: str) -> None:
    for deployment in of_kind(render(overlay), "Deployment"):
        for c in deployment["spec"]["template"]["spec"]["containers"]:
            assert "memory" in c["resources"]["limits"], f"{deployment['metadata']['name']}/{c['name']}"
    # The server's memory is reserved as a whole, so that a node short of memory does not evict it first.
    resources = server(overlay)["resources"]
    assert quantity(resources["requests"]["memory"]) == quantity(resources["limits"]["memory"])


def test_gpu_overlay_runs_the_gpu_image_on_a_gpu_with_a_large_shm() -> None:
    docs = render("gpu")
    tfserving = server("gpu")
    assert tfserving["image"] == server("cpu")["image"] + "-gpu"
    assert int(tfserving["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    shm = [m for m in tfserving["volumeMounts"] if m["mountPath"] == "/dev/shm"]
    assert len(shm) == 1
    volumes = {v["name"]: v for v in find(docs, "Deployment", "tfserving")["spec"]["template"]["spec"]["volumes"]}
    empty_dir = volumes[shm[0]["name"]]["emptyDir"]
    assert empty_dir["medium"] == "Memory"
    # A memory-backed emptyDir counts against the container's memory limit: it must leave the CPU
    # server's memory on top of it.
    cpu_limit = quantity(server("cpu")["resources"]["limits"]["memory"])
    assert quantity(tfserving["resources"]["limits"]["memory"]) >= cpu_limit + quantity(empty_dir["sizeLimit"])
    assert "nvidia.com/gpu" not in server("cpu")["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_each_server_pod_where_monitoring_config_serves(overlay: str) -> None:
    path = re.search(r'path:\s*"([^"]+)"', (COMPOSE / "monitoring.config").read_text())
    assert path
    annotations = find(render(overlay), "Deployment", "tfserving")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8501"
    assert annotations["prometheus.io/path"] == path.group(1)


# --- balancing, disruption, autoscaling -----------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_balancer_sees_every_ready_server_through_a_headless_service(overlay: str) -> None:
    docs = render(overlay)
    replicas = find(docs, "Service", "tfserving-replica")
    assert replicas["spec"]["clusterIP"] == "None"
    assert selects(replicas["spec"]["selector"], pod_labels(find(docs, "Deployment", "tfserving")))
    assert {p["port"] for p in replicas["spec"]["ports"]} == {8500, 8501}
    assert not replicas["spec"].get("publishNotReadyAddresses", False)
    # Clients use tfserving, the balancer's Service, on the ports of TF Serving.
    front = find(docs, "Service", "tfserving")
    assert selects(front["spec"]["selector"], pod_labels(find(docs, "Deployment", "tfserving-balancer")))
    assert {p["port"] for p in front["spec"]["ports"]} == {8500, 8501}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_balancer_asks_the_cluster_dns_for_a_name_it_answers(overlay: str) -> None:
    """HAProxy's resolvers read only the nameservers of resolv.conf, not its search list: the bare
    name tfserving-replica that Docker's DNS answers is unknown to the cluster DNS. haproxy.cfg must
    take the replicas' name from an environment variable that the balancer sets to the full name."""
    haproxy = container(find(render(overlay), "Deployment", "tfserving-balancer"), "haproxy")
    addresses = re.findall(r"^\s*server-template\s+\S+\s+\S+\s+(\S+)", (COMPOSE / "haproxy.cfg").read_text(), re.M)
    assert addresses
    for address in addresses:
        variable = re.match(r'"?\$\{(\w+)(?:-[^}]*)?\}:\d+"?$', address)
        assert variable, (f"haproxy.cfg: server-template address {address}: give the host as "
                          '"${TFSERVING_REPLICA_HOST-tfserving-replica}:<port>"')
        value = env(haproxy).get(variable.group(1), "")
        assert value.startswith("tfserving-replica.$(POD_NAMESPACE).svc."), f"{variable.group(1)}={value!r}"
    assert env(haproxy)["MODEL_NAME"] == dotenv()["MODEL_NAME"]  # its health checks read /v1/models/${MODEL_NAME}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_disruption_budgets_select_the_serving_pods(overlay: str) -> None:
    docs = render(overlay)
    budgets = {pdb["metadata"]["name"]: pdb for pdb in of_kind(docs, "PodDisruptionBudget")}
    for name in SERVING:
        if name == "tfserving-proxy" and overlay != "secure":
            continue
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selects(selector, pod_labels(find(docs, "Deployment", name))), name
        # And nothing else: a budget over two Deployments would mix their pods.
        others = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] != name]
        assert not any(selects(selector, pod_labels(d)) for d in others), name
    # The autoscaler's floor leaves a server running while the budget lets one go.
    hpa = find(docs, "HorizontalPodAutoscaler", "tfserving")
    assert hpa["spec"]["minReplicas"] > budgets["tfserving"]["spec"]["maxUnavailable"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_autoscaler_metric_is_the_one_the_adapter_rule_serves(overlay: str) -> None:
    docs = render(overlay)
    hpa = find(docs, "HorizontalPodAutoscaler", "tfserving")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "tfserving"}
    assert "replicas" not in find(docs, "Deployment", "tfserving")["spec"], "the autoscaler owns the count"
    metrics = hpa["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Pods"]
    rules = yaml.safe_load((K8S / "prometheus-adapter" / "config.yaml").read_text())["rules"]
    served = {rule["name"]["as"]: rule for rule in rules}
    name = metrics[0]["pods"]["metric"]["name"]
    assert name in served, f"no prometheus-adapter rule serves {name}: {sorted(served)}"
    rule = served[name]
    # The rule reads TF Serving's request counter (the series compose's recording rules use), per pod.
    series = re.match(r"([:\w]+)\{", rule["seriesQuery"])
    assert series and re.search(rule["name"]["matches"], series.group(1))
    assert series.group(1) == ":tensorflow:serving:request_count"
    assert series.group(1) in (COMPOSE / "rules" / "recording.yml").read_text()
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
    assert "rate(<<.Series>>{<<.LabelMatchers>>}" in rule["metricsQuery"]
    # No more servers than the balancer has slots for.
    slots = re.findall(r"^\s*server-template\s+\S+\s+(\d+)", (COMPOSE / "haproxy.cfg").read_text(), re.M)
    assert slots and hpa["spec"]["maxReplicas"] <= min(int(s) for s in slots)


# --- config files, references, images -------------------------------------------------------------

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmaps_hold_the_compose_files_byte_for_byte(overlay: str) -> None:
    keys = set()
    for config in of_kind(render(overlay), "ConfigMap"):
        assert "binaryData" not in config
        for key, text in config["data"].items():
            assert (COMPOSE / key).is_file(), f"ConfigMap {config['metadata']['name']}: {key} is no compose/ file"
            assert text.encode() == (COMPOSE / key).read_bytes(), key
            keys.add(key)
    expected = {"models.config", "batching.conf", "monitoring.config", "haproxy.cfg"}
    assert keys == expected | ({"nginx.conf"} if overlay == "secure" else set())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_reference_resolves_within_the_overlay(overlay: str) -> None:
    """ConfigMaps (with their generated names), claims and Services point at objects that exist; the
    only object made outside the manifests is the secure overlay's certificate Secret."""
    docs = render(overlay)
    for deployment in of_kind(docs, "Deployment"):
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            if "configMap" in volume:
                find(docs, "ConfigMap", volume["configMap"]["name"])
            if "persistentVolumeClaim" in volume:
                find(docs, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
            if "secret" in volume:
                assert (overlay, volume["secret"]["secretName"]) == ("secure", "tfserving-certs")
    for service in of_kind(docs, "Service"):
        service_port(docs, service["metadata"]["name"], service["spec"]["ports"][0]["port"])


def test_secure_overlay_proxies_to_the_balancer_with_the_certificates_of_the_secret() -> None:
    docs = render("secure")
    nginx_conf = (COMPOSE / "nginx.conf").read_text()
    upstreams = re.findall(r"(?:proxy_pass|grpc_pass)\s+\w+://([\w.-]+):(\d+);", nginx_conf)
    assert upstreams
    for host, port in upstreams:
        service = service_port(docs, host, int(port))
        assert selects(service["spec"]["selector"], pod_labels(find(docs, "Deployment", "tfserving-balancer")))
    proxy = find(docs, "Deployment", "tfserving-proxy")
    mounts = {m["mountPath"]: m["name"] for m in container(proxy, "nginx")["volumeMounts"]}
    volumes = {v["name"]: v for v in proxy["spec"]["template"]["spec"]["volumes"]}
    secret = volumes[mounts["/etc/nginx/certs"]]["secret"]
    read = set(re.findall(r"/etc/nginx/certs/([\w.-]+)", nginx_conf))
    assert {item["path"] for item in secret["items"]} == read
    # The proxy's ports: compose publishes 8443 (REST over TLS) and 8444 (gRPC over TLS).
    ports = {p["containerPort"] for p in container(proxy, "nginx")["ports"]}
    assert {int(p.split(":")[-1]) for p in compose_services()["proxy"]["ports"]} == ports
    assert {p["port"] for p in find(docs, "Service", "tfserving-secure")["spec"]["ports"]} == ports


def test_loadtest_overlay_runs_locust_master_and_workers_as_compose_does() -> None:
    docs = render("loadtest")
    compose = compose_services()
    master = container(find(docs, "Deployment", "locust-master"), "locust")
    worker = container(find(docs, "Deployment", "locust-worker"), "locust")
    assert find(docs, "Deployment", "locust-worker")["spec"]["replicas"] >= 1
    assert master["command"] == worker["command"] == compose["locust-master"]["entrypoint"]
    master_args = compose_defaults(compose["locust-master"]["command"]).split()
    assert master["args"] == master_args and worker["args"] == compose["locust-worker"]["command"]
    assert set(env(master)) == set(env(worker)) == set(compose["locust-master"]["environment"])
    # Every address they use is a Service of the overlay: TF Serving's (the balancer) and the master's.
    rest = re.fullmatch(r"http://([\w-]+):(\d+)", master_args[master_args.index("--host") + 1])
    assert rest
    service_port(docs, rest.group(1), int(rest.group(2)))
    grpc_host, grpc_port = env(master)["LOADTEST_GRPC_TARGET"].split(":")
    service_port(docs, grpc_host, int(grpc_port))
    service_port(docs, worker["args"][worker["args"].index("--master-host") + 1], 5557)
    assert grpc_host == rest.group(1) == "tfserving"


def test_images_are_compose_upstream_defaults() -> None:
    """The same upstream images as compose's defaults (.env may point compose elsewhere)."""
    compose = compose_services()
    assert compose_defaults(compose["tfserving"]["image"]).removesuffix("-gpu") == server("cpu")["image"]
    balancer = container(find(render("secure"), "Deployment", "tfserving-balancer"), "haproxy")
    assert balancer["image"] == compose_defaults(compose["balancer"]["image"])
    assert balancer["args"] == compose["balancer"]["command"]
    proxy = container(find(render("secure"), "Deployment", "tfserving-proxy"), "nginx")
    assert proxy["image"] == compose_defaults(compose["proxy"]["image"])


@pytest.mark.parametrize("overlay", ["secure", "loadtest"])
def test_every_image_can_be_overridden_by_name(overlay: str, tmp_path: Path) -> None:
    """What README.md says: an `images:` entry in a kustomization points any image at a registry."""
    names = {c["image"].rsplit(":", 1)[0] for d in of_kind(render(overlay), "Deployment")
             for c in d["spec"]["template"]["spec"]["containers"]}
    overrides = [{"name": name, "newName": f"registry.example.com/{name.rsplit('/', 1)[-1]}", "newTag": "1"}
                 for name in sorted(names)]
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(K8S / "overlays" / overlay, tmp_path)], "images": overrides}))
    images = {c["image"] for d in of_kind(render(tmp_path), "Deployment") for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{o['newName']}:1" for o in overrides}
