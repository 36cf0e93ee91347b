"""The local target: a moto server as the control plane, network namespaces as the data plane."""
