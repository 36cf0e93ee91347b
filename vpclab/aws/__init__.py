"""The control plane: boto3 against AWS or the local moto server."""
