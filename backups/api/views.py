"""POST and GET /api/v1/stores/{id}/backups: request a backup (202) and list a store's backups."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backups import restore_in_place, selectors, services
from backups.api.serializers import (
    BackupActionResponse,
    BackupListResponse,
    RestoreResponse,
    RestoreSerializer,
    ScheduleResponse,
    ScheduleSerializer,
    backup_representation,
    restore_representation,
    schedule_representation,
)
from backups.models import BackupSchedule
from core.net import client_ip
from core.openapi import ERRORS
from stores.api.serializers import validate_store_id


class StoreBackupsView(APIView):
    @extend_schema(responses={200: BackupListResponse, **ERRORS(400, 401, 403, 404)}, tags=["backups"])
    def get(self, request: Request, store_id: str) -> Response:
        store = selectors.store_for_backups(request.user, validate_store_id(store_id))
        backups = [backup_representation(b) for b in selectors.backups_of(store)]
        return Response({"backups": backups, "total": len(backups), **restore_representation(store)})

    @extend_schema(
        request=None, responses={202: BackupActionResponse, **ERRORS(400, 401, 403, 404, 409)}, tags=["backups"]
    )
    def post(self, request: Request, store_id: str) -> Response:
        store = selectors.store_for_backups(request.user, validate_store_id(store_id))
        backup = services.backup_request(store_id=store.id, actor=request.user, ip_address=client_ip(request))
        return Response(
            {"message": "Backup initiated.", "backup": backup_representation(backup)},
            status=202,
        )


class StoreBackupScheduleView(APIView):
    @extend_schema(responses={200: ScheduleResponse, **ERRORS(400, 401, 403, 404)}, tags=["backups"])
    def get(self, request: Request, store_id: str) -> Response:
        store = selectors.store_for_backups(request.user, validate_store_id(store_id))
        return Response(schedule_representation(BackupSchedule.objects.filter(store=store).first()))

    @extend_schema(
        request=ScheduleSerializer, responses={200: ScheduleResponse, **ERRORS(400, 401, 403, 404)}, tags=["backups"]
    )
    def put(self, request: Request, store_id: str) -> Response:
        store = selectors.store_for_backups(request.user, validate_store_id(store_id))
        data = ScheduleSerializer.parse(request.data)
        schedule = services.backup_schedule_set(
            store_id=store.id, actor=request.user, ip_address=client_ip(request), **data
        )
        return Response(schedule_representation(schedule))


class StoreRestoreView(APIView):
    """POST /stores/{id}/restore {backupId, confirm: true}: one of the store's backups loaded back into it (a backup
    of the store is taken first); 202 with the store's state (`restoring`) and the restore asked for."""

    @extend_schema(
        request=RestoreSerializer,
        responses={202: RestoreResponse, **ERRORS(400, 401, 403, 404, 409)},
        tags=["backups"],
    )
    def post(self, request: Request, store_id: str) -> Response:
        store = selectors.store_for_backups(request.user, validate_store_id(store_id))
        data = RestoreSerializer.parse(request.data)
        store = restore_in_place.store_restore_request(
            store_id=store.id, actor=request.user, ip_address=client_ip(request), **data
        )
        return Response({"message": "Store restore initiated.", **restore_representation(store)}, status=202)
