"""Metrics, alerts, dashboards, Nagios checks and log shipping."""
