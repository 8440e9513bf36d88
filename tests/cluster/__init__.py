"""Tests of the local cluster tooling (scripts/localcluster) and of the cluster itself."""
