"""Secret redaction for everything provisioning logs, raises or stores: registered secret values (with their JSON
and base64 spellings, as helm echoes values and Secret manifests), values of --set-like and password-like flags,
and `password=...`-style pairs in free text, each replaced by ***."""

import base64
import json
import re
from collections.abc import Iterable, Sequence

MASK = "***"

# Flags whose following (or `=`-joined) value is always hidden: helm's --set family carries values inline.
_VALUE_FLAGS = {"--set", "--set-string", "--set-json", "--set-literal", "--set-file"}
# Words that make a flag or a key secret-ish; over-matching ("bypass") only hides more, which is safe.
_SECRET_WORD = r"(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|auth)"  # noqa: S105
_SECRET_FLAG = re.compile(rf"^--?[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)
_SECRET_KEY = re.compile(rf"^-{{0,2}}[\w.-]*{_SECRET_WORD}[\w.-]*$", re.IGNORECASE)
# Free text: `password=x`, `password: x`, `"password": "x"`, `--admin_password=x`, and bearer tokens.
# Keys start at a token boundary and are bounded in length: an unanchored `[\w.-]*` backtracks quadratically over
# long word runs (base64 blobs in tool output).
_TEXT_PAIR = re.compile(
    rf"(?<![\w.-])(?P<key>[\w.-]{{0,64}}?{_SECRET_WORD}[\w.-]{{0,64}}?)"
    r"""(?P<sep>"?\s*[:=]\s*"?)(?P<value>[^\s"',;&]+)""",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)


def _variants(secret: str) -> set[str]:
    """The spellings a secret takes in tool output: raw, JSON-escaped, base64 (Kubernetes Secret data)."""
    out = {secret, json.dumps(secret)[1:-1], base64.b64encode(secret.encode()).decode()}
    return {v for v in out if v}


def _secret_values(secrets: Iterable[str | None]) -> list[str]:
    values: set[str] = set()
    for secret in secrets:
        if secret:
            values |= _variants(str(secret))
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(values, key=len, reverse=True)


def redact_values(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every registered secret (in each spelling) replaced by ***; structure is kept, so JSON output
    stays parseable."""
    if not text:
        return text or ""
    for value in _secret_values(secrets):
        text = text.replace(value, MASK)
    return text


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every registered secret and every secret-ish key=value replaced by ***: for logs and errors."""
    text = redact_values(text, secrets)
    if not text:
        return text
    # Bearer first: "Authorization: Bearer x" would otherwise mask only the word "Bearer".
    text = _BEARER.sub(lambda m: f"{m['key']}{MASK}", text)
    return _TEXT_PAIR.sub(lambda m: f"{m['key']}{m['sep']}{MASK}" if m["value"] != MASK else m[0], text)


def _mask_assignments(value: str) -> str:
    """`a=1,b=2` -> `a=***,b=***`: the keys stay readable in logs, every value is hidden."""
    parts = []
    for part in value.split(","):
        key, sep, _ = part.partition("=")
        parts.append(f"{key}={MASK}" if sep else MASK)
    return ",".join(parts)


def redact_argv(argv: Sequence[str], secrets: Iterable[str | None] = ()) -> list[str]:
    """A copy of argv safe to log and store: registered secrets, --set values and secret-ish flag values masked."""
    values = _secret_values(secrets)
    out: list[str] = []
    hide_next: str | None = None
    for arg in map(str, argv):
        for value in values:
            arg = arg.replace(value, MASK)
        if hide_next is not None:
            out.append(_mask_assignments(arg) if hide_next in _VALUE_FLAGS else MASK)
            hide_next = None
            continue
        flag, eq, rest = arg.partition("=")
        if arg in _VALUE_FLAGS or (not eq and _SECRET_FLAG.match(arg)):
            hide_next = arg
            out.append(arg)
        elif eq and flag in _VALUE_FLAGS:
            out.append(f"{flag}={_mask_assignments(rest)}")
        elif eq and _SECRET_KEY.match(flag):
            out.append(f"{flag}={MASK}")
        else:
            out.append(arg)
    return out
