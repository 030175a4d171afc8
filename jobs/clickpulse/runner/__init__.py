"""The metric runner: SQL files in, one Flink statement set per topic out."""
