"""The stores and audit routes of the contract (§1.4 #5-#11)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import PlatformError
from core.net import client_ip
from core.openapi import ERRORS
from stores import guardrails, selectors, services
from stores.api import schemas
from stores.api.serializers import (
    AuditQuery,
    LogsQuery,
    StoreCreateSerializer,
    StoreListQuery,
    StoreUpgradeSerializer,
    audit_entry,
    parse_query,
    store_lifecycle_representation,
    store_representation,
    validate_store_id,
)
from stores.exceptions import StoreConflict

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Same key from the same user within 24 h replays the original 202 instead of creating another store.",
)


class StoreListCreateView(APIView):
    @extend_schema(
        parameters=[StoreListQuery], responses={200: schemas.StoreListResponse, **ERRORS(400, 401)}, tags=["stores"]
    )
    def get(self, request: Request) -> Response:
        query = parse_query(StoreListQuery, request.query_params)
        stores, total = selectors.store_list(
            request.user,
            status=query.get("status"),
            engine=query.get("engine"),
            owner_id=query.get("ownerId"),
            limit=query["limit"],
            offset=query["offset"],
            rows=True,
        )
        return Response(
            {
                "stores": [store_representation(s, request.user) for s in stores],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )

    @extend_schema(
        request=StoreCreateSerializer,
        parameters=[IDEMPOTENCY_HEADER],
        responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 409, 413, 429)},
        tags=["stores"],
    )
    def post(self, request: Request) -> Response:
        data = StoreCreateSerializer.parse(request.data)
        key = request.headers.get("Idempotency-Key")
        user_id = str(request.user.pk)
        if key:
            key = key.strip()[:255]
            fingerprint = guardrails.request_fingerprint(data)
            record = guardrails.idempotency_begin(user_id, key, fingerprint)
            if record is not None:
                return _replay(record, fingerprint)
        try:
            store = services.store_create(owner=request.user, ip_address=client_ip(request), **data)
        except PlatformError:
            if key:
                guardrails.idempotency_abandon(user_id, key)
            raise
        body = {
            "requestId": request._request.request_id,
            "message": "Store creation initiated. Provisioning is in progress.",
            "store": store_representation(store, request.user),
        }
        if key:
            guardrails.idempotency_finish(user_id, key, fingerprint, 202, body)
        return Response(body, status=202)


def _replay(record: dict, fingerprint: str) -> Response:
    if record.get("state") != "done":
        raise StoreConflict(
            "A request with this Idempotency-Key is still being processed.",
            suggestion="Wait for the first request to finish, then retry.",
            retryable=True,
        )
    if record.get("fingerprint") != fingerprint:
        raise StoreConflict(
            "This Idempotency-Key was already used with a different request body.",
            suggestion="Use a new Idempotency-Key for a different request.",
        )
    return Response(record["body"], status=record["status"], headers={"Idempotent-Replayed": "true"})


class StoreDetailView(APIView):
    @extend_schema(responses={200: schemas.StoreResponse, **ERRORS(400, 401, 403, 404)}, tags=["stores"])
    def get(self, request: Request, store_id: str) -> Response:
        store = selectors.store_get_for_user(request.user, validate_store_id(store_id))
        return Response({"store": store_representation(store, request.user)})

    @extend_schema(responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 403, 404, 409)}, tags=["stores"])
    def delete(self, request: Request, store_id: str) -> Response:
        store = selectors.store_get_for_user(request.user, validate_store_id(store_id))
        store = services.store_request_deletion(store_id=store.id, actor=request.user, ip_address=client_ip(request))
        return Response(
            {"message": "Store deletion initiated.", "store": store_representation(store, request.user)}, status=202
        )


class StoreRetryView(APIView):
    @extend_schema(
        request=None, responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 403, 404, 409)}, tags=["stores"]
    )
    def post(self, request: Request, store_id: str) -> Response:
        store = selectors.store_get_for_user(request.user, validate_store_id(store_id))
        store = services.store_retry(store_id=store.id, actor=request.user, ip_address=client_ip(request))
        return Response(
            {
                "message": "Store retry initiated. Provisioning will restart.",
                "store": store_representation(store, request.user),
            },
            status=202,
        )


class StoreLogsView(APIView):
    @extend_schema(
        parameters=[LogsQuery],
        responses={200: schemas.StoreLogsResponse, **ERRORS(400, 401, 403, 404)},
        tags=["stores"],
    )
    def get(self, request: Request, store_id: str) -> Response:
        store = selectors.store_get_for_user(request.user, validate_store_id(store_id))
        query = parse_query(LogsQuery, request.query_params)
        events, total = selectors.store_audit(store, limit=query["limit"], offset=query["offset"], rows=True)
        return Response(
            {
                "storeId": store.id,
                "logs": [audit_entry(e, include_actor=False, include_store_name=False) for e in events],
                "total": total,
            }
        )


class AuditListView(APIView):
    @extend_schema(parameters=[AuditQuery], responses={200: schemas.AuditResponse, **ERRORS(400, 401)}, tags=["audit"])
    def get(self, request: Request) -> Response:
        query = parse_query(AuditQuery, request.query_params)
        events, total = selectors.audit_list(
            request.user,
            store_id=query.get("storeId"),
            event_type=query.get("eventType"),
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response(
            {
                "logs": [audit_entry(e, include_actor=True, include_store_name=True) for e in events],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )


class StoresUnknownView(APIView):
    """Any other path under /stores: authentication first (401), then 404, as the original's router did."""

    schema = None  # not an operation: left out of the OpenAPI document

    def _not_found(self, request: Request, *args, **kwargs) -> Response:
        from core.api import not_found_error

        return Response({"error": not_found_error(request)}, status=404)

    get = post = put = patch = delete = _not_found


# --- lifecycle: suspend, resume, upgrade (additions beside the contract, each its own route) ---------------------


def _own_store(request: Request, store_id: str):
    """The store if this user may act on it: another tenant's store is the contract's 403 `Access denied.`, as on
    the contract's own per-store routes, so a client sees one answer for one store whatever the route."""
    return selectors.store_get_for_user(request.user, validate_store_id(store_id))


def _lifecycle_action(request: Request, store_id: str, action, message: str, **kwargs) -> Response:
    store = _own_store(request, store_id)
    store = action(store_id=store.id, actor=request.user, ip_address=client_ip(request), **kwargs)
    return Response({"message": message, "store": store_representation(store, request.user)}, status=202)


class StoreSuspendView(APIView):
    @extend_schema(
        request=None, responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 403, 404, 409)}, tags=["stores"]
    )
    def post(self, request: Request, store_id: str) -> Response:
        return _lifecycle_action(
            request,
            store_id,
            services.store_request_suspend,
            "Store suspension initiated; its URL will show a closed page.",
        )


class StoreResumeView(APIView):
    @extend_schema(
        request=None, responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 403, 404, 409)}, tags=["stores"]
    )
    def post(self, request: Request, store_id: str) -> Response:
        return _lifecycle_action(request, store_id, services.store_request_resume, "Store resumption initiated.")


class StoreUpgradeView(APIView):
    @extend_schema(
        request=schemas.StoreUpgradeRequest,
        responses={202: schemas.StoreActionResponse, **ERRORS(400, 401, 404, 409)},
        tags=["stores"],
    )
    def post(self, request: Request, store_id: str) -> Response:
        store = _own_store(request, store_id)
        data = StoreUpgradeSerializer.parse(request.data)
        store = services.store_request_upgrade(
            store_id=store.id,
            actor=request.user,
            chart_version=data.get("chartVersion"),
            values=data.get("values"),
            ip_address=client_ip(request),
        )
        return Response(
            {
                "message": "Store upgrade initiated. It is rolled back automatically if the store does not serve.",
                "store": store_representation(store, request.user),
            },
            status=202,
        )


class StoreLifecycleView(APIView):
    @extend_schema(responses={200: schemas.StoreLifecycleResponse, **ERRORS(400, 401, 403, 404)}, tags=["stores"])
    def get(self, request: Request, store_id: str) -> Response:
        store = _own_store(request, store_id)
        return Response({"lifecycle": store_lifecycle_representation(store)})
