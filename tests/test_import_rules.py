"""The import rules of issue 17, read from the source with grimp (every import statement of every non-test,
non-migration module, at module level and inside functions):
- the top-level packages are layered core <- audit <- accounts <- stores <- provisioning <- backups <- config (an
  arrow reads "may be imported by"; config, the composition root, may import every app): a package imports only
  those before it;
- the graph between the top-level packages has no cycle;
- the domain (models, services, selectors of every app) never imports an app's api/ package or views;
- no setting of ours is a dotted path into the apps (an import hidden in a string), only those Django and its
  libraries ask for.
After each real check, a test proves the checker fails when the rule is broken again."""

from collections import defaultdict

import grimp
import pytest

LAYERS = ("core", "audit", "accounts", "stores", "provisioning", "backups", "config")
DOMAIN = ("models", "services", "selectors")
PRESENTATION = ("api", "views")


def is_checked(module: str) -> bool:
    """Tests and migrations are not app code: their imports do not count."""
    parts = module.split(".")
    return not any(p in ("tests", "migrations", "conftest") or p.startswith("test_") for p in parts)


def build_graph(packages=LAYERS):
    """The import graph of `packages` (importable from sys.path), without test and migration modules."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    for module in [m for m in graph.modules if not is_checked(m)]:
        graph.remove_module(module)
    return graph


def imports(graph) -> list[tuple[str, str]]:
    """Every (importer, imported) pair of modules."""
    return sorted((a, b) for a in graph.modules for b in graph.find_modules_directly_imported_by(a))


def package_edges(graph) -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the module imports behind it."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for importer, imported in imports(graph):
        a, b = importer.split(".")[0], imported.split(".")[0]
        if a != b:
            edges[(a, b)].append(f"{importer} -> {imported}")
    return edges


def layering_breaks(graph, layers=LAYERS) -> list[str]:
    """Imports of a package that comes later in `layers` (a lower layer reaching up)."""
    rank = {name: i for i, name in enumerate(layers)}
    return [
        f"{via} ({a} may not import {b})"
        for (a, b), vias in sorted(package_edges(graph).items())
        if rank[b] > rank[a]
        for via in vias
    ]


def cycles(graph) -> list[list[str]]:
    """Every elementary cycle between top-level packages, each as [a, b, ..., a] starting at its smallest name."""
    successors: dict[str, set[str]] = defaultdict(set)
    for a, b in package_edges(graph):
        successors[a].add(b)
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(successors[path[-1]]):
            if nxt == path[0]:
                found.add(tuple(path))
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest member
                walk([*path, nxt])

    for start in sorted(successors):
        walk([start])
    return [[*c, c[0]] for c in sorted(found)]


def presentation_imports_of_the_domain(graph) -> list[str]:
    """Imports by a models/services/selectors module of any package's api/ or views."""

    def second(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else ""

    return [
        f"{importer} -> {imported}"
        for importer, imported in imports(graph)
        if second(importer) in DOMAIN and second(imported) in PRESENTATION
    ]


# --- the rules, on the real source ---


@pytest.fixture(scope="module")
def real_graph():
    return build_graph()


def test_every_top_level_package_is_in_the_graph(real_graph):
    """A sanity check: the checker reads the real source, without tests and migrations."""
    assert {m.split(".")[0] for m in real_graph.modules} == set(LAYERS)
    assert "stores.services" in real_graph.modules and "stores.api.views" in real_graph.modules
    assert not [m for m in real_graph.modules if ".tests" in m or ".migrations" in m]


def test_each_package_imports_only_the_layers_below_it(real_graph):
    assert layering_breaks(real_graph) == []


def test_no_cycle_between_the_top_level_packages(real_graph):
    assert cycles(real_graph) == []


def test_the_domain_never_imports_an_api_package_or_views(real_graph):
    assert presentation_imports_of_the_domain(real_graph) == []


# --- the checker fails when a rule is broken ---


def write_tree(root, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_a_cycle_in_a_small_package_tree_is_found(tmp_path, monkeypatch):
    """Two packages, `layers_low` under `layers_high`; low imports high inside a function (the way cycles hide),
    and a test module's import of high is not counted."""
    write_tree(
        tmp_path,
        {
            "layers_low/__init__.py": "",
            "layers_low/base.py": "def helper():\n    from layers_high import top\n    return top\n",
            "layers_low/tests/__init__.py": "",
            "layers_low/tests/test_base.py": "import layers_high.top\n",
            "layers_high/__init__.py": "",
            "layers_high/top.py": "from layers_low.base import helper\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = build_graph(("layers_low", "layers_high"))
    assert cycles(graph) == [["layers_high", "layers_low", "layers_high"]]
    assert layering_breaks(graph, ("layers_low", "layers_high")) == [
        "layers_low.base -> layers_high.top (layers_low may not import layers_high)"
    ]
    assert "layers_low.tests.test_base" not in graph.modules

    (tmp_path / "layers_low/base.py").write_text("def helper():\n    return 1\n")  # the cycle broken
    graph = build_graph(("layers_low", "layers_high"))
    assert cycles(graph) == []
    assert layering_breaks(graph, ("layers_low", "layers_high")) == []


def test_the_real_graph_with_an_import_added_back_fails():
    """core.metrics importing stores.models again (the scrape-time collector of before) breaks the layering and
    closes cycles through core; a service importing its app's API views breaks the domain rule."""
    graph = build_graph()
    graph.add_import(importer="core.metrics", imported="stores.models")
    assert layering_breaks(graph) == ["core.metrics -> stores.models (core may not import stores)"]
    assert ["core", "stores", "core"] in cycles(graph)

    graph.add_import(importer="stores.services", imported="stores.api.views")
    assert presentation_imports_of_the_domain(graph) == ["stores.services -> stores.api.views"]


# --- no settings string stands in for an import ---

# Settings whose dotted paths Django and its libraries import themselves (they ask for a path, not an object).
LIBRARY_SETTINGS = frozenset(
    {
        "INSTALLED_APPS",
        "MIDDLEWARE",
        "ROOT_URLCONF",
        "WSGI_APPLICATION",
        "CSRF_FAILURE_VIEW",
        "AUTH_USER_MODEL",
        "PASSWORD_HASHERS",
        "CACHES",
        "LOGGING",
        "REST_FRAMEWORK",
        "SPECTACULAR_SETTINGS",
        "AXES_CLIENT_IP_CALLABLE",
        "AXES_USERNAME_CALLABLE",
        "AXES_LOCKOUT_CALLABLE",
        "CELERY_BEAT_SCHEDULE",  # Celery task names, sent by name
    }
)


def dotted_paths_into_the_apps(value) -> list[str]:
    """Every string inside `value` (nested lists, tuples, dicts) that names something in one of our packages."""
    if isinstance(value, str):
        return [value] if value.split(".")[0] in LAYERS and "." in value else []
    if isinstance(value, dict):
        return [p for v in value.values() for p in dotted_paths_into_the_apps(v)]
    if isinstance(value, list | tuple | set | frozenset):
        return [p for v in value for p in dotted_paths_into_the_apps(v)]
    return []


def settings_hooks(settings_module) -> list[str]:
    """Our own settings whose value is a dotted path into the apps: an import hidden in a string."""
    return [
        f"{name} = {path}"
        for name in dir(settings_module)
        if name.isupper() and name not in LIBRARY_SETTINGS
        for path in dotted_paths_into_the_apps(getattr(settings_module, name))
    ]


def test_no_setting_of_ours_is_a_dotted_path_into_the_apps():
    from config import settings as project_settings

    assert settings_hooks(project_settings) == []


def test_a_settings_hook_is_found():
    import types

    fake = types.SimpleNamespace(
        CIRCUIT_BREAKER_STATS="provisioning.breaker.all_stats",
        EXTRA_CHECKS={"kubernetes": ["provisioning.kubectl.health_check"]},
        MIDDLEWARE=["core.middleware.RequestIdMiddleware"],
        STORE_DOMAIN_SUFFIX=".localhost",
    )
    assert settings_hooks(fake) == [
        "CIRCUIT_BREAKER_STATS = provisioning.breaker.all_stats",
        "EXTRA_CHECKS = provisioning.kubectl.health_check",
    ]
