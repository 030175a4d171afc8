"""Alerts (issue 12): rule files (`rules.py`), their Flink SQL (`stream.py`); the notifier
lives beside them (`notify.py`). The contract is docs/design.md, *Alerts*."""
