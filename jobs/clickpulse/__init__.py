"""clickpulse: real-time product analytics on Kafka, Flink SQL, PostgreSQL/TimescaleDB and Superset."""

__version__ = "0.1.0"
