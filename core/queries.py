"""The API's hot reads with the ORM's SQL, column list and converters worked out once per process instead of on
every request. The ORM still writes the SQL; only its building, compiling and row iterator are skipped.

- PkLookup: primary-key reads (every authenticated request loads its user; the API and the pages load a store by
  id); rows become models through `Model.from_db` as the ORM's own iterator does it. Kept because it pays (bench/api,
  2026-12-06): `User.objects.get(pk=...)` costs 600-650 us of CPU per call with DEBUG off, this 230-320 us.
- RowsPage: the store list's and the audit's pages, per shape of their filters: the same plain SQL the ORM writes
  (an index-ordered page, and a separate COUNT only when the page does not show the total). Kept because it pays
  (bench/api, 2026-12-07, in process): a store list 3.8 -> 2.5 ms of CPU, the audit 6.6 -> 4.9 ms. The earlier
  compiled page with its total on every row (COUNT OVER ()) is gone: it made PostgreSQL read all 10,000 stores for a
  page of 50 (14-16 ms of its CPU per request)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    attnames: list[str]  # the model's selected fields, in its field order (what Model.from_db expects)
    converters: list[tuple[int, tuple[list[Callable], Any]]]  # (column, (converters, expression)) as the ORM has them
    annotations: list[tuple[str, int]]  # (name, column)

    @classmethod
    def of(cls, queryset: QuerySet, using: str) -> tuple["_Compiled", tuple]:
        model = queryset.model
        if queryset._iterable_class is not ModelIterable:  # values() and friends: rows, not models
            raise RuntimeError(f"{model.__name__}: only a queryset of model instances can be prepared")
        if queryset.query.is_sliced or queryset._prefetch_related_lookups or queryset.query.select_related:
            raise RuntimeError(f"{model.__name__}: only an unsliced queryset of one model can be prepared")
        compiler = queryset.query.get_compiler(using)
        sql, params = compiler.as_sql()
        columns = [column for column, _, _ in compiler.select]
        model_columns = compiler.klass_info["select_fields"]
        attnames = [column.target.attname for column in columns[: len(model_columns)]]
        in_model_order = [f.attname for f in model._meta.concrete_fields if f.attname in attnames]
        if (
            model_columns != list(range(len(model_columns)))  # the model's columns first, then the annotations
            or len(columns) != len(model_columns) + len(compiler.annotation_col_map)
            or attnames != in_model_order
            or any(column.target.model is not model for column in columns[: len(model_columns)])
        ):
            raise RuntimeError(f"unexpected columns for a prepared {model.__name__} read: {attnames!r}")
        converters = list(compiler.get_converters(columns).items())
        compiled = cls(sql, attnames, converters, sorted(compiler.annotation_col_map.items()))
        return compiled, params

    def instances(self, model: type[M], rows: list[tuple], using: str) -> list[M]:
        connection = connections[using]
        width = len(self.attnames)
        found = []
        for row in rows:
            if self.converters:
                row = list(row)
                for index, (converters, expression) in self.converters:
                    converted = row[index]
                    for convert in converters:
                        converted = convert(converted, expression, connection)
                    row[index] = converted
            instance = model.from_db(using, self.attnames, row[:width] if self.annotations else row)
            for name, index in self.annotations:
                setattr(instance, name, row[index])
            found.append(instance)
        return found


def _run(sql: str, params: list[Any], using: str, *, many: bool) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        if many:
            return cursor.fetchall()
        row = cursor.fetchone()
        return [] if row is None else [row]


class PkLookup(Generic[M]):
    """`model.objects.defer(*deferred).annotate(**annotations).get(pk=value)`, same row, same instance: field
    converters (the encrypted fields) run, the fields left out load on access as with defer(), and annotations land
    on the instance as with the ORM. A value that cannot be a primary key is simply not found."""

    def __init__(self, model: type[M], *, deferred: tuple[str, ...] = (), annotations: dict | None = None) -> None:
        self.model = model
        self.deferred = deferred
        self.annotations = annotations or {}
        self._compiled: dict[str, _Compiled] = {}  # per alias; a lost race compiles the same thing twice, harmlessly

    def get(self, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> M:
        try:
            param = self.model._meta.pk.get_db_prep_value(value, connections[using])
        except (ValidationError, TypeError, ValueError):
            param = None
        if param is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} {value!r}: not a primary key")
        compiled = self._compiled.get(using)
        if compiled is None:
            queryset = self.model._default_manager.defer(*self.deferred).annotate(**self.annotations)
            queryset = queryset.filter(pk=value)
            compiled, params = _Compiled.of(queryset, using)
            if list(params) != [param]:  # the text must take the key as its one parameter
                raise RuntimeError(f"unexpected parameters for {self.model.__name__} lookup: {params!r}")
            self._compiled[using] = compiled
        found = compiled.instances(self.model, _run(compiled.sql, [param], using, many=False), using)
        if not found:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} {value!r} does not exist.")
        return found[0]


@dataclass(frozen=True)
class _PageSql:
    rows: str  # the ordered rows, unsliced: LIMIT and OFFSET are appended as parameters
    count: str  # COUNT(*) over the same filter, unordered
    params: tuple  # the compiled parameters, a sentinel where a call's value goes
    slots: tuple[tuple[int, str], ...]  # (position in params, argument name)
    names: tuple[str, ...]
    converters: list[tuple[int, tuple[list[Callable], Any]]]


class RowsPage:
    """A page of rows (a `values()` queryset) and its total, compiled once per shape of the query instead of on
    every request: `build(*shape, **arguments)` returns (ordered rows, counted queryset) as the plain ORM would run
    them; `page(shape, arguments, ...)` runs that shape's SQL with these arguments' values. `shape` holds what
    changes the SQL's text beyond which arguments are given (a fixed choice such as a status, from a small set);
    each argument is one parameter. The ORM still writes the SQL, and its converters run on each row.

    Kept because it pays (bench/api, 2026-12-07): building and compiling a list's two querysets was about 40% of a
    store list's CPU in process. It is compiled with a sentinel value for each argument, which must appear exactly
    once among the parameters, in the same places for the rows and the count (RuntimeError otherwise: every shape
    the API can ask for is compiled by its tests)."""

    def __init__(self, build: Callable[..., tuple[QuerySet, QuerySet]], sentinels: dict[str, Any]) -> None:
        self.build = build
        self.sentinels = sentinels
        self._compiled: dict[tuple, _PageSql] = {}

    def _compile(self, shape: tuple, names: tuple[str, ...], using: str) -> _PageSql:
        ordered, counted = self.build(*shape, **{name: self.sentinels[name] for name in names})
        if ordered.query.is_sliced or not (ordered.query.values_select or ordered.query.annotation_select):
            raise RuntimeError("RowsPage: an unsliced values() queryset is needed")
        compiler = ordered.query.get_compiler(using)
        sql, params = compiler.as_sql()
        count_sql, count_params = counted.order_by().values("pk").query.get_compiler(using).as_sql()
        slots = _slots(params, names, self.sentinels)
        if _slots(count_params, names, self.sentinels) != slots or list(count_params) != list(params):
            raise RuntimeError("RowsPage: the count and the rows must take the same parameters in one order")
        query = ordered.query
        columns = [column for column, _, _ in compiler.select]
        return _PageSql(
            rows=sql + " LIMIT %s OFFSET %s",
            count=f"SELECT COUNT(*) FROM ({count_sql}) AS counted",  # noqa: S608  (the ORM's SQL; values are parameters)
            params=tuple(params),
            slots=slots,
            names=(*query.extra_select, *query.values_select, *query.annotation_select),
            converters=list(compiler.get_converters(columns).items()),
        )

    def page(
        self, shape: tuple, arguments: dict[str, Any], *, limit: int, offset: int, using: str = DEFAULT_DB_ALIAS
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows offset..offset+limit and the total (total_shown, else a COUNT)."""
        names = tuple(sorted(arguments))
        key = (using, shape, names)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(shape, names, using)
        params = list(compiled.params)
        for position, name in compiled.slots:
            params[position] = arguments[name]
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(compiled.rows, [*params, limit, offset])
            found = cursor.fetchall()
            rows = []
            for row in found:
                if compiled.converters:
                    row = list(row)
                    for index, (converters, expression) in compiled.converters:
                        for convert in converters:
                            row[index] = convert(row[index], expression, connection)
                rows.append(dict(zip(compiled.names, row, strict=True)))
            shown = total_shown(len(rows), limit=limit, offset=offset)
            if shown is not None:
                return rows, shown
            cursor.execute(compiled.count, params)
            return rows, cursor.fetchone()[0]


def total_shown(found: int, *, limit: int, offset: int) -> int | None:
    """A page that is short but not empty ends the list: its total is offset + its length, no COUNT needed. None
    for a full page, or none past the end (the COUNT says)."""
    return offset + found if 0 < found < limit else None


def _slots(params: Any, names: tuple[str, ...], sentinels: dict[str, Any]) -> tuple[tuple[int, str], ...]:
    """Where each argument's sentinel sits in `params`: exactly once each, and no other parameter equal to one."""
    slots = []
    for name in names:
        found = [i for i, p in enumerate(params) if p == sentinels[name]]
        if len(found) != 1:
            raise RuntimeError(f"RowsPage: the sentinel of {name!r} is at {found!r} among the parameters")
        slots.append((found[0], name))
    return tuple(sorted(slots))
