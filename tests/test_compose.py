"""docker-compose.yml mirrors the embedded stack. There is no Docker engine here, so its
structure is checked: every service has an image or build and a health check, and the
ports and environment names are the ones the embedded default uses."""

from __future__ import annotations

from pathlib import Path

import yaml

from clickpulse.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _published_ports() -> set[int]:
    ports = set()
    for svc in SERVICES.values():
        for p in svc.get("ports", []):
            ports.add(int(str(p).rsplit(":", 2)[-2] if str(p).count(":") == 2 else str(p).split(":")[0]))
    return ports


def test_every_service_has_image_or_build_and_healthcheck():
    for name, svc in SERVICES.items():
        assert svc.get("image") or svc.get("build"), f"service {name} has neither image nor build"
        hc = svc.get("healthcheck", {})
        assert hc.get("test"), f"service {name} has no health check"


def test_builds_point_at_dockerfiles_under_infra():
    for name, svc in SERVICES.items():
        if "build" in svc:
            dockerfile = ROOT / svc["build"].get("context", ".") / svc["build"]["dockerfile"]
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            assert "infra" in dockerfile.parts


def test_same_ports_as_embedded_stack(monkeypatch):
    """compose publishes the ports the local stack uses by default (a worktree's .env or the
    environment may move the local ones elsewhere)."""
    for var in ("POSTGRES_PORT", "KAFKA_BOOTSTRAP_SERVERS", "FLINK_REST_URL", "SUPERSET_URL", "COLLECTOR_PORT",
                "REDIS_URL", "GATEWAY_PORT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    embedded = {s.postgres_port, int(s.kafka_bootstrap_servers.rsplit(":", 1)[1]),
                s.flink_rest_host_port[1], int(s.superset_url.rsplit(":", 1)[1]), s.collector_port,
                int(s.redis_url.rsplit(":", 1)[1].split("/")[0]), s.gateway_port}
    assert embedded <= _published_ports(), f"compose publishes {_published_ports()}, embedded uses {embedded}"


def test_official_images():
    images = {svc.get("image", "") for svc in SERVICES.values()}
    assert any(i.startswith("apache/kafka:") for i in images)
    assert any(i.startswith("timescale/timescaledb:") for i in images)
    assert any(i.startswith("redis:") for i in images)
    flink_df = (ROOT / "infra/docker/flink.Dockerfile").read_text()
    assert "FROM flink:2.0.2" in flink_df, "Flink image must match the pinned pyflink version"
    assert "FROM apache/superset:6.1.0" in (ROOT / "infra/docker/superset.Dockerfile").read_text()


def test_environment_names_are_settings_names():
    names = {f.validation_alias.choices[0] for f in Settings.model_fields.values()}
    env = COMPOSE["x-clickpulse-env"]
    unknown = set(env) - names
    assert not unknown, f"compose sets variables the settings object does not read: {unknown}"
    for required in ("KAFKA_BOOTSTRAP_SERVERS", "FLINK_REST_URL", "POSTGRES_HOST", "SUPERSET_URL",
                     "POSTGRES_READER_PASSWORD", "SUPERSET_SECRET_KEY"):
        assert required in env


def test_compose_secrets_have_no_defaults():
    env = COMPOSE["x-clickpulse-env"]
    for k, v in env.items():
        if "PASSWORD" in k or "SECRET" in k:
            assert ":?" in str(v), f"{k} must come from the environment, not a default in the file"


def test_pinned_versions_match():
    text = (ROOT / "docker-compose.yml").read_text()
    kafka_pom = (ROOT / "infra/kafka/pom.xml").read_text()
    version = text.split("apache/kafka:")[1].split()[0]
    assert f"<kafka.version>{version}</kafka.version>" in kafka_pom
    assert get_settings() is not None


def test_superset_caches_in_the_redis_service():
    """Superset's caches live in compose's Redis (shared by its replicas), as the local
    stack's live in its redis-server; Superset waits for it."""
    assert COMPOSE["x-clickpulse-env"]["REDIS_URL"].startswith("redis://redis:6379/")
    assert SERVICES["superset"]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_the_notifier_and_superset_celery_run_as_on_the_local_stack():
    """The alert notifier and Alerts & Reports' Celery worker and beat, as `make demo` runs
    them (issue 12), with the delivery settings; the Superset image has Chromium for the
    screenshots."""
    assert SERVICES["notifier"]["command"] == ["exec clickpulse alerts notify"]
    for name, role in (("superset-worker", "worker"), ("superset-beat", "beat")):
        command = SERVICES[name]["command"]
        assert command[:3] == ["celery", "--app=superset.tasks.celery_app:app", role], name
    for name in ("notifier", "superset-worker", "superset"):
        assert {"ALERT_WEBHOOK_URL", "SMTP_HOST", "SMTP_PORT"} <= set(SERVICES[name]["environment"]), name
    dockerfile = (ROOT / "infra/docker/superset.Dockerfile").read_text()
    assert "install -y --no-install-recommends chromium" in dockerfile and "playwright==" in dockerfile
