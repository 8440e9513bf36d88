"""The shared base every app may import: the API envelope and errors, crypto, logging, metrics, security limits,
Redis, validation. It imports no app and nothing of the composition root (`config/`)."""
