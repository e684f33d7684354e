"""Metrics, alerts, dashboards, Nagios checks and log shipping: step 5 builds them."""
