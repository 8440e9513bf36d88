"""Reads on the hot path (every authenticated request loads its user; the store pages and the API load a store or
a page of stores) with the ORM's SQL, column list and converters worked out once per process: working them out
costs more CPU than sending the query and reading the rows. The ORM still writes the SQL; only its compiling and
its row iterator are skipped, and rows become models through `Model.from_db` as the ORM's own iterator does it."""

import uuid
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
    params: list[tuple[str | None, Any]]  # (name of a call's value, or None for a constant of the SQL; constant)

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
        compiled = cls(sql, attnames, converters, sorted(compiler.annotation_col_map.items()), [])
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
    """`model.objects.defer(*deferred).get(pk=value)`, same row, same instance: field converters (the encrypted
    fields) run and the fields left out load on access, as with defer(). A value that cannot be a primary key is
    simply not found."""

    def __init__(self, model: type[M], *, deferred: tuple[str, ...] = ()) -> None:
        self.model = model
        self.deferred = deferred
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
            queryset = self.model._default_manager.defer(*self.deferred).filter(pk=value)
            compiled, params = _Compiled.of(queryset, using)
            if list(params) != [param]:  # the text must take the key as its one parameter
                raise RuntimeError(f"unexpected parameters for {self.model.__name__} lookup: {params!r}")
            self._compiled[using] = compiled
        found = compiled.instances(self.model, _run(compiled.sql, [param], using, many=False), using)
        if not found:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} {value!r} does not exist.")
        return found[0]


class PreparedQuery(Generic[M]):
    """A page of `build(**values)[offset:offset + limit]`, where `build` returns an unsliced queryset whose shape
    depends only on which values are given (each a str or a UUID; None counts as not given). Each shape is compiled
    once, from stand-in values whose places in the compiled parameters are where a call's values go; LIMIT and
    OFFSET are bound as parameters. Annotations land on the instances as with the ORM."""

    _STAND_IN_TYPES = (str, uuid.UUID)

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]]) -> None:
        self.model = model
        self.build = build
        self._compiled: dict[tuple, _Compiled] = {}  # per (alias, shape): the names and types of the values given

    def _compile(self, values: dict[str, Any], using: str) -> _Compiled:
        stand_ins = {}
        for name, value in values.items():
            if not isinstance(value, self._STAND_IN_TYPES):
                raise TypeError(f"{name}: a prepared query takes str or UUID values, not {type(value).__name__}")
            stand_ins[name] = uuid.uuid4() if isinstance(value, uuid.UUID) else f"\x00{name}:{uuid.uuid4().hex}\x00"
        compiled, params = _Compiled.of(self.build(**stand_ins), using)
        slots: list[tuple[str | None, Any]] = []
        for param in params:
            names = [name for name, stand_in in stand_ins.items() if param == stand_in]
            slots.append((names[0], None) if names else (None, param))
        if sorted(name for name, _ in slots if name) != sorted(stand_ins):  # each value bound exactly once
            raise RuntimeError(f"{self.model.__name__}: the values {sorted(stand_ins)} do not map onto {params!r}")
        return _Compiled(
            f"{compiled.sql} LIMIT %s OFFSET %s", compiled.attnames, compiled.converters, compiled.annotations, slots
        )

    def page(self, *, limit: int, offset: int, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[M]:
        given = {name: value for name, value in values.items() if value is not None}
        key = (using, *sorted((name, type(value).__name__) for name, value in given.items()))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(given, using)
        params = [given[name] if name else constant for name, constant in compiled.params]
        rows = _run(compiled.sql, [*params, int(limit), int(offset)], using, many=True)
        return compiled.instances(self.model, rows, using)
