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
    ("relative", "launcher_class"),
    [("k8s/dagster.yaml", "K8sRunLauncher"), ("postgres/dagster.yaml", "DefaultRunLauncher")],
)
def test_instance_yaml_passes_dagsters_schema_and_class_configs(
    relative: str, launcher_class: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    assert classes["run_coordinator_data"] == "QueuedRunCoordinator"
    assert classes["run_launcher_data"] == launcher_class


def test_cluster_instances_keep_the_single_machine_queue_and_recovery_settings() -> None:
    """One run per month, retries and run monitoring are what keeps month files single-writer
    and failed runs redone; moving storage or launcher must not drop them."""
    single = load_yaml(SINGLE_MACHINE_INSTANCE)
    postgres = load_yaml(DEPLOY / "postgres" / "dagster.yaml")
    cluster = load_yaml(K8S_DIR / "dagster.yaml")
    for key in ("concurrency", "run_retries", "run_monitoring"):
        assert postgres[key] == single[key], key
    for instance in (postgres, cluster):
        assert instance["run_coordinator"]["class"] == single["run_coordinator"]["class"]
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
        for name in ("pvc.yaml", "receiver.yaml", "secret.example.yaml")
    }
    assert kinds == {
        "pvc.yaml": ["V1PersistentVolumeClaim"],
        "receiver.yaml": ["V1Deployment", "V1Ingress", "V1Service"],
        "secret.example.yaml": ["V1Secret"],
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


def test_environment_secret_holds_exactly_what_the_programs_read() -> None:
    secret = only(manifest_objects("secret.example.yaml"), k8s.V1Secret)
    keys = set(secret.string_data)
    jira_keys = sorted(key for key in keys if key.startswith("JIRA_"))
    markers = {key: f"m{index}" for index, key in enumerate(jira_keys)}
    read = {str(value) for value in vars(load_settings(markers)).values()}
    assert [key for key, marker in markers.items() if marker not in read] == []
    assert keys - set(jira_keys) == set(env_references(load_yaml(K8S_DIR / "dagster.yaml")))
    # prod.env for the cluster = the host's env file, minus what the manifests set themselves
    host_keys = {
        match.group(1)
        for match in re.finditer(
            r"^#?([A-Z][A-Z0-9_]*)=", (SYSTEMD_DIR / "jira-pipeline.env.example").read_text(),
            re.MULTILINE,
        )
    }
    assert host_keys - keys == {"JIRA_DATA_ROOT", "DAGSTER_HOME", "JIRA_DIST_DIR"}
    assert keys <= host_keys


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
    secret = only(manifest_objects("secret.example.yaml"), k8s.V1Secret)

    run_pod, receiver_pod = pod_facts(job.spec.template.spec), pod_facts(receiver)
    assert run_pod["mounts"] == receiver_pod["mounts"] == {"/data": claim.metadata.name}
    assert run_pod["data_root"] == receiver_pod["data_root"] == "/data"
    assert run_pod["secrets"] == receiver_pod["secrets"] == [secret.metadata.name]
    assert run_pod["image"] == receiver_pod["image"] == documented_image()
    uid = dockerfile_user()
    assert (run_pod["uid"], run_pod["gid"], run_pod["fs_group"]) == (uid, uid, uid)
    assert (receiver_pod["uid"], receiver_pod["gid"], receiver_pod["fs_group"]) == (uid, uid, uid)
    assert run_pod["dagster_home"] == dockerfile_env()["DAGSTER_HOME"]
    namespaces = {item.metadata.namespace for item in [*receiver_objects, claim, secret]}
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
    secret = only(manifest_objects("secret.example.yaml"), k8s.V1Secret).string_data
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
    secret_name = only(manifest_objects("secret.example.yaml"), k8s.V1Secret).metadata.name
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
    assert location["podSecurityContext"] == {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}

    # The secrets created in step 2 are the ones the chart and the pods read
    assert f"create secret generic {secret_name} --from-env-file" in DEPLOY_DOC
    postgres_secret = values["global"]["postgresqlSecretName"]
    assert f"create secret generic {postgres_secret}" in DEPLOY_DOC
    assert "--from-literal=postgresql-password=" in DEPLOY_DOC
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["postgresql"]["enabled"] is False  # the external database of step 2

    # Every kubectl/helm command of the doc works in the namespace of the manifests
    namespaces = set(re.findall(r"\s-n (\S+)", DEPLOY_DOC))
    assert namespaces == {helm_install()[1]}


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


def test_systemd_units_may_write_where_the_env_file_points() -> None:
    """ProtectSystem=strict makes everything else read-only: a data root outside
    ReadWritePaths is a receiver that answers 503 to every delivery. Optional (commented)
    settings count too: they are what an operator uncomments."""
    env = {
        match.group(1): match.group(2)
        for match in re.finditer(
            r"^#?([A-Z][A-Z0-9_]*)=(.*)$",
            (SYSTEMD_DIR / "jira-pipeline.env.example").read_text(),
            re.MULTILINE,
        )
    }
    writable_by_unit = {
        unit.stem: [Path(path) for path in unit_directives(unit)["ReadWritePaths"]]
        for unit in UNITS
    }
    needs = {
        "jira-receiver": ["JIRA_DATA_ROOT"],
        "dagster-daemon": ["JIRA_DATA_ROOT", "DAGSTER_HOME", "JIRA_DIST_DIR"],  # runs too
        "dagster-webserver": ["DAGSTER_HOME"],
    }
    for unit, names in needs.items():
        for name in names:
            path = Path(env[name])
            assert any(path.is_relative_to(writable) for writable in writable_by_unit[unit]), (
                unit, name,
            )


def test_env_file_means_the_same_to_systemd_dotenv_and_the_shell(tmp_path: Path) -> None:
    """docs/deploy.md sources it with `set -a; . /etc/jira-pipeline/env` before `dagster
    instance migrate`; an unquoted value with spaces would run as a command there."""
    env_file = SYSTEMD_DIR / "jira-pipeline.env.example"
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
