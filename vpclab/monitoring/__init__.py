"""Monitoring as code: Prometheus and Alertmanager configuration rendered from the lab's
state, the Grafana dashboard generated from one list of panels, and those panels drawn."""
