"""One settings object for the whole project.

Every field is read from the environment variable named in its `alias`; `.env` in the
repository root and the generated `.clickpulse/secrets.env` are read too (in that order
of precedence: process environment, then `.env`, then generated secrets). Secrets never
have defaults in code: `clickpulse stack up` generates demo secrets once into the state
dir when the environment does not provide them.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote, urlparse

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .paths import ROOT, state_dir


def _env(name: str, default=None):
    """A field read from the environment variable `name`."""
    return Field(default=default, validation_alias=AliasChoices(name))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(str(state_dir() / "secrets.env"), str(ROOT / ".env")),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # --- Kafka -------------------------------------------------------------------------
    kafka_bootstrap_servers: str = _env("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
    events_topic: str = _env("CLICKPULSE_EVENTS_TOPIC", default="clickpulse.events")
    dead_letter_topic: str = _env("CLICKPULSE_DEAD_LETTER_TOPIC", default="clickpulse.events.dlq")
    # Alert transitions written by the events job (sql/alerts/*.yaml), read by the notifier.
    alerts_topic: str = _env("CLICKPULSE_ALERTS_TOPIC", default="clickpulse.alerts")
    # How long a partition of the events topic must be quiet before `clickpulse jobs ticker`
    # writes clock ticks into it (so that event time, and the windows, keep moving).
    tick_after_ms: int = _env("CLICKPULSE_TICK_AFTER_MS", default=10_000)
    events_partitions: int = _env("CLICKPULSE_EVENTS_PARTITIONS", default=6)
    # Local stack topology (`clickpulse stack up --kafka-brokers 3 --taskmanagers 2`): more
    # than one of either runs the multi-node mode (brokers on consecutive ports from the
    # Kafka port, JobManager high availability through ZooKeeper on ZOOKEEPER_PORT).
    kafka_brokers: int = _env("CLICKPULSE_KAFKA_BROKERS", default=1)
    taskmanagers: int = _env("CLICKPULSE_TASKMANAGERS", default=1)
    zookeeper_port: int = _env("ZOOKEEPER_PORT", default=2181)

    # --- Flink -------------------------------------------------------------------------
    flink_rest_url: str = _env("FLINK_REST_URL", default="http://127.0.0.1:8081")
    # The local cluster's JobManager RPC port (a second local stack needs another one).
    flink_rpc_port: int = _env("FLINK_RPC_PORT", default=6123)
    # The suite's job name, also its Kafka consumer group: stable, so that submit, stop and
    # upgrade find the running job and its state. Change it only to run a second suite.
    job_name: str = _env("CLICKPULSE_JOB_NAME", default="clickpulse-events")
    watermark_delay_ms: int = _env("CLICKPULSE_WATERMARK_DELAY_MS", default=5000)
    # A safety net only: quiet partitions get ticks from the ticker. A short timeout would
    # let a partition that is merely slow to be read (catching up) fall behind the others'
    # watermark and its events be dropped by the windows.
    idle_timeout_ms: int = _env("CLICKPULSE_IDLE_TIMEOUT_MS", default=300_000)
    # Events stamped further ahead of the wall clock than this are invalid: lateness is
    # judged against the newest event time of a partition, so one client clock running an
    # hour fast would otherwise make its partition-mates' events late for an hour.
    max_future_ms: int = _env("CLICKPULSE_MAX_FUTURE_MS", default=60_000)
    checkpoint_interval_ms: int = _env("CLICKPULSE_CHECKPOINT_INTERVAL_MS", default=10000)
    dedup_ttl_ms: int = _env("CLICKPULSE_DEDUP_TTL_MS", default=3_600_000)
    job_parallelism: int = _env("CLICKPULSE_PARALLELISM", default=2)
    # hashmap: state on the JVM heap; every checkpoint copies all of it. rocksdb: state on
    # local disk with incremental checkpoints, for state larger than the heap; measured here
    # ~20x slower on the suite (`clickpulse bench pipeline`, README "Throughput").
    state_backend: str = _env("CLICKPULSE_STATE_BACKEND", default="hashmap")
    # Memory of the local stack's TaskManager process.
    taskmanager_memory: str = _env("CLICKPULSE_TASKMANAGER_MEMORY", default="6g")
    raw_events_sink: bool = _env("CLICKPULSE_RAW_EVENTS", default=True)
    # Regular (non-windowed) aggregations apply their input in bundles of this much event
    # time and emit each changed row once per bundle: the provisional rows and funnels
    # update about this often, and a user moving between rows never shows as a dip.
    # 0 turns mini-batching off.
    minibatch_ms: int = _env("CLICKPULSE_MINIBATCH_MS", default=500)
    jdbc_flush_rows: int = _env("CLICKPULSE_JDBC_FLUSH_ROWS", default=1000)
    jdbc_flush_interval_ms: int = _env("CLICKPULSE_JDBC_FLUSH_INTERVAL_MS", default=1000)

    # --- PostgreSQL ----------------------------------------------------------------------
    postgres_host: str = _env("POSTGRES_HOST", default="127.0.0.1")
    postgres_port: int = _env("POSTGRES_PORT", default=5432)
    postgres_db: str = _env("POSTGRES_DB", default="clickpulse")
    # The superuser runs migrations and owns the schema; the writer feeds Flink's sinks;
    # the reader is what Superset and analysts use (SELECT only).
    postgres_admin_user: str = _env("POSTGRES_ADMIN_USER", default="postgres")
    postgres_admin_password: str | None = _env("POSTGRES_ADMIN_PASSWORD", default=None)
    postgres_writer_user: str = _env("POSTGRES_WRITER_USER", default="clickpulse_writer")
    postgres_writer_password: str | None = _env("POSTGRES_WRITER_PASSWORD", default=None)
    postgres_reader_user: str = _env("POSTGRES_READER_USER", default="clickpulse_reader")
    postgres_reader_password: str | None = _env("POSTGRES_READER_PASSWORD", default=None)
    # The read-only role's connection as one libpq URL, instead of POSTGRES_HOST, _PORT, _DB
    # and POSTGRES_READER_*: for reading another cluster's tables (`clickpulse verify`,
    # analysts). `clickpulse stack env` prints the local one. Admin and writer are unaffected.
    database_url: str | None = _env("DATABASE_URL", default=None)
    superset_db: str = _env("SUPERSET_METADATA_DB", default="superset")
    # auto: TimescaleDB features (hypertables, continuous aggregates, retention and
    # compression policies) when the extension is installed, plain PostgreSQL otherwise.
    db_backend: str = _env("CLICKPULSE_DB_BACKEND", default="auto")

    # --- Superset ----------------------------------------------------------------------
    superset_url: str = _env("SUPERSET_URL", default="http://127.0.0.1:8088")
    # Superset's caches (chart results, metadata, filter and explore state), shared by its
    # workers and replicas; the local stack runs Debian's redis-server on this host and port.
    redis_url: str = _env("REDIS_URL", default="redis://127.0.0.1:6379/0")
    superset_secret_key: str | None = _env("SUPERSET_SECRET_KEY", default=None)
    superset_admin_user: str = _env("SUPERSET_ADMIN_USER", default="admin")
    superset_admin_password: str | None = _env("SUPERSET_ADMIN_PASSWORD", default=None)
    superset_analyst_user: str = _env("SUPERSET_ANALYST_USER", default="analyst")
    superset_analyst_password: str | None = _env("SUPERSET_ANALYST_PASSWORD", default=None)
    superset_viewer_user: str = _env("SUPERSET_VIEWER_USER", default="viewer")
    superset_viewer_password: str | None = _env("SUPERSET_VIEWER_PASSWORD", default=None)
    # A viewer bound to one site by row-level security (demonstrates per-tenant dashboards).
    superset_site_viewer_user: str = _env("SUPERSET_SITE_VIEWER_USER", default="viewer_site1")
    superset_site_viewer_password: str | None = _env("SUPERSET_SITE_VIEWER_PASSWORD", default=None)
    superset_site_viewer_site: str = _env("SUPERSET_SITE_VIEWER_SITE", default="site-1")
    # Headless Chromium for the browser tests and `clickpulse dashboards capture-queries`
    # (Debian's package; Playwright drives it, its own browser downloads are never used).
    chromium_path: str = _env("CLICKPULSE_CHROMIUM", default="/usr/bin/chromium")

    # --- Ingestion -----------------------------------------------------------------------
    generator_rate: float = _env("CLICKPULSE_GENERATOR_RATE", default=200.0)
    collector_host: str = _env("COLLECTOR_HOST", default="127.0.0.1")
    collector_port: int = _env("COLLECTOR_PORT", default=8090)
    # "site-1:key1,site-2:key2"; empty means no write key is required.
    collector_write_keys: str = _env("COLLECTOR_WRITE_KEYS", default="")
    collector_allowed_origins: str = _env("COLLECTOR_ALLOWED_ORIGINS", default="*")
    collector_user_id_key: str | None = _env("COLLECTOR_USER_ID_KEY", default=None)
    collector_geoip_db: str | None = _env("COLLECTOR_GEOIP_DB", default=None)
    collector_max_body_bytes: int = _env("COLLECTOR_MAX_BODY_BYTES", default=1_000_000)
    collector_max_batch: int = _env("COLLECTOR_MAX_BATCH", default=500)
    # How long a request waits for Kafka's acknowledgement before answering 503.
    collector_kafka_timeout_ms: int = _env("COLLECTOR_KAFKA_TIMEOUT_MS", default=5000)
    # Behind a reverse proxy the client's address is in X-Forwarded-For; never trust it
    # when clients connect directly, or anyone could pick their GeoIP country.
    collector_trust_forwarded_for: bool = _env("COLLECTOR_TRUST_FORWARDED_FOR", default=False)
    # Bot rule: more events than this within one second from one user or one client address
    # marks the excess as a bot's (`bot: rate`; the events are kept, out of the user metrics).
    collector_bot_rate: int = _env("COLLECTOR_BOT_RATE", default=20)
    # The demo shop at /demo (and its pages /, /pricing, /products/...) next to the collector.
    collector_demo: bool = _env("COLLECTOR_DEMO", default=True)

    # --- Live gateway (`clickpulse gateway`) -----------------------------------------------
    gateway_host: str = _env("GATEWAY_HOST", default="127.0.0.1")
    gateway_port: int = _env("GATEWAY_PORT", default=8095)
    # How often the gateway reads the live tables (once for all viewers) and pushes changes.
    gateway_tick_ms: int = _env("GATEWAY_TICK_MS", default=1000)
    # Signs the gateway's session cookies; replicas behind one load balancer share it.
    # Unset: derived from SUPERSET_SECRET_KEY.
    gateway_secret_key: str | None = _env("GATEWAY_SECRET_KEY", default=None)

    # --- Alert notifications (`clickpulse alerts notify`) and scheduled reports -------------
    # The notifier reads CLICKPULSE_ALERTS_TOPIC (docs/design.md, "Alerts") as this consumer group.
    notify_group: str = _env("CLICKPULSE_NOTIFY_GROUP", default="clickpulse-notifier")
    # A delivery that fails (connection refused, HTTP 5xx/429, SMTP error) is tried this many
    # times in all, waiting CLICKPULSE_NOTIFY_BACKOFF_MS, then twice that, ... (at most 60 s).
    notify_attempts: int = _env("CLICKPULSE_NOTIFY_ATTEMPTS", default=5)
    notify_backoff_ms: int = _env("CLICKPULSE_NOTIFY_BACKOFF_MS", default=1000)
    # How often `clickpulse alerts watch` observes the pipeline (job state, freshness,
    # offsets) and judges the pipeline rules of sql/alerts/.
    watch_poll_ms: int = _env("CLICKPULSE_WATCH_POLL_MS", default=5000)
    # Where the channels of sql/alerts/channels.yaml deliver (a channel names the variable):
    # a Slack-compatible incoming-webhook URL and comma-separated e-mail addresses.
    alert_webhook_url: str | None = _env("ALERT_WEBHOOK_URL", default=None)
    alert_email_to: str | None = _env("ALERT_EMAIL_TO", default=None)
    # The SMTP server of the notifier's e-mails and of Superset's scheduled reports (the same
    # names Superset's own settings have). No TLS by default: the local stack's test server.
    smtp_host: str = _env("SMTP_HOST", default="127.0.0.1")
    smtp_port: int = _env("SMTP_PORT", default=25)
    smtp_user: str | None = _env("SMTP_USER", default=None)
    smtp_password: str | None = _env("SMTP_PASSWORD", default=None)
    smtp_mail_from: str = _env("SMTP_MAIL_FROM", default="clickpulse@localhost")
    # STARTTLS after connecting (port 587), or TLS from the start (port 465).
    smtp_starttls: bool = _env("SMTP_STARTTLS", default=False)
    smtp_ssl: bool = _env("SMTP_SSL", default=False)
    # Who gets the weekly "Trends" report (comma-separated); unset: `dashboards sync` creates
    # no report.
    report_email_to: str | None = _env("CLICKPULSE_REPORT_EMAIL_TO", default=None)
    # When it is sent (cron, in CLICKPULSE_REPORT_TIMEZONE): Mondays 07:00.
    report_crontab: str = _env("CLICKPULSE_REPORT_CRONTAB", default="0 7 * * 1")
    report_timezone: str = _env("CLICKPULSE_REPORT_TIMEZONE", default="UTC")

    # --- derived -------------------------------------------------------------------------
    @property
    def flink_rest_host_port(self) -> tuple[str, int]:
        u = urlparse(self.flink_rest_url)
        return u.hostname or "127.0.0.1", u.port or 8081

    def jdbc_url(self) -> str:
        # reWriteBatchedInserts turns the sink's batches into multi-row INSERTs (2-3x faster).
        return (
            f"jdbc:postgresql://{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"
            # stringtype=unspecified lets PostgreSQL cast the sink's strings to jsonb.
            "?reWriteBatchedInserts=true&stringtype=unspecified"
        )

    def dsn(self, role: str = "reader", db: str | None = None) -> str:
        """libpq URL for the given role: 'admin', 'writer' or 'reader' (DATABASE_URL, when
        set, is the reader's; `db` replaces its database)."""
        if role == "reader" and self.database_url:
            return _with_database(self.database_url, db) if db else self.database_url
        user = getattr(self, f"postgres_{role}_user")
        password = getattr(self, f"postgres_{role}_password")
        auth = quote(user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/{db or self.postgres_db}"

    def require(self, *fields: str) -> None:
        """Fail with the environment variable to set when a needed secret is missing."""
        missing = []
        for f in fields:
            if getattr(self, f) in (None, ""):
                alias = type(self).model_fields[f].validation_alias
                missing.append(alias.choices[0] if alias else f.upper())
        if missing:
            raise SettingsError(
                f"missing setting(s): {', '.join(missing)} — set them in the environment or .env "
                "(see .env.example), or run `clickpulse stack up` once to generate demo secrets"
            )


def _with_database(url: str, db: str) -> str:
    u = urlparse(url)
    return u._replace(path="/" + quote(db, safe="")).geturl()


class SettingsError(RuntimeError):
    pass


def field_for_env(var: str) -> str | None:
    """The settings field read from environment variable `var`."""
    for name, f in Settings.model_fields.items():
        if f.validation_alias and var in f.validation_alias.choices:
            return name
    return None


def env_var(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if alias else field.upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
