"""Validate Kubernetes objects strictly with kubernetes-validate's Python API (run as a subprocess, so the 1.20
check can use the legacy kubernetes-validate from PYTHONPATH). stdin: JSON list of objects; argv[1]: version.
stdout: JSON list of failures, each {"index", "kind", "name", "error"}; an unknown kind is a failure too.
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")  # the legacy release warns about pkg_resources on every call

import functools  # noqa: E402
from urllib.parse import unquote  # noqa: E402

import kubernetes_validate  # noqa: E402
from kubernetes_validate import utils  # noqa: E402


def _share_parsed_schemas() -> None:
    """Parse each schema file once per process instead of once per object (same checks, ~10x faster)."""
    if hasattr(utils, "schema_contents"):  # 1.25+: schemas are read through this function
        utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)
    else:  # <= 1.24: every call builds a RefResolver that re-reads _definitions.json; give them one shared store
        base = utils.jsonschema.RefResolver
        store: dict = {}

        class SharedStoreResolver(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.store.update(store)
                store.update(self.store)

            def resolve_from_url(self, url):
                result = super().resolve_from_url(url)
                store.update(self.store)
                return result

            def resolve_fragment(self, document, fragment):
                # The Kubernetes schemas only use JSON-pointer refs ("#/definitions/..."): walk the pointer directly
                # instead of jsonschema's scan of every subschema for a matching $id/$anchor first (the slow part).
                for part in [p for p in fragment.lstrip("/").split("/") if p]:
                    part = unquote(part).replace("~1", "/").replace("~0", "~")
                    document = document[int(part)] if isinstance(document, list) else document[part]
                return document

        utils.jsonschema.RefResolver = SharedStoreResolver


def main() -> None:
    version = sys.argv[1]
    _share_parsed_schemas()
    failures = []
    for i, obj in enumerate(json.load(sys.stdin)):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except Exception as e:  # SchemaNotFoundError (unknown kind) and ValidationError alike
            failures.append(
                {
                    "index": i,
                    "kind": obj.get("kind"),
                    "name": obj.get("metadata", {}).get("name"),
                    "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                }
            )
    json.dump({"module": kubernetes_validate.__file__, "failures": failures}, sys.stdout)


if __name__ == "__main__":
    main()
