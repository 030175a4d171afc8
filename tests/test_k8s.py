"""infra/k8s as the project ships it: each overlay rendered by kustomize and every object
checked by kubeconform -strict, against schemas built offline by infra/k8s/validate/
(built-in kinds from Kubernetes' OpenAPI document, Strimzi's and the Flink operator's
custom resources from their CRDs); then the choices the manifests stand for, field by
field; then the Superset chart values, whose chart is not available offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from clickpulse.cli import app
from clickpulse.paths import cache_dir
from clickpulse.settings import Settings, field_for_env

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "infra" / "k8s"
OVERLAYS = ("small", "large")
README = (ROOT / "README.md").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SECRETS = {"clickpulse-postgres", "clickpulse-s3", "clickpulse-superset", "clickpulse-collector",
           "clickpulse-alerts"}
SECRET_VARS = re.compile(r"PASSWORD|SECRET|_KEY$|ACCESS_KEY")


@pytest.fixture(scope="session")
def validators() -> dict[str, str]:
    """kustomize, kubeconform and the schemas, installed into the download cache."""
    res = subprocess.run(["bash", str(K8S / "validate" / "install.sh")], capture_output=True, text=True,
                         timeout=1200, env={**os.environ, "PYTHON": sys.executable})
    assert res.returncode == 0, f"infra/k8s/validate/install.sh failed:\n{res.stderr[-3000:]}"
    lines = (cache_dir() / "k8s" / "validators.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture(scope="session")
def rendered(validators) -> dict[str, str]:
    out = {}
    for overlay in OVERLAYS:
        res = subprocess.run([validators["KUSTOMIZE"], "build", str(K8S / "overlays" / overlay)],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, f"kustomize build overlays/{overlay}:\n{res.stderr}"
        out[overlay] = res.stdout
    return out


@pytest.fixture(scope="session")
def objects(rendered) -> dict[str, list[dict]]:
    return {o: [d for d in yaml.safe_load_all(text) if d] for o, text in rendered.items()}


def one(objs: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(objs: list[dict]):
    """(object, container) for every container of every workload, Flink's pod template too."""
    for o in objs:
        spec = o.get("spec", {})
        pod = (spec.get("jobTemplate", {}).get("spec", {}).get("template")  # (CronJob)
               or spec.get("template") or spec.get("podTemplate") or {})
        for c in pod.get("spec", {}).get("containers", []):
            yield o, c


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_passes_kubeconform_strict(validators, rendered, objects, overlay):
    location = os.path.join(validators["SCHEMAS"], "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    res = subprocess.run([validators["KUBECONFORM"], "-strict", "-summary", "-output", "json",
                          "-kubernetes-version", validators["KUBERNETES_VERSION"], "-schema-location", location, "-"],
                         input=rendered[overlay], capture_output=True, text=True, timeout=120)
    report = json.loads(res.stdout)
    assert res.returncode == 0, json.dumps(report["resources"], indent=1)[:4000]
    # no schema may be missing: every kind is validated, the custom resources included
    assert report["summary"] == {"valid": len(objects[overlay]), "invalid": 0, "errors": 0, "skipped": 0}
    assert {o["kind"] for o in objects[overlay]} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "FlinkDeployment",
                                                     "StatefulSet", "Deployment", "HorizontalPodAutoscaler", "Job"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_kraft_with_three_brokers_replication_three_and_two_in_sync(objects, overlay):
    objs = objects[overlay]
    pools = {o["metadata"]["name"]: o for o in objs if o["kind"] == "KafkaNodePool"}
    assert pools["controller"]["spec"]["roles"] == ["controller"] and pools["controller"]["spec"]["replicas"] == 3
    assert pools["broker"]["spec"]["roles"] == ["broker"] and pools["broker"]["spec"]["replicas"] >= 3
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == "clickpulse" for p in pools.values())
    config = one(objs, "Kafka", "clickpulse")["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3 and config["auto.create.topics.enable"] is False
    settings = one(objs, "ConfigMap", "clickpulse-config")["data"]
    topics = {o["spec"]["topicName"]: o["spec"] for o in objs if o["kind"] == "KafkaTopic"}
    assert set(topics) == {settings["CLICKPULSE_EVENTS_TOPIC"], settings["CLICKPULSE_DEAD_LETTER_TOPIC"]}
    assert all(t["replicas"] == 3 and t["config"]["min.insync.replicas"] == 2 for t in topics.values())
    events = topics[settings["CLICKPULSE_EVENTS_TOPIC"]]
    # the generator's --truth and the producers hash keys over this many partitions
    assert int(settings["CLICKPULSE_EVENTS_PARTITIONS"]) == events["partitions"] >= 6
    assert settings["KAFKA_BOOTSTRAP_SERVERS"] == "clickpulse-kafka-bootstrap:9092"   # Strimzi's Service name


def test_the_large_overlay_is_larger(objects):
    def size(overlay):
        objs = objects[overlay]
        fd = one(objs, "FlinkDeployment", "clickpulse-flink")["spec"]
        topic = one(objs, "KafkaTopic", "clickpulse-events")["spec"]
        return (one(objs, "KafkaNodePool", "broker")["spec"]["replicas"], topic["partitions"],
                fd["taskManager"]["replicas"], one(objs, "HorizontalPodAutoscaler", "clickpulse-collector")["spec"]["maxReplicas"])
    assert all(large > small for small, large in zip(size("small"), size("large")))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_suite_fits_its_slots_and_partitions(objects, overlay):
    objs = objects[overlay]
    fd = one(objs, "FlinkDeployment", "clickpulse-flink")["spec"]
    settings = one(objs, "ConfigMap", "clickpulse-config")["data"]
    slots = fd["taskManager"]["replicas"] * int(fd["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    parallelism = int(settings["CLICKPULSE_PARALLELISM"])
    assert parallelism == int(fd["flinkConfiguration"]["parallelism.default"])
    # a TaskManager can die and the job still finds its slots on the others
    per_tm = int(fd["flinkConfiguration"]["taskmanager.numberOfTaskSlots"])
    assert parallelism <= slots - per_tm
    assert parallelism <= int(settings["CLICKPULSE_EVENTS_PARTITIONS"])
    sink_connections = parallelism * len(list((ROOT / "sql" / "metrics").glob("*.sql")))
    db = one(objs, "StatefulSet", "clickpulse-timescaledb")["spec"]["template"]["spec"]["containers"][0]["args"]
    max_connections = int(next(a.split("=")[1] for a in db if a.startswith("max_connections=")))
    assert sink_connections < max_connections - 50   # room for Superset, the gateways, migrations


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_flink_session_cluster_with_kubernetes_ha_and_state_on_s3(objects, overlay):
    fd = one(objects[overlay], "FlinkDeployment", "clickpulse-flink")["spec"]
    assert fd["flinkVersion"] == "v2_0" and "job" not in fd   # a session cluster: jobs are submitted to it
    assert fd["image"] == COMPOSE["x-flink-image"]["image"]   # infra/docker/flink.Dockerfile's image
    conf = fd["flinkConfiguration"]
    assert all(isinstance(v, str) for v in conf.values())     # operator 1.10's schema wants strings; 1.15 takes them
    assert conf["high-availability.type"] == "kubernetes" and fd["jobManager"]["replicas"] >= 2
    for key in ("high-availability.storageDir", "execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
        assert conf[key].startswith("s3://"), key
    assert "-Duser.timezone=UTC" in conf["env.java.opts.all"]
    container = fd["podTemplate"]["spec"]["containers"][0]
    assert container["name"] == "flink-main-container"
    assert {"name": "ENABLE_BUILT_IN_PLUGINS", "value": "flink-s3-fs-hadoop-2.0.2.jar"} in container["env"]
    assert {"secretRef": {"name": "clickpulse-s3"}} in container["envFrom"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_suite_is_submitted_to_the_session_clusters_rest_service(objects, overlay):
    objs = objects[overlay]
    settings = one(objs, "ConfigMap", "clickpulse-config")["data"]
    assert settings["FLINK_REST_URL"] == "http://clickpulse-flink-rest:8081"   # the operator's <name>-rest Service
    job = one(objs, "Job", "clickpulse-deploy")["spec"]["template"]["spec"]["containers"][0]
    script = " ".join(job["command"] + job["args"])
    assert 'clickpulse jobs submit --rest-url "$FLINK_REST_URL"' in script and "clickpulse db migrate" in script
    assert job["image"] == COMPOSE["x-flink-image"]["image"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_timescaledb_is_the_official_image_on_a_volume(objects, overlay):
    objs = objects[overlay]
    sts = one(objs, "StatefulSet", "clickpulse-timescaledb")["spec"]
    c = sts["template"]["spec"]["containers"][0]
    assert c["image"] == "timescale/timescaledb:2.21.2-pg15" == COMPOSE["services"]["postgres"]["image"]
    assert "shared_preload_libraries=timescaledb" in c["args"] and "timezone=UTC" in c["args"]
    assert [v["metadata"]["name"] for v in sts["volumeClaimTemplates"]] == ["data"]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in c["volumeMounts"]
    assert one(objs, "Service", sts["serviceName"])["spec"]["ports"][0]["port"] == 5432
    assert one(objs, "ConfigMap", "clickpulse-config")["data"]["POSTGRES_HOST"] == sts["serviceName"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name,command,port", [("clickpulse-collector", "collect", 8090),
                                               ("clickpulse-gateway", "gateway", 8091)])
def test_collector_and_gateway_autoscale_behind_a_service(objects, overlay, name, command, port):
    objs = objects[overlay]
    deployment = one(objs, "Deployment", name)
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["clickpulse"] and c["args"] == [command]
    assert c["ports"] == [{"name": "http", "containerPort": port}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "cpu" in c["resources"]["requests"]   # what the autoscaler measures against
    hpa = one(objs, "HorizontalPodAutoscaler", name)["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    service = one(objs, "Service", name)["spec"]
    assert service["ports"][0]["port"] == port and service["selector"] == deployment["spec"]["selector"]["matchLabels"]
    settings = one(objs, "ConfigMap", "clickpulse-config")["data"]
    prefix = "COLLECTOR" if command == "collect" else "GATEWAY"
    assert settings[f"{prefix}_PORT"] == str(port) and settings[f"{prefix}_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_only_referenced_and_documented(objects, overlay):
    objs = objects[overlay]
    assert not [o for o in objs if o["kind"] == "Secret"]
    referenced = set()
    for _, c in containers(objs):
        for e in c.get("env", []):
            assert not (SECRET_VARS.search(e["name"]) and "value" in e), f"{e['name']} has a value in the manifests"
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                referenced.add(ref["name"])
        referenced |= {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
    for o in objs:
        if o["kind"] == "ConfigMap":
            assert not [k for k in o["data"] if SECRET_VARS.search(k)], "a secret in a ConfigMap"
    assert referenced == SECRETS
    for name in SECRETS:
        assert re.search(rf"kubectl create secret generic {name} ", README), \
            f"README does not say how to create the Secret {name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_commands_and_settings_the_manifests_use_exist(objects, overlay):
    objs = objects[overlay]
    used = set()
    for _, c in containers(objs):
        words = c.get("command", []) + c.get("args", [])
        if words[:1] == ["clickpulse"]:
            used.add(" ".join(w for w in words[1:3] if not w.startswith("-")))
        for script in words:
            used |= {m.strip() for m in re.findall(r"clickpulse ((?:[a-z][a-z-]* ?){1,2})", script)}
    assert {"collect", "gateway", "jobs ticker", "jobs submit", "db migrate", "dashboards sync",
            "alerts notify"} <= used
    root = typer.main.get_command(app)
    missing = {u for u in used if not _command_exists(root, u.split())}
    assert not missing, f"the manifests run commands the CLI does not have: {missing}"
    config = one(objs, "ConfigMap", "clickpulse-config")["data"]
    unknown = {k for k in config if field_for_env(k) is None} - {"CLICKPULSE_HOME"}   # CLICKPULSE_HOME: paths.py
    assert not unknown, f"the ConfigMap sets variables the settings do not read: {unknown}"


def _command_exists(group, words: list[str]) -> bool:
    for w in words:
        if not hasattr(group, "commands"):
            return True
        if w not in group.commands:
            return False
        group = group.commands[w]
    return True


# --------------------------------------------------------------------------- Superset


VALUES = yaml.safe_load((K8S / "superset" / "values.yaml").read_text())


def test_superset_values_use_our_image_redis_and_the_timescaledb():
    assert f"{VALUES['image']['repository']}:{VALUES['image']['tag']}" == COMPOSE["services"]["superset"]["image"]
    assert VALUES["redis"]["enabled"] is True and VALUES["postgresql"]["enabled"] is False
    env = VALUES["extraEnv"]
    assert env["SUPERSET_CONFIG_PATH"] == "/app/pythonpath/superset_config.py"   # the chart's, which loads ours
    assert env["POSTGRES_HOST"] == "clickpulse-timescaledb" and env["REDIS_HOST"] == "superset-redis-headless"
    assert {k for k in env if field_for_env(k) is None} == {"SUPERSET_CONFIG_PATH", "REDIS_HOST", "REDIS_PORT"}
    assert "clickpulse stack superset-init" in VALUES["init"]["initscript"]


def test_superset_values_hold_no_secret():
    assert VALUES["secretEnv"]["create"] is False and "extraSecretEnv" not in VALUES
    assert VALUES["init"]["createAdmin"] is False and "adminUser" not in VALUES["init"]
    assert {VALUES["envFromSecret"], *VALUES["envFromSecrets"]} <= SECRETS
    assert not [k for k in VALUES["extraEnv"] if SECRET_VARS.search(k)]


def test_superset_config_override_loads_ours_and_moves_the_caches_to_redis(monkeypatch):
    """The override runs as the chart's superset_config.py would run it (after the chart's
    own lines, which define env()), on our real superset/superset_config.py."""
    dockerfile = (ROOT / "infra" / "docker" / "superset.Dockerfile").read_text()
    assert "COPY superset /opt/clickpulse/superset" in dockerfile
    code = VALUES["configOverrides"]["clickpulse"].replace("/opt/clickpulse/superset", str(ROOT / "superset"))
    monkeypatch.setenv("SUPERSET_SECRET_KEY", "not-a-secret-test-key")
    monkeypatch.setenv("REDIS_HOST", "superset-redis-headless")
    monkeypatch.setenv("REDIS_PORT", "6379")
    config = {"env": lambda key, default=None: os.environ.get(key, default)}
    exec(compile(code, "configOverrides.clickpulse", "exec"), config)
    assert config["FEATURE_FLAGS"]["ENABLE_TEMPLATE_PROCESSING"] is True and config["ROW_LIMIT"] == 50_000
    for name in ("CACHE_CONFIG", "DATA_CACHE_CONFIG", "FILTER_STATE_CACHE_CONFIG", "EXPLORE_FORM_DATA_CACHE_CONFIG"):
        assert config[name]["CACHE_TYPE"] == "RedisCache" and config[name]["CACHE_REDIS_HOST"] == "superset-redis-headless"
    assert len({config[n]["CACHE_REDIS_DB"] for n in ("CACHE_CONFIG", "DATA_CACHE_CONFIG",
                                                      "FILTER_STATE_CACHE_CONFIG", "EXPLORE_FORM_DATA_CACHE_CONFIG")}) == 4
    assert config["DATA_CACHE_CONFIG"]["CACHE_DEFAULT_TIMEOUT"] == 300   # ours, not the chart's default

