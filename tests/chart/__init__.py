# Tests of charts/ecommerce-store: static render checks (no cluster) and one real-cluster test (marker k8s).
