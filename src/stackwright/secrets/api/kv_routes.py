"""KV v2 under one mount: config, data, metadata, delete, undelete, destroy."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stackwright.secrets.api.types import NO_CONTENT, ApiRequest, ApiResponse, Route
from stackwright.secrets.errors import InvalidRequestError, NotFoundError
from stackwright.secrets.kv2 import MetadataUpdate
from stackwright.secrets.store import Caller, SecretsStore
from stackwright.secrets.timeutil import parse_duration


def _mount(match: re.Match[str]) -> str:
    return match["mount"]


def _path(match: re.Match[str]) -> str:
    path = match["path"] or ""
    if not path.strip("/"):
        raise InvalidRequestError("missing secret path")
    return path


def _update_fields(req: ApiRequest) -> MetadataUpdate:
    max_versions = req.field("max_versions", int)
    if max_versions is not None and max_versions < 0:
        raise InvalidRequestError("max_versions cannot be negative")
    dva = req.body.get("delete_version_after")
    custom = req.field("custom_metadata", dict)
    return MetadataUpdate(
        max_versions=max_versions,
        cas_required=req.field("cas_required", bool),
        delete_version_after=None if dva is None else parse_duration(dva, "delete_version_after"),
        custom_metadata=custom,
    )


def _read_config(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(data=store.kv.read_config(_mount(m)).to_json())


def _write_config(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.write_config(_mount(m), _update_fields(req))
    return NO_CONTENT


def _read_data(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    raw = req.params.get("version", "0")
    if not raw.isdigit():
        raise InvalidRequestError("version must be a non-negative integer")
    secret = store.kv.read(_mount(m), _path(m), int(raw) or None)
    body = {"data": secret.data, "metadata": secret.metadata_json()}
    return ApiResponse(status=404 if secret.data is None else 200, data=body)


def _cas(req: ApiRequest) -> int | None:
    options = req.field("options", dict) or {}
    cas = options.get("cas")
    if cas is not None and (isinstance(cas, bool) or not isinstance(cas, int)):
        raise InvalidRequestError("options.cas must be an integer")
    return cas


def _write_data(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    data = req.field("data", dict)
    if data is None:
        raise InvalidRequestError("no data provided")
    secret = store.kv.write(_mount(m), _path(m), data, _cas(req))
    return ApiResponse(data=secret.metadata_json())


def _patch_data(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    patch = req.field("data", dict)
    if patch is None:
        raise InvalidRequestError("no data provided")
    current = store.kv.read(_mount(m), _path(m))
    if current.data is None:
        raise NotFoundError()
    merged = _merge_patch(current.data, patch)
    secret = store.kv.write(_mount(m), _path(m), merged, _cas(req))
    return ApiResponse(data=secret.metadata_json())


def _merge_patch(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch, as Vault's PATCH applies it."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def _delete_latest(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.delete_latest(_mount(m), _path(m))
    return NO_CONTENT


def _versions(req: ApiRequest) -> list[int]:
    versions = req.field("versions", list)
    if not versions:
        raise InvalidRequestError("no version number provided")
    return list(versions)


def _delete(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.delete_versions(_mount(m), _path(m), _versions(req))
    return NO_CONTENT


def _undelete(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.undelete(_mount(m), _path(m), _versions(req))
    return NO_CONTENT


def _destroy(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.destroy(_mount(m), _path(m), _versions(req))
    return NO_CONTENT


def _read_metadata(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    return ApiResponse(data=store.kv.read_metadata(_mount(m), _path(m)).to_json())


def _list(store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]) -> ApiResponse:
    return ApiResponse(data={"keys": store.kv.list(_mount(m), m["path"] or "")})


def _write_metadata(
    store: SecretsStore, req: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.write_metadata(_mount(m), _path(m), _update_fields(req))
    return NO_CONTENT


def _delete_metadata(
    store: SecretsStore, _r: ApiRequest, _c: Caller | None, m: re.Match[str]
) -> ApiResponse:
    store.kv.delete_metadata(_mount(m), _path(m))
    return NO_CONTENT


def _exists(store: SecretsStore, m: re.Match[str]) -> bool:
    return bool(m["path"]) and store.kv.exists(_mount(m), m["path"])


_INLINE = frozenset({"config", "data", "metadata"})  # their reads are local queries


def kv_routes(mount: str) -> list[Route]:
    def route(kind: str, *, existence: bool = False, **handlers: Any) -> Route:
        pattern = re.compile(rf"(?P<mount>{re.escape(mount)})/{kind}(?:/(?P<path>.*))?")
        exists = _exists if existence else None
        return Route(
            pattern, handlers, existence=exists, inline=kind in _INLINE, audit_at_commit=True
        )

    return [
        route("config", read=_read_config, update=_write_config),
        route(
            "data",
            existence=True,
            read=_read_data,
            update=_write_data,
            patch=_patch_data,
            delete=_delete_latest,
        ),
        route(
            "metadata",
            existence=True,
            read=_read_metadata,
            list=_list,
            update=_write_metadata,
            delete=_delete_metadata,
        ),
        route("delete", update=_delete),
        route("undelete", update=_undelete),
        route("destroy", update=_destroy),
    ]
