"""The files in ``deploy/`` are configuration for real engines, so they are checked offline
with those engines' own code: Dagster's instance schema and config types for both
``dagster.yaml`` files; the run-pod Job the ``K8sRunLauncher`` would submit, built by
dagster-k8s itself and validated into kubernetes client models; the manifests as kubernetes
models without unknown fields; the Helm values as the chart renders them; the systemd units
with ``systemd-analyze verify`` and their command lines with the programs' own parsers.

Across files, the checks tie together what a cluster silently depends on: one shared volume
holding the data root and inbox, one environment Secret, one image, one user id. A mismatch
there is a deployment that starts and then loses events or cannot write them."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client as k8s
import orjson
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id
from dagster._serdes import ConfigurableClassData
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict
from dotenv import dotenv_values

from jira_pipeline.cli import build_parser
from jira_pipeline.config import load_settings
from jira_pipeline_tests.fixtures.common import PROJECT_ROOT
from jira_pipeline_tests.fixtures.receiver import delivery_headers
from webhook_receiver import create_app
from webhook_receiver.commands import run_receiver

DEPLOY = PROJECT_ROOT / "deploy"
K8S_DIR = DEPLOY / "k8s"
SYSTEMD_DIR = DEPLOY / "systemd"
DEPLOY_DOC = (PROJECT_ROOT / "docs" / "deploy.md").read_text()
SINGLE_MACHINE_INSTANCE = PROJECT_ROOT / ".dagster_home" / "dagster.yaml"
# Where docs/deploy.md installs the checkout on a host (the units refer to it)
HOST_CHECKOUT = "/opt/jira-pipeline"

MODEL_OF_KIND = {
    ("v1", "PersistentVolumeClaim"): k8s.V1PersistentVolumeClaim,
    ("v1", "Secret"): k8s.V1Secret,
    ("v1", "Service"): k8s.V1Service,
    ("apps/v1", "Deployment"): k8s.V1Deployment,
    ("networking.k8s.io/v1", "Ingress"): k8s.V1Ingress,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.V1NetworkPolicy,
}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def k8s_model(model_class: type, manifest: dict[str, Any]) -> Any:
    """``manifest`` (camelCase, as in YAML) as a kubernetes client model; unknown fields raise,
    where ``ApiClient`` deserialization would drop them silently."""
    return k8s_model_from_dict(model_class, k8s_snake_case_dict(model_class, manifest))


def manifest_objects(name: str) -> list[Any]:
    objects = []
    for document in yaml.safe_load_all((K8S_DIR / name).read_text()):
        model_class = MODEL_OF_KIND[(document["apiVersion"], document["kind"])]
        objects.append(k8s_model(model_class, document))
    return objects


def only(objects: list[Any], model_class: type) -> Any:
    matching = [item for item in objects if isinstance(item, model_class)]
    assert len(matching) == 1, f"expected one {model_class.__name__}, found {len(matching)}"
    return matching[0]


def env_references(node: Any) -> Iterator[str]:
    """Names of the environment variables a Dagster config reads (``{env: NAME}``)."""
    if isinstance(node, dict):
        if set(node) == {"env"} and isinstance(node["env"], str):
            yield node["env"]
        for value in node.values():
            yield from env_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_references(value)


def instance_ref(
    config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], InstanceRef]:
    """Validate ``config`` as ``$DAGSTER_HOME/dagster.yaml`` against Dagster's instance schema
    (dummy values for the variables it reads) and return it with the instance reference."""
    for name in env_references(config):
        monkeypatch.setenv(name, "5432" if name.endswith("_PORT") else f"dummy-{name.lower()}")
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    validated, custom_instance_class = dagster_instance_config(str(home))
    assert custom_instance_class is None
    return dict(validated), InstanceRef.from_dir(str(home))


def configured_classes(ref: InstanceRef) -> dict[str, tuple[type, dict[str, Any]]]:
    """Every configurable class the instance would build, imported, with its config block
    processed by the class's own ``config_type()`` (unknown or mistyped keys fail)."""
    classes = {}
    for field_name in ref._fields:
        data = getattr(ref, field_name)
        if not isinstance(data, ConfigurableClassData):
            continue
        klass = class_from_code_pointer(data.module_name, data.class_name)
        result = process_config(resolve_to_config_type(klass.config_type()), data.config_dict)
        errors = [error.message for error in result.errors or []]
        assert result.success, f"{data.module_name}.{data.class_name}: {errors}"
        classes[field_name] = (klass, result.value)
    return classes


def run_worker_job(
    launcher_config: dict[str, Any], code_location_image: str | None, tmp_path: Path
) -> tuple[k8s.V1Job, str]:
    """The Job (and namespace) ``K8sRunLauncher.launch_run`` would create for a run, built by
    dagster-k8s from ``launcher_config``. Only the API call is left out: the launcher reads a
    throwaway kubeconfig instead of the in-cluster one, and nothing is contacted."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "unused"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    offline = {**launcher_config, "load_incluster_config": False, "kubeconfig_file": str(kubeconfig)}
    launcher = K8sRunLauncher.from_config_value(None, offline)
    run = DagsterRun(job_name="month_job", run_id=make_new_run_id())
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=code_location_image, run_launcher=launcher),
        args=["dagster", "api", "execute_run"],
        job_name=get_job_name_from_run_id(run.run_id),
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
    )
    return job, context.namespace


def pod_facts(pod_spec: Any) -> dict[str, Any]:
    """What a pod of this project depends on: the data volume, where it is mounted, the data
    root and Dagster home it is told, the environment Secret, the effective user and group,
    the image and its resources."""
    container = pod_spec.containers[0]
    claims = {
        volume.name: volume.persistent_volume_claim.claim_name
        for volume in pod_spec.volumes or []
        if volume.persistent_volume_claim
    }
    env = {item.name: item.value for item in container.env or []}
    pod_security = pod_spec.security_context or k8s.V1PodSecurityContext()
    security = container.security_context or k8s.V1SecurityContext()
    return {
        "image": container.image,
        "image_pull_policy": container.image_pull_policy,
        "service_account": pod_spec.service_account_name,
        "mounts": {
            mount.mount_path: claims[mount.name]
            for mount in container.volume_mounts or []
            if mount.name in claims
        },
        "data_root": env.get("JIRA_DATA_ROOT"),
        "dagster_home": env.get("DAGSTER_HOME"),
        "secrets": [
            source.secret_ref.name for source in container.env_from or [] if source.secret_ref
        ],
        "uid": security.run_as_user or pod_security.run_as_user,
        "gid": security.run_as_group or pod_security.run_as_group,
        "fs_group": pod_security.fs_group,
        "resources": container.resources.to_dict() if container.resources else None,
        "non_root": security.run_as_non_root or pod_security.run_as_non_root,
        "seccomp": (security.seccomp_profile or pod_security.seccomp_profile
                    or k8s.V1SeccompProfile(type="Unconfined")).type,
        "privilege_escalation": security.allow_privilege_escalation,
        "capabilities_dropped": security.capabilities.drop if security.capabilities else None,
        "read_only_root": security.read_only_root_filesystem,
        "service_account_token": pod_spec.automount_service_account_token,
    }


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# The values keys chart_instance_config renders; any other key fails the test instead of
# being left out of the check.
CHART_LAUNCHER_KEYS = {
    "imagePullPolicy", "envSecrets", "envVars", "volumes", "volumeMounts", "runK8sConfig",
    "failPodOnRunFailure", "securityContext", "resources", "jobNamespace",
}
CHART_QUEUE_KEYS = {"maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds"}


def chart_instance_config(values: dict[str, Any], release: str, namespace: str) -> dict[str, Any]:
    """The instance ConfigMap `helm upgrade --install <release> dagster/dagster` renders from
    ``values``, key by key as the chart's templates/configmap-instance.yaml and
    helpers/instance/*.tpl do. The chart's own defaults are not vendored here, so the
    ``global`` settings the run pods depend on must be stated in our values."""
    fullname = release if "dagster" in release else f"{release}-dagster"  # dagster.fullname
    postgresql = values["postgresql"]
    postgres_config = {
        "postgres_db": {
            "username": postgresql["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "hostname": postgresql["postgresqlHost"],
            "db_name": postgresql["postgresqlDatabase"],
            "port": postgresql["service"]["port"],
            "scheme": postgresql["postgresqlScheme"],
        }
    }
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert set(launcher) <= CHART_LAUNCHER_KEYS, set(launcher) - CHART_LAUNCHER_KEYS
    launcher_config: dict[str, Any] = {
        "load_incluster_config": True,
        "job_namespace": launcher.get("jobNamespace") or namespace,
        "image_pull_policy": launcher["imagePullPolicy"],
        "service_account_name": values["global"]["serviceAccountName"],
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{fullname}-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "env_secrets": [secret["name"] for secret in launcher.get("envSecrets", [])],
        "env_vars": launcher.get("envVars", []),
        "volume_mounts": launcher.get("volumeMounts", []),
        "volumes": launcher.get("volumes", []),
        "run_k8s_config": {
            snake(key): value for key, value in launcher.get("runK8sConfig", {}).items()
        },
    }
    if launcher.get("failPodOnRunFailure"):
        launcher_config["fail_pod_on_run_failure"] = True
    for key in ("securityContext", "resources"):
        if launcher.get(key):
            launcher_config[snake(key)] = launcher[key]
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert set(queued) <= CHART_QUEUE_KEYS, set(queued) - CHART_QUEUE_KEYS
    storage = {
        f"{kind}_storage": {"module": f"dagster_postgres.{module}", "class": cls,
                            "config": postgres_config}
        for kind, module, cls in (
            ("run", "run_storage", "PostgresRunStorage"),
            ("event_log", "event_log", "PostgresEventLogStorage"),
            ("schedule", "schedule_storage", "PostgresScheduleStorage"),
        )
    }
    return {
        **storage,
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher",
                         "config": launcher_config},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",  # sic: the chart's module path
            "class": "QueuedRunCoordinator",
            "config": {snake(key): value for key, value in queued.items()},
        },
        "run_monitoring": {
            snake(key): value for key, value in daemon["runMonitoring"].items()
        },
        "run_retries": {snake(key): value for key, value in daemon["runRetries"].items()},
        "sensors": {snake(key): value for key, value in daemon["sensors"].items()},
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def helm_install() -> tuple[str, str]:
    """Release name and namespace of the `helm upgrade --install` command in docs/deploy.md."""
    match = re.search(
        r"helm upgrade\s+--install (\S+) dagster/dagster -n (\S+) -f deploy/k8s/values.yaml",
        DEPLOY_DOC,
    )
    assert match, "docs/deploy.md has no helm install command for deploy/k8s/values.yaml"
    return match.group(1), match.group(2)


def documented_image() -> str:
    match = re.search(r"docker build -f deploy/Dockerfile -t (\S+) \.", DEPLOY_DOC)
    assert match, "docs/deploy.md has no docker build command"
    return match.group(1)


def dockerfile_env() -> dict[str, str]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(item.split("=", 1) for item in shlex.split(line[4:]))
    return env


# (a) Dagster instance configs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "launcher_class", "coordinator_class"),
    [("k8s/dagster.yaml", "K8sRunLauncher", "QueuedRunCoordinator"),
     ("postgres/dagster.yaml", "DefaultRunLauncher", "PromptRunCoordinator")],
)
def test_instance_yaml_passes_dagsters_schema_and_class_configs(
    relative: str, launcher_class: str, coordinator_class: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_yaml(DEPLOY / relative)
    assert set(env_references(config)) == {
        "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME",
        "DAGSTER_PG_PASSWORD",
    }
    _, ref = instance_ref(config, tmp_path, monkeypatch)
    classes = {name: klass.__name__ for name, (klass, _) in configured_classes(ref).items()}
    assert classes["storage_data"] == "DagsterPostgresStorage"
    assert classes["run_storage_data"] == "PostgresRunStorage"
    assert classes["event_storage_data"] == "PostgresEventLogStorage"
    assert classes["schedule_storage_data"] == "PostgresScheduleStorage"
    assert classes["run_coordinator_data"] == coordinator_class
    assert classes["run_launcher_data"] == launcher_class


def test_cluster_instances_keep_the_single_machine_queue_and_recovery_settings() -> None:
    """One run per month, retries and run monitoring are what keeps month files single-writer
    and failed runs redone; moving storage or launcher must not drop them."""
    single = load_yaml(SINGLE_MACHINE_INSTANCE)
    postgres = load_yaml(DEPLOY / "postgres" / "dagster.yaml")
    cluster = load_yaml(K8S_DIR / "dagster.yaml")
    for key in ("concurrency", "run_retries", "run_monitoring"):
        assert postgres[key] == single[key], key
    coordinator, single_coordinator = postgres["run_coordinator"], single["run_coordinator"]
    assert coordinator["class"] == single_coordinator["class"]
    for key in ("sensor_loop_seconds", "dequeue_interval_seconds"):
        assert coordinator["config"][key] == single_coordinator["config"][key], key
    # The chart's daemon image cannot import the project: Dagster's queue, 5 s sensor loop
    assert cluster["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert cluster["storage"] == postgres["storage"]
    assert cluster["run_retries"] == postgres["run_retries"]
    limits = cluster["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limits == postgres["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True},
            "limit": 1} in limits


# (b) Kubernetes manifests and the run pods ---------------------------------------------


def test_manifests_are_kubernetes_objects_of_the_expected_kinds() -> None:
    kinds = {
        name: sorted(type(item).__name__ for item in manifest_objects(name))
        for name in ("pvc.yaml", "receiver.yaml", "secret.example.yaml", "networkpolicies.yaml")
    }
    assert kinds == {
        "pvc.yaml": ["V1PersistentVolumeClaim"],
        "receiver.yaml": ["V1Deployment", "V1Ingress", "V1Service"],
        "secret.example.yaml": ["V1Secret", "V1Secret"],
        "networkpolicies.yaml": ["V1NetworkPolicy"] * 4,
    }
    claim = only(manifest_objects("pvc.yaml"), k8s.V1PersistentVolumeClaim)
    assert claim.spec.access_modes == ["ReadWriteMany"]  # pods on several nodes write it


def test_receiver_manifest_serves_the_receiver_and_can_run_it(tmp_path: Path) -> None:
    objects = manifest_objects("receiver.yaml")
    deployment = only(objects, k8s.V1Deployment)
    service = only(objects, k8s.V1Service)
    ingress = only(objects, k8s.V1Ingress)
    pod = deployment.spec.template.spec
    container = pod.containers[0]

    args = build_parser().parse_args(container.command[1:])
    assert container.command[0] == "jira-pipeline" and args.func is run_receiver
    assert args.host == "0.0.0.0"
    assert [port.container_port for port in container.ports] == [args.port]
    assert service.spec.selector == deployment.spec.template.metadata.labels
    assert service.spec.ports[0].target_port == args.port

    app = create_app({"JIRA_WEBHOOK_SECRET": "unused", "JIRA_DATA_ROOT": str(tmp_path)})
    routes = app.url_map.bind("receiver")
    for probe in (container.readiness_probe, container.liveness_probe):
        assert probe.http_get.port == args.port
        routes.match(probe.http_get.path, method="GET")
    [rule] = ingress.spec.rules
    [path] = rule.http.paths
    assert (path.path, path.path_type) == ("/webhooks/jira", "Exact")  # health stays private
    routes.match(path.path, method="POST")
    assert path.backend.service.name == service.metadata.name
    assert path.backend.service.port.number == service.spec.ports[0].port
    assert rule.host in ingress.spec.tls[0].hosts

    # gunicorn creates its worker heartbeat files in the temp dir at boot
    if container.security_context.read_only_root_filesystem:
        assert "/tmp" in {mount.mount_path for mount in container.volume_mounts}


def env_file_keys(name: str) -> set[str]:
    """Every setting of an example env file, the commented optional ones too."""
    text = (SYSTEMD_DIR / name).read_text()
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def secrets_by_name() -> dict[str, set[str]]:
    return {secret.metadata.name: set(secret.string_data)
            for secret in manifest_objects("secret.example.yaml")}


# What the receiver reads, and the credentials it must never hold (issue 14, item 2)
RECEIVER_SETTINGS = {"JIRA_WEBHOOK_SECRET", "JIRA_DOMAIN", "JIRA_DATA_ROOT"}
CREDENTIALS = {"JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_SLA_EMAIL", "JIRA_SLA_API_TOKEN",
               "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"}


def test_each_secret_holds_exactly_what_its_pods_read() -> None:
    secrets = secrets_by_name()
    dagster_keys, receiver_keys = secrets["jira-pipeline-env"], secrets["jira-receiver-env"]
    jira_keys = sorted(key for key in dagster_keys if key.startswith("JIRA_"))
    markers = {key: f"m{index}" for index, key in enumerate(jira_keys)}
    read = {str(value) for value in vars(load_settings(markers)).values()}
    assert [key for key, marker in markers.items() if marker not in read] == []
    assert dagster_keys - set(jira_keys) == set(env_references(load_yaml(K8S_DIR / "dagster.yaml")))
    # prod.env for the cluster = the host's env file, minus what the manifests set themselves
    host_keys = env_file_keys("jira-pipeline.env.example")
    assert host_keys - dagster_keys == {
        "JIRA_DATA_ROOT", "DAGSTER_HOME", "JIRA_DIST_DIR", "JIRA_WEBHOOK_RETENTION_DAYS"}
    assert dagster_keys <= host_keys
    # The receiver: the signing secret and the site, no credential; Dagster: no signing secret
    assert receiver_keys | {"JIRA_DATA_ROOT"} == env_file_keys("jira-receiver.env.example")
    assert receiver_keys | {"JIRA_DATA_ROOT"} == RECEIVER_SETTINGS
    assert "JIRA_WEBHOOK_SECRET" not in dagster_keys | host_keys
    assert CREDENTIALS.issubset(dagster_keys) and CREDENTIALS.issubset(host_keys)


def test_receiver_works_with_its_own_env_file_alone(tmp_path: Path) -> None:
    """The three settings of receiver.env are enough: a signed delivery is stored and health
    reports the receiver configured."""
    env = {key: value for key, value in
           dotenv_values(SYSTEMD_DIR / "jira-receiver.env.example").items() if value}
    assert set(env) == RECEIVER_SETTINGS
    app = create_app({**env, "JIRA_DATA_ROOT": str(tmp_path)})
    client = app.test_client()
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "SUPPORT-1"}})
    response = client.post("/webhooks/jira", data=body,
                           headers=delivery_headers(body, env["JIRA_WEBHOOK_SECRET"]))
    assert response.status_code == 202, response.get_data(as_text=True)
    health = client.get("/webhooks/jira/health").get_json()
    assert health["configured"] is True and health["webhook_secret_set"] is True


def test_run_pods_of_k8s_dagster_yaml_mount_the_receivers_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ref = instance_ref(load_yaml(K8S_DIR / "dagster.yaml"), tmp_path, monkeypatch)
    _, launcher_config = configured_classes(ref)["run_launcher_data"]
    # A code server started as in the Dockerfile reports no image: the launcher's must do
    job, namespace = run_worker_job(launcher_config, None, tmp_path)
    receiver_objects = manifest_objects("receiver.yaml")
    receiver = only(receiver_objects, k8s.V1Deployment).spec.template.spec
    claim = only(manifest_objects("pvc.yaml"), k8s.V1PersistentVolumeClaim)
    secrets = manifest_objects("secret.example.yaml")

    run_pod, receiver_pod = pod_facts(job.spec.template.spec), pod_facts(receiver)
    assert run_pod["mounts"] == receiver_pod["mounts"] == {"/data": claim.metadata.name}
    assert run_pod["data_root"] == receiver_pod["data_root"] == "/data"
    assert run_pod["secrets"] == ["jira-pipeline-env"]
    assert receiver_pod["secrets"] == ["jira-receiver-env"]
    assert run_pod["image"] == receiver_pod["image"] == documented_image()
    uid = dockerfile_user()
    assert (run_pod["uid"], run_pod["gid"], run_pod["fs_group"]) == (uid, uid, uid)
    assert (receiver_pod["uid"], receiver_pod["gid"], receiver_pod["fs_group"]) == (uid, uid, uid)
    assert run_pod["dagster_home"] == dockerfile_env()["DAGSTER_HOME"]
    namespaces = {item.metadata.namespace for item in [*receiver_objects, claim, *secrets]}
    assert namespaces == {namespace} == {helm_install()[1]}


def dockerfile_user() -> int:
    match = re.search(r"^USER (\d+):(\d+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    assert match and match.group(1) == match.group(2)
    return int(match.group(1))


# (c) Helm values, as the chart renders them, and what docs/deploy.md says they set ----------


def test_helm_values_render_the_same_instance_as_k8s_dagster_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = load_yaml(K8S_DIR / "values.yaml")
    release, namespace = helm_install()
    rendered = chart_instance_config(values, release, namespace)
    chart_settings, chart_ref = instance_ref(rendered, tmp_path / "chart", monkeypatch)
    chart_classes = configured_classes(chart_ref)
    yaml_settings, yaml_ref = instance_ref(
        load_yaml(K8S_DIR / "dagster.yaml"), tmp_path / "yaml", monkeypatch
    )
    yaml_classes = configured_classes(yaml_ref)

    # Storage: the chart's Postgres is the one the Secret points the other pods to
    [secret] = [item.string_data for item in manifest_objects("secret.example.yaml")
                if item.metadata.name == "jira-pipeline-env"]
    postgres_db = rendered["run_storage"]["config"]["postgres_db"]
    assert (postgres_db["hostname"], str(postgres_db["port"]), postgres_db["db_name"],
            postgres_db["username"]) == (secret["DAGSTER_PG_HOST"], secret["DAGSTER_PG_PORT"],
                                         secret["DAGSTER_PG_DB"], secret["DAGSTER_PG_USERNAME"])
    assert postgres_db["scheme"] == load_yaml(K8S_DIR / "dagster.yaml")["storage"]["postgres"][
        "postgres_db"]["scheme"]
    for name in ("run_storage_data", "event_storage_data", "schedule_storage_data"):
        assert chart_classes[name][0] is yaml_classes[name][0]

    # Queue: one run per month, the same total; retries, monitoring, sensors, telemetry
    queue = chart_classes["run_coordinator_data"][1]
    runs = yaml_settings["concurrency"]["runs"]
    assert queue["max_concurrent_runs"] == runs["max_concurrent_runs"]
    assert queue["tag_concurrency_limits"] == runs["tag_concurrency_limits"]
    for key in ("run_retries", "run_monitoring", "sensors", "telemetry"):
        assert chart_settings[key] == yaml_settings[key], key

    # Run pods: the code location reports its image; everything else from the launcher
    [location] = values["dagster-user-deployments"]["deployments"]
    image = f"{location['image']['repository']}:{location['image']['tag']}"
    chart_job, chart_namespace = run_worker_job(
        chart_classes["run_launcher_data"][1], image, tmp_path
    )
    yaml_job, yaml_namespace = run_worker_job(yaml_classes["run_launcher_data"][1], None, tmp_path)
    assert pod_facts(chart_job.spec.template.spec) == pod_facts(yaml_job.spec.template.spec)
    assert chart_job.spec.ttl_seconds_after_finished == yaml_job.spec.ttl_seconds_after_finished
    assert chart_namespace == yaml_namespace
    assert rendered["run_launcher"]["config"]["instance_config_map"] == (
        yaml_classes["run_launcher_data"][1]["instance_config_map"]
    )


def test_helm_values_set_what_the_deploy_doc_says() -> None:
    values = load_yaml(K8S_DIR / "values.yaml")
    volume_name = only(manifest_objects("pvc.yaml"), k8s.V1PersistentVolumeClaim).metadata.name
    secret_name = "jira-pipeline-env"
    assert secret_name in secrets_by_name()
    [location] = values["dagster-user-deployments"]["deployments"]

    # The image built in step 1 runs the code location, which serves the project's definitions
    assert f"{location['image']['repository']}:{location['image']['tag']}" == documented_image()
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    module = pyproject["tool"]["dg"]["project"]["code_location_target_module"]
    assert location["dagsterApiGrpcArgs"] == ["--module-name", module]

    # "who mounts the volume": code location and run pods yes, webserver and daemon no
    def mounts(section: dict[str, Any]) -> dict[str, str]:
        claims = {
            volume["name"]: volume["persistentVolumeClaim"]["claimName"]
            for volume in section.get("volumes", [])
        }
        for volume in section.get("volumes", []):
            k8s_model(k8s.V1Volume, volume)
        for mount in section.get("volumeMounts", []):
            k8s_model(k8s.V1VolumeMount, mount)
        return {mount["mountPath"]: claims[mount["name"]] for mount in section.get("volumeMounts", [])}

    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert mounts(location) == mounts(launcher) == {"/data": volume_name}
    assert {"name": "JIRA_DATA_ROOT", "value": "/data"} in location["env"]
    assert "JIRA_DATA_ROOT=/data" in launcher["envVars"]
    assert location["includeConfigInLaunchedRuns"] == {"enabled": True}
    for pod in ("dagsterWebserver", "dagsterDaemon"):
        assert mounts(values[pod]) == {}
        assert "envSecrets" not in values[pod]  # no Jira credentials where no Jira code runs
    assert location["envSecrets"] == launcher["envSecrets"] == [{"name": secret_name}]
    uid = dockerfile_user()
    assert {key: location["podSecurityContext"][key]
            for key in ("runAsUser", "runAsGroup", "fsGroup")} == {
        "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}

    # The secrets created in step 2 are the ones the chart and the pods read
    for name in secrets_by_name():
        assert f"create secret generic {name} --from-env-file" in DEPLOY_DOC
    postgres_secret = values["global"]["postgresqlSecretName"]
    assert f"create secret generic {postgres_secret}" in DEPLOY_DOC
    assert "--from-literal=postgresql-password=" in DEPLOY_DOC
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["enabled"] is False  # the external database of step 2

    # Every kubectl/helm command of the doc works in the namespace of the manifests
    namespaces = set(re.findall(r"\s-n (\S+)", DEPLOY_DOC))
    assert namespaces == {helm_install()[1]}


# Pod security and NetworkPolicies ---------------------------------------------------------

UNPRIVILEGED = {"non_root": True, "seccomp": "RuntimeDefault", "privilege_escalation": False,
                "capabilities_dropped": ["ALL"]}


def code_server_pod(values: dict[str, Any]) -> Any:
    """The code-server pod spec the chart renders from a user deployment's values
    (charts/dagster-user-deployments/templates/deployment-user.yaml)."""
    [location] = values["dagster-user-deployments"]["deployments"]
    return k8s_model(k8s.V1PodSpec, {
        "automountServiceAccountToken": True,  # hard-coded by the chart
        "securityContext": location["podSecurityContext"],
        "volumes": location["volumes"],
        "containers": [{"name": "dagster-user-deployments",
                        "image": f"{location['image']['repository']}:{location['image']['tag']}",
                        "securityContext": location["securityContext"],
                        "volumeMounts": location["volumeMounts"],
                        "envFrom": [{"secretRef": secret} for secret in location["envSecrets"]]}],
    })


def test_receiver_run_and_code_server_pods_run_unprivileged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = load_yaml(K8S_DIR / "values.yaml")
    receiver = pod_facts(only(manifest_objects("receiver.yaml"), k8s.V1Deployment).spec.template.spec)
    _, ref = instance_ref(load_yaml(K8S_DIR / "dagster.yaml"), tmp_path / "yaml", monkeypatch)
    yaml_job, _ = run_worker_job(configured_classes(ref)["run_launcher_data"][1], None, tmp_path)
    release, namespace = helm_install()
    _, chart_ref = instance_ref(chart_instance_config(values, release, namespace),
                                tmp_path / "chart", monkeypatch)
    chart_job, _ = run_worker_job(configured_classes(chart_ref)["run_launcher_data"][1], None,
                                  tmp_path)
    pods = {"receiver": receiver, "run (dagster.yaml)": pod_facts(yaml_job.spec.template.spec),
            "run (chart)": pod_facts(chart_job.spec.template.spec),
            "code server": pod_facts(code_server_pod(values))}
    uid = dockerfile_user()
    for name, facts in pods.items():
        assert {key: facts[key] for key in UNPRIVILEGED} == UNPRIVILEGED, name
        assert (facts["uid"], facts["gid"], facts["fs_group"]) == (uid, uid, uid), name
    # No Kubernetes API token where the API is never called; a read-only root where it works
    assert receiver["service_account_token"] is False and receiver["read_only_root"] is True
    assert pods["run (dagster.yaml)"]["service_account_token"] is False
    assert pods["run (chart)"]["service_account_token"] is False
    # The chart's own image runs the webserver and daemon: what holds whatever its user
    for section in ("dagsterWebserver", "dagsterDaemon"):
        assert values[section]["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert values[section]["securityContext"]["allowPrivilegeEscalation"] is False
    assert values["dagsterWebserver"]["enableReadOnly"] is True  # --read-only for viewing


def selects(selector: Any, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in (selector.match_labels or {}).items()):
        return False
    for expression in selector.match_expressions or []:
        present, value = expression.key in labels, labels.get(expression.key)
        if not {"In": present and value in (expression.values or []),
                "NotIn": not present or value not in (expression.values or []),
                "Exists": present, "DoesNotExist": not present}[expression.operator]:
            return False
    return True


NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label every namespace carries


def ingress_allowed(policies: list[Any], source: tuple[str, dict[str, str]],
                    target: tuple[str, dict[str, str]], port: int) -> bool:
    """Whether ``source`` (namespace, pod labels) may connect to ``target`` on ``port``:
    allowed when no Ingress policy selects the target, else when a rule of one does."""
    (source_ns, source_labels), (target_ns, target_labels) = source, target
    selecting = [policy for policy in policies if policy.metadata.namespace == target_ns
                 and "Ingress" in policy.spec.policy_types
                 and selects(policy.spec.pod_selector, target_labels)]
    if not selecting:
        return True

    def peer_matches(peer: Any) -> bool:
        if peer.namespace_selector is None:
            namespace_ok = source_ns == target_ns
        else:
            namespace_ok = selects(peer.namespace_selector, {NAMESPACE_NAME: source_ns})
        pods_ok = peer.pod_selector is None or selects(peer.pod_selector, source_labels)
        return namespace_ok and pods_ok

    return any(
        any(peer_matches(peer) for peer in rule._from or [])
        and any(item.port == port for item in rule.ports or [])
        for policy in selecting for rule in policy.spec.ingress or []
    )


def test_network_policies_let_only_who_needs_it_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policies = manifest_objects("networkpolicies.yaml")
    values = load_yaml(K8S_DIR / "values.yaml")
    release, namespace = helm_install()
    assert {policy.metadata.namespace for policy in policies} == {namespace}
    deployment = only(manifest_objects("receiver.yaml"), k8s.V1Deployment)
    [location] = values["dagster-user-deployments"]["deployments"]
    chart = {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": release}
    _, ref = instance_ref(load_yaml(K8S_DIR / "dagster.yaml"), tmp_path, monkeypatch)
    job, _ = run_worker_job(configured_classes(ref)["run_launcher_data"][1], None, tmp_path)
    pods = {  # the labels each pod carries: our manifest, the chart's templates, dagster-k8s
        "receiver": deployment.spec.template.metadata.labels,
        "webserver": {**chart, "component": "dagster-webserver"},
        "read-only webserver": {**chart, "component": "dagster-webserver-read-only"},
        "daemon": {**chart, "component": "dagster-daemon", "deployment": "daemon"},
        "code server": {**chart, "component": "user-deployments", "deployment": location["name"]},
        "run": job.spec.template.metadata.labels,
    }
    assert pods["run"]["app.kubernetes.io/component"] == "run_worker"
    ingress_controller = ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
    monitoring = ("monitoring", {"app": "prometheus"})
    neighbour = ("other-team", {"app": "anything"})
    ports = {"receiver": deployment.spec.template.spec.containers[0].ports[0].container_port,
             "webserver": values["dagsterWebserver"]["service"]["port"],
             "read-only webserver": values["dagsterWebserver"]["service"]["port"],
             "code server": location["port"], "daemon": 3030, "run": 3030}
    sources = {"ingress controller": ingress_controller, "monitoring": monitoring,
               "neighbour": neighbour, **{name: (namespace, labels) for name, labels in pods.items()}}
    allowed = {
        (source, target)
        for source, origin in sources.items() for target in pods
        if source != target
        and ingress_allowed(policies, origin, (namespace, pods[target]), ports[target])
    }
    assert allowed == {
        ("ingress controller", "receiver"), ("monitoring", "receiver"),
        ("ingress controller", "webserver"), ("ingress controller", "read-only webserver"),
        ("daemon", "code server"), ("webserver", "code server"),
        ("read-only webserver", "code server"),
    }
    # Even an allowed peer reaches only the serving port
    assert not ingress_allowed(policies, ingress_controller, (namespace, pods["receiver"]), 9090)
    # The receiver opens no connection at all
    [egress] = [policy for policy in policies if "Egress" in policy.spec.policy_types]
    assert selects(egress.spec.pod_selector, pods["receiver"]) and egress.spec.egress == []
    assert not any(selects(egress.spec.pod_selector, labels)
                   for name, labels in pods.items() if name != "receiver")


# nginx: the reverse proxy of the one-machine install ----------------------------------------

NGINX_CONF = DEPLOY / "nginx" / "jira-pipeline.conf"
SITE = "jira-pipeline.example.com"


def nginx_tokens(text: str) -> Iterator[str]:
    """nginx's tokenizer: words, quoted strings (\" \\ unescaped, other escapes kept as
    written, as nginx keeps them), ``{`` ``}`` ``;``, comments to the end of the line."""
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
        elif char == "#":
            position = text.find("\n", position) + 1 or len(text)
        elif char in "{};":
            yield char
            position += 1
        elif char in "\"'":
            value, position = [], position + 1
            while text[position] != char:
                if text[position] == "\\" and text[position + 1] in (char, "\\"):
                    position += 1
                value.append(text[position])
                position += 1
            position += 1
            yield "".join(value)
        else:
            match = re.compile(r"[^\s{};]+").match(text, position)
            assert match
            yield match.group()
            position = match.end()


def nginx_blocks(tokens: Iterator[str]) -> list[tuple[list[str], list | None]]:
    """Directives as (words, children or None) down to the closing brace."""
    directives, words = [], []
    for token in tokens:
        if token == ";":
            directives.append((words, None))
            words = []
        elif token == "{":
            directives.append((words, nginx_blocks(tokens)))
            words = []
        elif token == "}":
            return directives
        else:
            words.append(token)
    return directives


def nginx_config() -> list[tuple[list[str], list | None]]:
    return nginx_blocks(nginx_tokens(NGINX_CONF.read_text()))


def tls_location(config: list, path: str) -> list:
    [server] = [children for words, children in config
                if words == ["server"] and any(w[:2] == ["listen", "443"] for w, _ in children)]
    [location] = [children for words, children in server
                  if words[0] == "location" and words[-1] == path]
    return location


def map_value(config: list, variable: str, request: dict[str, str]) -> str:
    """The value nginx's ``map`` gives ``variable`` for ``request`` (a dict of nginx
    variables without ``$``): exact keys, then regexes in order (``~``, ``~*`` caseless;
    Python's ``re`` reads these PCRE patterns alike), else ``default``."""
    [(source, entries)] = [(words[1], children) for words, children in config
                           if words[0] == "map" and words[2] == f"${variable}"]
    text = re.sub(r"\$(\w+)", lambda m: map_value(config, m.group(1), request)
                  if m.group(1).startswith("dagster_") else request.get(m.group(1), ""), source)
    table = {words[0]: words[1] for words, _ in entries}
    if text in table and not text.startswith("~"):
        return table[text]
    for key, value in table.items():
        if key.startswith("~"):
            flags, pattern = (re.IGNORECASE, key[2:]) if key.startswith("~*") else (0, key[1:])
            if re.search(pattern, text, flags):
                return value
    return table["default"]


def dagster_request(method: str = "POST", uri: str = "/dagster/graphql", args: str = "",
                    content_type: str = "application/json", origin: str = "",
                    upgrade: str = "") -> dict[str, str]:
    return {"request_method": method, "uri": uri, "args": args, "content_type": content_type,
            "http_origin": origin, "http_upgrade": upgrade, "scheme": "https", "host": SITE}


# (request, refused?) — what the UI sends passes; what a foreign page can make a browser
# send with the operator's cached password is refused (reproduced in issue 14, item 3)
DAGSTER_REQUESTS = [
    (dagster_request(), False),
    (dagster_request(origin=f"https://{SITE}"), False),
    (dagster_request(content_type="application/json; charset=utf-8"), False),
    (dagster_request("GET", "/dagster/runs", content_type=""), False),
    (dagster_request("GET", content_type=""), False),  # GraphiQL page, no query
    (dagster_request("GET", args="", content_type="", upgrade="websocket",
                     origin=f"https://{SITE}"), False),
    (dagster_request(origin="https://evil.example"), True),
    (dagster_request(origin="null"), True),
    (dagster_request(origin=f"https://{SITE}.evil.example"), True),
    (dagster_request(content_type="application/x-www-form-urlencoded",
                     args="query=mutation%7BlaunchRun%7D"), True),
    (dagster_request(content_type="text/plain; x=application/json"), True),
    (dagster_request(content_type="multipart/form-data; boundary=x"), True),
    (dagster_request("GET", args="query=mutation%7BlaunchRun%7D", content_type=""), True),
    (dagster_request("GET", "/dagster/runs", content_type="", origin="https://evil.example"),
     True),
    (dagster_request("GET", content_type="", upgrade="websocket", origin="https://evil.example"),
     True),
    (dagster_request(uri="/dagster/report_asset_materialization/x", content_type="text/plain"),
     True),
]


@pytest.mark.parametrize(("request_vars", "refused"), DAGSTER_REQUESTS)
def test_nginx_refuses_cross_site_dagster_requests(request_vars: dict[str, str],
                                                   refused: bool) -> None:
    config = nginx_config()
    http_maps = {words[2] for words, _ in config if words[0] == "map"}
    assert "$dagster_refused" in http_maps
    location = tls_location(config, "/dagster/")
    # The refusal comes first in the location, before auth and the proxying
    [refusal] = [(words, children) for words, children in location if words[0] == "if"]
    assert refusal == (["if", "($dagster_refused)"], [(["return", "403"], None)])
    assert (["limit_except", "GET", "POST"], [(["deny", "all"], None)]) in location
    assert map_value(config, "dagster_refused", request_vars) == ("1" if refused else "0")


def test_nginx_publishes_only_the_webhook_and_keeps_health_for_monitoring() -> None:
    config = nginx_config()
    health = tls_location(config, "/webhooks/jira/health")
    access = [words for words, _ in health if words[0] in ("allow", "deny")]
    assert access[-1] == ["deny", "all"]
    allowed = [words[1] for words in access[:-1]]
    assert {"127.0.0.1", "::1"} <= set(allowed)
    assert all(address in ("127.0.0.1", "::1") or address.endswith("/32") for address in allowed)
    assert (["return", "404"], None) in tls_location(config, "/webhooks/")
    assert (["limit_except", "POST"], [(["deny", "all"], None)]) in tls_location(
        config, "/webhooks/jira")


# Image ------------------------------------------------------------------------------------


def test_dockerfile_copies_existing_files_and_pins_the_dev_extras_integrations() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _ = shlex.split(line[5:])
            for source in sources:
                assert (PROJECT_ROOT / source).exists(), source
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    for package in ("dagster-postgres", "dagster-k8s"):
        [pin] = [requirement for requirement in dev if requirement.startswith(f"{package}==")]
        assert pin in text.split(), pin
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert cmd, "Dockerfile has no exec-form CMD"
    command = yaml.safe_load(cmd.group(1))
    assert command[:3] == ["dagster", "api", "grpc"]
    module = pyproject["tool"]["dg"]["project"]["code_location_target_module"]
    assert command[command.index("--module-name") + 1] == module


def test_the_image_runs_the_installed_package_not_a_source_copy() -> None:
    """The code server puts its working directory first on the import path: a source
    copy there would shadow the compiled modules pip installed. Every COPY of the
    package goes to a build folder the install step removes."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    workdir = re.findall(r"^WORKDIR (\S+)$", text, re.MULTILINE)[-1]
    removed = {path for line in text.splitlines() if line.startswith("RUN ")
               for path in re.findall(r"rm -rf ([^&]+)", line) for path in path.split()}
    package_copies = [shlex.split(line[5:])[-1] for line in text.splitlines()
                      if line.startswith("COPY ") and "jira_pipeline" in line.split()[1:-1]]
    assert package_copies
    for destination in package_copies:
        assert not destination.startswith(workdir), destination
        assert any(destination.startswith(folder.rstrip("/") + "/") for folder in removed), (
            f"{destination} is never removed")


# systemd (host install) -------------------------------------------------------------------


def unit_directives(path: Path) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def host_path(path: str) -> Path:
    """A path of the installed checkout, in this checkout (its venv: the one running us)."""
    assert path.startswith(f"{HOST_CHECKOUT}/"), path
    inside = path.removeprefix(f"{HOST_CHECKOUT}/")
    if inside.startswith(".venv/"):
        return Path(sys.prefix) / inside.removeprefix(".venv/")
    return PROJECT_ROOT / inside


UNITS = sorted(SYSTEMD_DIR.glob("*.service"))


def test_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verified inside a throwaway root holding the host's system units and stubs for the
    commands the units run (that those exist in the checkout is checked separately)."""
    root = tmp_path / "root"
    system_units = Path("/usr/lib/systemd/system")
    shutil.copytree(system_units, root / system_units.relative_to("/"), symlinks=True)
    installed = root / "etc" / "systemd" / "system"
    installed.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, installed / unit.name)
        for key, values in unit_directives(unit).items():
            if key.startswith("Exec"):
                for value in values:
                    program = shlex.split(value)[0].lstrip("-@+!:")  # minus systemd's prefixes
                    stub = root / program.lstrip("/")
                    stub.parent.mkdir(parents=True, exist_ok=True)
                    stub.write_text("#!/bin/sh\n")
                    stub.chmod(0o755)
    result = subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", "--man=no",
         *(str(installed / unit.name) for unit in UNITS)],
        capture_output=True, text=True, timeout=60,
    )
    # verify exits 0 on unknown keys and unparsable values; it only warns about them
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_units_run_commands_that_accept_their_arguments() -> None:
    from dagster._daemon.cli import cli as dagster_daemon
    from dagster_webserver.cli import cli as dagster_webserver

    commands = {}
    for unit in UNITS:
        [exec_start] = unit_directives(unit)["ExecStart"]
        program, *args = shlex.split(exec_start)
        name = Path(program).name
        assert host_path(program).is_file(), program
        args = [str(host_path(arg)) if arg.startswith(HOST_CHECKOUT) else arg for arg in args]
        commands[name] = args
        for documentation in unit_directives(unit)["Documentation"]:
            assert host_path(documentation.removeprefix("file://")).is_file()
    assert set(commands) == {"jira-pipeline", "dagster-daemon", "dagster-webserver"}
    assert build_parser().parse_args(commands["jira-pipeline"]).func is run_receiver
    run, *run_args = commands["dagster-daemon"]
    dagster_daemon.commands[run].make_context(run, run_args)
    webserver = dagster_webserver.make_context("dagster-webserver", commands["dagster-webserver"])
    assert webserver.params["path_prefix"] == "/dagster"  # where nginx publishes the UI
    assert "location /dagster/" in (DEPLOY / "nginx" / "jira-pipeline.conf").read_text()


def env_file_values(name: str) -> dict[str, str]:
    """Settings of an example env file, the commented optional ones too."""
    text = (SYSTEMD_DIR / name).read_text()
    return dict(re.findall(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", text, re.MULTILINE))


def unit_paths(unit: Path, key: str) -> list[Path]:
    return [Path(path) for line in unit_directives(unit).get(key, []) for path in line.split()]


# Where Dagster keeps its SQLite storage and logs under DAGSTER_HOME (found by running it)
DAGSTER_HOME_WRITES = ("history", "schedules", "storage", "logs", ".logs_queue")
ENV_FILE_OF_UNIT = {
    "jira-receiver": "jira-receiver.env.example",
    "dagster-daemon": "jira-pipeline.env.example",
    "dagster-webserver": "jira-pipeline.env.example",
}


def test_systemd_units_may_write_where_the_env_file_points_and_nowhere_else() -> None:
    """ProtectSystem=strict makes everything else read-only: a data root outside
    ReadWritePaths is a receiver that answers 503 to every delivery. Optional (commented)
    settings count too: they are what an operator uncomments. DAGSTER_HOME itself and
    dagster.yaml are not writable by any unit (a run launcher of one's choice is code run
    as the service user), only the folders Dagster writes its storage into."""
    env = env_file_values("jira-pipeline.env.example")
    receiver_env = env_file_values("jira-receiver.env.example")
    home = Path(env["DAGSTER_HOME"])
    storage = [home / folder for folder in DAGSTER_HOME_WRITES]
    expected = {
        "jira-receiver": [Path(receiver_env["JIRA_DATA_ROOT"])],
        "dagster-daemon": [Path(env["JIRA_DATA_ROOT"]), Path(env["JIRA_DIST_DIR"]), *storage],
        "dagster-webserver": storage,
    }
    assert receiver_env["JIRA_DATA_ROOT"] == env["JIRA_DATA_ROOT"]
    for unit in UNITS:
        writable = unit_paths(unit, "ReadWritePaths")
        assert sorted(writable) == sorted(expected[unit.stem]), unit.stem
        assert not any(home.is_relative_to(path) for path in writable), unit.stem


def test_systemd_units_get_only_their_own_secrets() -> None:
    users = {}
    for unit in UNITS:
        directives = unit_directives(unit)
        [env_file] = directives["EnvironmentFile"]
        assert Path(env_file).name == {"jira-receiver.env.example": "receiver.env",
                                       "jira-pipeline.env.example": "env"}[ENV_FILE_OF_UNIT[unit.stem]]
        assert "Environment" not in directives  # settings only from the env file
        users[unit.stem] = (directives["User"], directives["Group"])
    assert set(env_file_values("jira-receiver.env.example")) == RECEIVER_SETTINGS
    assert "JIRA_WEBHOOK_SECRET" not in env_file_values("jira-pipeline.env.example")
    # Its own user: the receiver cannot read the Dagster processes' environment
    assert users == {"jira-receiver": (["jira-receiver"], ["jira"]),
                     "dagster-daemon": (["jira"], ["jira"]),
                     "dagster-webserver": (["jira"], ["jira"])}


SANDBOX = {
    "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectProc": "invisible",
    "SystemCallFilter": "@system-service", "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes", "RestrictNamespaces": "yes",
    "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
}


def test_systemd_units_are_sandboxed_and_firewalled() -> None:
    for unit in UNITS:
        directives = unit_directives(unit)
        assert {key: directives.get(key, [None])[-1] for key in SANDBOX} == SANDBOX, unit.stem
    firewall = {unit.stem: (unit_directives(unit).get("IPAddressDeny"),
                            unit_directives(unit).get("IPAddressAllow")) for unit in UNITS}
    # The receiver and the webserver talk to loopback only; the daemon's runs call Jira
    # Cloud, whose addresses IPAddressAllow= cannot name (the unit explains the choice)
    assert firewall == {"jira-receiver": (["any"], ["localhost"]),
                        "dagster-webserver": (["any"], ["localhost"]),
                        "dagster-daemon": (None, None)}
    daemon_text = (SYSTEMD_DIR / "dagster-daemon.service").read_text()
    assert "No IPAddressDeny=" in daemon_text and "names" in daemon_text
    [exec_start] = unit_directives(SYSTEMD_DIR / "jira-receiver.service")["ExecStart"]
    assert build_parser().parse_args(shlex.split(exec_start)[1:]).host == "127.0.0.1"
    umasks = {unit.stem: unit_directives(unit)["UMask"] for unit in UNITS}
    assert umasks == {"jira-receiver": ["0007"], "dagster-daemon": ["0027"],
                      "dagster-webserver": ["0027"]}


def test_system_call_filter_allows_what_the_receiver_store_calls() -> None:
    """@system-service (as systemd on this machine expands it) holds every system call the
    delivery store makes: unnamed files, links, flock, fsync."""
    result = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                            capture_output=True, text=True, timeout=30, check=True)
    groups: dict[str, set[str]] = {}
    current = ""
    for line in result.stdout.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = set()
        elif line.strip() and not line.strip().startswith("#") and current:
            groups[current].add(line.strip())

    def expand(name: str) -> set[str]:
        return set().union(*(expand(i) if i.startswith("@") else {i} for i in groups[name]))

    allowed = expand("@system-service")
    assert {"openat", "linkat", "link", "flock", "fsync", "fchmod", "renameat2", "unlinkat",
            "fstat", "pread64", "getdents64", "utimensat", "mkdirat", "fork", "clone3",
            "accept4", "epoll_wait"} <= allowed


# Install script: users, groups, owners and modes -----------------------------------------

INSTALL = SYSTEMD_DIR / "install.sh"


def install_plan() -> tuple[list[list[str]], dict[str, tuple[str, str, str]]]:
    """The commands of ``DRY_RUN=1 install.sh`` and, per path, its final (owner, group, mode)."""
    result = subprocess.run(["bash", str(INSTALL)], env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=30, check=True)
    commands = [shlex.split(line) for line in result.stdout.splitlines()]
    state: dict[str, tuple[str, str, str]] = {}
    for command in commands:
        if command[0] == "install":
            options, paths, args = {}, [], iter(command[1:])
            for arg in args:
                if arg in ("-o", "-g", "-m", "-t"):
                    options[arg] = next(args)
                elif arg != "-d":
                    paths.append(arg)
            owner = (options.get("-o", "root"), options.get("-g", "root"), options["-m"])
            if "-d" in command:
                state.update(dict.fromkeys(paths, owner))
            elif "-t" not in options:
                state[paths[-1]] = owner
        elif command[0] == "chown":
            owner, group = command[1].split(":")
            state[command[2]] = (owner, group, state[command[2]][2])
        elif command[0] == "chmod" and command[1] != "-R":
            state[command[2]] = (*state[command[2]][:2], command[1])
    return commands, state


def may(state: dict[str, tuple[str, str, str]], user: str, groups: set[str], path: str,
        access: str) -> bool:
    """Whether ``user`` in ``groups`` has ``access`` (r, w, x) on ``path`` and search on
    each folder above it that the plan sets (others: as on a fresh system, 0755 root)."""
    def allows(item: str, bit: str) -> bool:
        owner, group, mode = state.get(item, ("root", "root", "0755"))
        if user == "root":
            return True
        digits = int(mode, 8)
        shift = 6 if user == owner else 3 if group in groups else 0
        return bool(digits >> shift & {"r": 4, "w": 2, "x": 1}[bit])
    parents = [str(parent) for parent in reversed(Path(path).parents)]
    return all(allows(parent, "x") for parent in parents) and all(
        allows(path, bit) for bit in access)


def test_install_script_gives_each_user_only_what_it_needs() -> None:
    assert subprocess.run(["bash", "-n", str(INSTALL)], timeout=10).returncode == 0
    commands, state = install_plan()
    env = env_file_values("jira-pipeline.env.example")
    data, dist, home = env["JIRA_DATA_ROOT"], env["JIRA_DIST_DIR"], env["DAGSTER_HOME"]
    env_files = ["/etc/jira-pipeline/env", "/etc/jira-pipeline/receiver.env"]
    for unit in UNITS:
        assert unit_directives(unit)["EnvironmentFile"][0] in env_files

    # Users: two service users in group jira; analysts only ever in jira-readers
    users = {command[-1]: command for command in commands if command[0] == "useradd"}
    assert {name: command[command.index("--gid") + 1] for name, command in users.items()} == {
        "jira": "jira", "jira-receiver": "jira"}
    assert not any("--groups" in command or command[0] in ("usermod", "gpasswd")
                   for command in commands)
    assert {command[-1] for command in commands if command[0] == "groupadd"} == {
        "jira", "jira-readers"}

    assert state[data] == ("jira", "jira", "2770")
    assert state[dist] == ("jira", "jira-readers", "2750")  # setgid: copies take the group
    assert state[home] == ("root", "jira", "0750")
    assert state[f"{home}/dagster.yaml"] == ("root", "jira", "0640")
    assert {state[f"{home}/{folder}"] for folder in DAGSTER_HOME_WRITES} == {("jira", "jira", "0750")}
    for path in env_files:
        assert state[path] == ("root", "root", "0600")  # systemd reads them as root
    receiver_folders = [f"{data}/raw/jira/{name}" for name in
                        ("inbox", "webhook_events", "state", "state/webhook_ids")]
    assert {state[path] for path in receiver_folders} == {("jira", "jira", "2770")}

    analyst, dagster, receiver = ("alice", {"alice", "jira-readers"}), ("jira", {"jira"}), (
        "jira-receiver", {"jira"})
    # Analysts read the published copy, and nothing else of the pipeline
    assert may(state, *analyst, dist, "rx")
    assert not may(state, *analyst, dist, "w")
    for path in (data, home, f"{home}/dagster.yaml", *env_files):
        assert not may(state, *analyst, path, "r"), path
    # Neither service user can change Dagster's instance config or read any env file
    for user in (dagster, receiver):
        assert not may(state, *user, home, "w")
        assert not may(state, *user, f"{home}/dagster.yaml", "w")
        assert not any(may(state, *user, path, "r") for path in env_files)
    assert may(state, *dagster, f"{home}/dagster.yaml", "r")
    assert all(may(state, *dagster, f"{home}/{folder}", "rwx") for folder in DAGSTER_HOME_WRITES)
    # Both services write the receiver's folders (the receiver stores, Dagster archives/prunes)
    for path in receiver_folders:
        assert may(state, *receiver, path, "rwx") and may(state, *dagster, path, "rwx")
    assert "deploy/systemd/install.sh" in DEPLOY_DOC


@pytest.mark.parametrize("name", ["jira-pipeline.env.example", "jira-receiver.env.example"])
def test_env_file_means_the_same_to_systemd_dotenv_and_the_shell(name: str) -> None:
    """docs/deploy.md sources it with `set -a; . /etc/jira-pipeline/env` before `dagster
    instance migrate`; an unquoted value with spaces would run as a command there."""
    env_file = SYSTEMD_DIR / name
    assert "set -a; . /etc/jira-pipeline/env; set +a" in DEPLOY_DOC
    expected = dotenv_values(env_file)
    script = f'set -a; . "{env_file}"; set +a; env -0'
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
        timeout=10, check=False,
    )
    assert result.stderr == ""
    sourced = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    assert {key: sourced.get(key) for key in expected} == expected


def test_deploy_files_describe_the_receivers_read_first_worker(monkeypatch) -> None:
    """The receiver serves with :class:`ReadFirstWorker`, not stock ``gthread``: the deploy
    files and docs say so, with the deadline the worker really applies."""
    from webhook_receiver import server
    from webhook_receiver.worker import REQUEST_DEADLINE_S, ReadFirstWorker

    started = []
    monkeypatch.setattr(server.ReceiverServer, "run", lambda self: started.append(self.options))
    server.serve("127.0.0.1", 0, 1, 1)
    assert started[0]["worker_class"] is ReadFirstWorker
    texts = {path: path.read_text() for path in sorted(DEPLOY.rglob("*")) if path.is_file()}
    texts[PROJECT_ROOT / "docs" / "deploy.md"] = DEPLOY_DOC
    assert [str(path) for path, text in texts.items() if "gthread" in text] == []
    unit = (SYSTEMD_DIR / "jira-receiver.service").read_text()
    assert "webhook_receiver/worker.py" in unit
    assert f"408 after {REQUEST_DEADLINE_S} s" in unit
    assert f"408 and closed after {REQUEST_DEADLINE_S} s" in DEPLOY_DOC
