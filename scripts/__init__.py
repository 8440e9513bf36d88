"""Operator and developer scripts of storeplane (the local cluster tooling lives in scripts.localcluster)."""
