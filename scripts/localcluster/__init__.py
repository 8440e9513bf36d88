"""Local single-node Kubernetes for development and tests: `python -m scripts.localcluster tools|up|down|status|images`.

Everything runs on 127.0.0.1; see docs/local-cluster.md for how it works and what it costs.
"""
