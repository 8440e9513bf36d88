"""Response shapes of the stores and audit routes, for the OpenAPI document (the views build plain dicts)."""

from rest_framework import serializers


class Urls(serializers.Serializer):
    storefront = serializers.CharField(allow_null=True)
    admin = serializers.CharField(allow_null=True)


class AdminCredentials(serializers.Serializer):
    email = serializers.CharField(allow_null=True, required=False)
    username = serializers.CharField(allow_null=True, required=False)
    password = serializers.CharField(allow_null=True, required=False)


class StoreSchema(serializers.Serializer):
    id = serializers.RegexField(r"^store-[a-f0-9]{8}$")
    name = serializers.CharField()
    engine = serializers.ChoiceField(choices=["woocommerce", "medusa"])
    status = serializers.ChoiceField(choices=["requested", "provisioning", "ready", "failed", "deleting", "deleted"])
    theme = serializers.CharField(allow_null=True)
    urls = Urls()
    namespace = serializers.CharField()
    adminCredentials = AdminCredentials(allow_null=True)
    isCredentialOwner = serializers.BooleanField()
    failureReason = serializers.CharField(allow_null=True)
    retryCount = serializers.IntegerField()
    provisioningDurationMs = serializers.IntegerField(allow_null=True)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()


class StoreResponse(serializers.Serializer):
    requestId = serializers.CharField()
    store = StoreSchema()


class StoreActionResponse(StoreResponse):
    message = serializers.CharField()


class StoreListResponse(serializers.Serializer):
    requestId = serializers.CharField()
    stores = StoreSchema(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class AuditEntrySchema(serializers.Serializer):
    id = serializers.CharField()
    storeId = serializers.CharField(allow_null=True)
    eventType = serializers.CharField()
    previousStatus = serializers.CharField(allow_null=True)
    newStatus = serializers.CharField(allow_null=True)
    message = serializers.CharField(allow_null=True)
    metadata = serializers.DictField()
    ipAddress = serializers.CharField(allow_null=True)
    userEmail = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()


class GlobalAuditEntrySchema(AuditEntrySchema):
    storeName = serializers.CharField(allow_null=True)


class StoreLogsResponse(serializers.Serializer):
    requestId = serializers.CharField()
    storeId = serializers.CharField()
    logs = AuditEntrySchema(many=True)
    total = serializers.IntegerField()


class AuditResponse(serializers.Serializer):
    requestId = serializers.CharField()
    logs = GlobalAuditEntrySchema(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class StoreUpgradeRequest(serializers.Serializer):
    chartVersion = serializers.CharField(required=False)  # noqa: N815
    values = serializers.DictField(
        required=False, help_text="Only {<workload>: {image: {tag}}} for the store engine's workloads."
    )


class StoreLifecycleSchema(serializers.Serializer):
    storeId = serializers.CharField()  # noqa: N815
    state = serializers.CharField(help_text="The precise state, lifecycle states included (suspended, upgrading...)")
    status = serializers.ChoiceField(
        choices=["requested", "provisioning", "ready", "failed", "deleting", "deleted"],
        help_text="The contract's status the store reads as",
    )
    chartVersion = serializers.CharField(allow_null=True)  # noqa: N815
    chartValues = serializers.DictField()  # noqa: N815
    pendingUpgrade = serializers.DictField(allow_null=True)  # noqa: N815
    lastUpgrade = serializers.DictField(allow_null=True)  # noqa: N815
    suspendedAt = serializers.DateTimeField(allow_null=True)  # noqa: N815


class StoreLifecycleResponse(serializers.Serializer):
    requestId = serializers.CharField()  # noqa: N815
    lifecycle = StoreLifecycleSchema()
