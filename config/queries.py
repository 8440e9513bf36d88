"""Primary-key lookups on the hot path (every authenticated request loads its user; store pages load their store)
with the ORM's SQL built once per process: building it costs more CPU than sending it and reading the row."""

from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

M = TypeVar("M", bound=Model)


class PkLookup(Generic[M]):
    """`model.objects.defer(*deferred).get(pk=value)`, same row, same instance: the SQL comes from that queryset
    on first use, and rows come back through raw(), so field converters (the encrypted fields) run and the fields
    left out load on access, as with defer(). A value that cannot be a primary key is simply not found."""

    def __init__(self, model: type[M], *, deferred: tuple[str, ...] = ()) -> None:
        self.model = model
        self.deferred = deferred
        self._sql: dict[str, str] = {}  # per database alias; a lost race compiles the same text twice, harmlessly

    def get(self, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> M:
        pk = self.model._meta.pk
        try:
            param = pk.get_db_prep_value(value, connections[using])
        except (ValidationError, TypeError, ValueError):
            param = None
        if param is None:
            raise self.model.DoesNotExist(f"{self.model._meta.object_name} {value!r}: not a primary key")
        sql = self._sql.get(using)
        if sql is None:
            query = self.model._default_manager.defer(*self.deferred).filter(pk=value).query
            sql, params = query.get_compiler(using).as_sql()
            if list(params) != [param]:  # the text must take the key as its one parameter
                raise RuntimeError(f"unexpected parameters for {self.model.__name__} lookup: {params!r}")
            self._sql[using] = sql
        for row in self.model._default_manager.raw(sql, [param], using=using):
            return row
        raise self.model.DoesNotExist(f"{self.model._meta.object_name} {value!r} does not exist.")
