"""GetModelStatus and GetModelMetadata replies, shared by gRPC and REST (which prints them as JSON)."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from .manager import Version


def status_response(versions: list[Version]) -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    for version in versions:
        entry = response.model_version_status.add(version=version.number, state=version.state)
        entry.status.SetInParent()  # printed as {"error_code": "OK", "error_message": ""} when fine
        if version.error is not None:
            entry.status.error_code = version.error.error_code_number
            entry.status.error_message = version.error.message
    return response


def metadata_response(version: Version) -> get_model_metadata_pb2.GetModelMetadataResponse:
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = version.model
    response.model_spec.version.value = version.number
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in version.loaded.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    response.metadata["signature_def"].Pack(signature_map)
    return response


def to_json_dict(message: Any) -> dict[str, Any]:
    """protobuf's JSON printing with TF Serving's options (field names as in the .proto, defaults shown)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_json(version: Version) -> dict[str, Any]:
    """The REST metadata reply: the Any is printed as its SignatureDefMap, with no "@type"."""
    response = metadata_response(version)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    return {"model_spec": {"name": version.model, "signature_name": "", "version": str(version.number)},
            "metadata": {"signature_def": to_json_dict(signature_map)}}
