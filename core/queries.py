"""Primary-key reads on the hot path (every authenticated request loads its user; the API and the pages load a store
by id) with the ORM's SQL, column list and converters worked out once per process. The ORM still writes the SQL;
only its compiling and its row iterator are skipped, and rows become models through `Model.from_db` as the ORM's
own iterator does it.

Kept because it pays (bench/api, 2026-12-06): `User.objects.get(pk=...)` costs 600-650 us of CPU per call with
DEBUG off, this 230-320 us, on every authenticated request. Lists and the audit use the plain ORM (an index-ordered
page and a separate count); the compiled page with its total on every row (COUNT OVER ()) is gone: it made
PostgreSQL read all 10,000 stores for a page of 50 (14-16 ms of its CPU per request)."""

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
