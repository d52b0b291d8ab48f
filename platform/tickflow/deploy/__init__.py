"""Deployment contracts shared by the Dagster layer and the Kubernetes manifests.

Nothing here imports dagster or kubernetes: these are plain dicts and constants, checked
against dagster_k8s and the rendered manifests by tests/deploy.
"""
