"""Alerts (issue 12): rules evaluated in the stream and the notifier that delivers them
(docs/design.md, "Alerts")."""
