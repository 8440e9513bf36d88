"""The store-name rules of the contract (§1.4 #5), shared by the API and the web pages."""

import re

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
NAME_MIN, NAME_MAX = 3, 63

MSG_MIN = "Store name must be at least 3 characters."
MSG_MAX = "Store name must be at most 63 characters (DNS label limit)."
MSG_PATTERN = (
    "Store name must be lowercase, alphanumeric with hyphens, no consecutive hyphens, "
    "and cannot start or end with a hyphen."
)
MSG_RESERVED = "This store name is reserved and cannot be used."
MSG_PROFANITY = "Store name contains inappropriate language."

RESERVED_NAMES = frozenset(
    [
        "admin",
        "api",
        "www",
        "app",
        "mail",
        "smtp",
        "imap",
        "pop",
        "ftp",
        "ssh",
        "git",
        "svn",
        "test",
        "staging",
        "prod",
        "production",
        "dev",
        "development",
        "beta",
        "alpha",
        "demo",
        "preview",
        "internal",
        "status",
        "health",
        "metrics",
        "monitor",
        "logs",
        "audit",
        "kubernetes",
        "k8s",
        "kube",
        "helm",
        "docker",
        "registry",
        "postgres",
        "mysql",
        "redis",
        "mongo",
        "database",
        "db",
        "store",
        "stores",
        "default",
        "system",
        "root",
        "null",
        "undefined",
        "login",
        "register",
        "auth",
        "oauth",
        "sso",
        "cdn",
        "static",
        "assets",
        "public",
        "private",
        "config",
        "settings",
    ]
)
assert len(RESERVED_NAMES) == 60

# Matched against whole hyphen-separated words only, so `classic-shop` or `analytics-hub` are fine.
PROFANITY = frozenset(
    [
        "fuck",
        "shit",
        "ass",
        "damn",
        "bitch",
        "bastard",
        "dick",
        "cock",
        "pussy",
        "cunt",
        "whore",
        "slut",
        "nigger",
        "nigga",
        "faggot",
        "fag",
        "retard",
        "porn",
        "sex",
        "xxx",
        "anal",
        "rape",
        "pedo",
        "nazi",
        "hitler",
        "kill",
        "murder",
        "terrorist",
        "bomb",
        "drug",
        "crack",
        "meth",
        "heroin",
        "cocaine",
        "weed",
        "marijuana",
    ]
)


def store_name_error(name: str) -> tuple[str, str] | None:
    """(code, message) of the first rule the name breaks, or None when it is acceptable."""
    if len(name) < NAME_MIN:
        return "min_length", MSG_MIN
    if len(name) > NAME_MAX:
        return "max_length", MSG_MAX
    if not NAME_PATTERN.fullmatch(name):
        return "pattern", MSG_PATTERN
    if name in RESERVED_NAMES:
        return "reserved", MSG_RESERVED
    if "--" in name:
        return "pattern", MSG_PATTERN
    if any(word in PROFANITY for word in name.split("-")):
        return "profanity", MSG_PROFANITY
    return None
