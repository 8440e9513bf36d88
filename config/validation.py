"""Request validation with the contract's (Joi-style) semantics: unknown keys ignored, every error reported,
strings never coerced from other types, and the original's messages."""

from typing import Any

from django.core.validators import MaxLengthValidator, MaxValueValidator, MinLengthValidator, MinValueValidator
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


_LIMIT_VALIDATORS = {
    MinLengthValidator: ("min_length", "min_length"),
    MaxLengthValidator: ("max_length", "max_length"),
    MinValueValidator: ("min_value", "min_value"),
    MaxValueValidator: ("max_value", "max_value"),
}


def _refresh_validator_messages(field: serializers.Field) -> None:
    """DRF bakes length/range messages into validators at construction; re-bake them with ours."""
    for validator in field.validators:
        spec = _LIMIT_VALIDATORS.get(type(validator))
        if spec:
            key, arg = spec
            validator.message = field.error_messages[key].format(**{arg: validator.limit_value})


class ContractSerializer(serializers.Serializer):
    """Fills in Joi's default messages ('"name" is required', ...) for every field that has no custom one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            label = f'"{name}"'
            defaults = {
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
                defaults["invalid"] = f"{label} must be a number"
            custom = field._kwargs.get("error_messages", {})  # DRF keeps constructor kwargs on every field
            for key, message in defaults.items():
                if key not in custom:
                    field.error_messages[key] = message
            _refresh_validator_messages(field)

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
