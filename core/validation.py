"""Request validation with the contract's (Joi-style) semantics: unknown keys ignored, every error reported,
strings never coerced from other types, and the original's messages."""

from typing import Any

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers, booleans and objects instead of silently converting them."""

    default_error_messages = {"not_a_string": "{label} must be a string"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string", label=f'"{self.field_name}"')
        return super().to_internal_value(data)


def _joi_messages(name: str, field: serializers.Field) -> dict[str, str]:
    label = f'"{name}"'
    messages = {
        "required": f"{label} is required",
        "null": f"{label} must be a string",
        "blank": f"{label} is not allowed to be empty",
        "not_a_string": f"{label} must be a string",
        "invalid": f"{label} must be a valid value",
        "invalid_choice": f"{label} must be one of [{', '.join(map(str, getattr(field, 'choices', {})))}]",
        "max_length": f"{label} length must be less than or equal to {{max_length}} characters long",
        "min_length": f"{label} length must be at least {{min_length}} characters long",
        "max_value": f"{label} must be less than or equal to {{max_value}}",
        "min_value": f"{label} must be greater than or equal to {{min_value}}",
    }
    if isinstance(field, serializers.IntegerField):
        messages["invalid"] = f"{label} must be a number"
    return messages


class ContractSerializer(serializers.Serializer):
    """Fills in Joi's default messages ('"name" is required', ...) for every field that has no custom one.

    Done once per class, in the fields' constructor arguments: DRF rebuilds every field from those arguments for
    each serializer it creates (each request), so the messages, and the length and range validators DRF builds
    from them, come out right with no work per request."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, field in list(cls._declared_fields.items()):
            custom = field._kwargs.get("error_messages", {})  # DRF keeps constructor kwargs on every field
            rebuilt = type(field)(
                *field._args, **{**field._kwargs, "error_messages": {**_joi_messages(name, field), **custom}}
            )
            cls._declared_fields[name] = rebuilt

    @classmethod
    def parse(cls, data: Any, **kwargs: Any) -> dict[str, Any]:
        """Validate and return the cleaned data, raising DRF's ValidationError (-> 400 envelope) otherwise."""
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"body": [serializers.ErrorDetail('"value" must be of type object', "invalid")]}
            )
        serializer = cls(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)
