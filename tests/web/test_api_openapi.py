"""The OpenAPI document: stable operation ids, tags, security schemes, descriptions."""

from __future__ import annotations

from typing import Any

from ._support import Api

# Operation ids are the API's contract with generated clients: changing one is a
# breaking change, so this list changes only on purpose.
OPERATION_IDS = {
    "activate_user",
    "add_callmanager_group",
    "add_device",
    "add_edge",
    "add_mra_domain",
    "add_profile",
    "add_server",
    "add_user",
    "apply_device_config",
    "create_admin_token",
    "deactivate_user",
    "delete_callmanager_group",
    "delete_certificate",
    "delete_device",
    "delete_edge",
    "delete_mra_domain",
    "delete_profile",
    "delete_server",
    "delete_user",
    "deregister_license",
    "disable_sip_oauth_mode",
    "enable_sip_oauth_mode",
    "export_activation_codes",
    "find_devices",
    "generate_activation_code",
    "get_callmanager_group",
    "get_device",
    "get_edge",
    "get_mra_domain",
    "get_parameter",
    "get_profile",
    "get_server",
    "get_service_command",
    "get_user",
    "import_devices_csv",
    "license_status",
    "list_activation_codes",
    "list_audit",
    "list_callmanager_group_nodes",
    "list_callmanager_groups",
    "list_certificates",
    "list_edges",
    "list_mra_domains",
    "list_parameters",
    "list_profiles",
    "list_registrations",
    "list_servers",
    "list_services",
    "list_users",
    "open_ports",
    "push_edge_certificate",
    "regenerate_authz_key",
    "regenerate_tomcat_certificate",
    "register_license",
    "release_activation_code",
    "request_service",
    "reset_device",
    "reset_parameter",
    "revoke_admin_token",
    "set_export_controlled",
    "set_parameter",
    "set_server_ports",
    "set_user_password",
    "show_authz_key",
    "sip_oauth_mode_status",
    "update_callmanager_group",
    "update_device",
    "update_edge",
    "update_mra_domain",
    "update_profile",
    "upload_tomcat_certificate",
    "upload_trust_certificates",
}


async def _doc(api: Api) -> dict[str, Any]:
    async with api.client(auth=None) as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


async def test_operation_ids_are_stable_and_unique(api: Api) -> None:
    ids = [op["operationId"] for _, _, op in _operations(await _doc(api))]
    assert len(ids) == len(set(ids))
    assert set(ids) >= OPERATION_IDS, sorted(OPERATION_IDS - set(ids))


async def test_every_operation_is_tagged_secured_and_documents_its_errors(api: Api) -> None:
    doc = await _doc(api)
    assert doc["servers"] == [{"url": "/api/v1"}]
    assert doc["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    tags = {tag["name"] for tag in doc["tags"]}
    for method, path, op in _operations(doc):
        assert len(op["tags"]) == 1 and op["tags"][0] in tags, (method, path)
        assert op.get("summary") or op.get("description"), (method, path)
        if path == "/edges/push":
            assert op["security"] == []
        else:
            assert op["security"] == [{"basic": []}, {"bearer": []}], (method, path)
        for status in ("401", "404", "409", "422"):
            assert status in op["responses"], (method, path, status)
        schema = op["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}


async def test_every_model_field_is_described(api: Api) -> None:
    schemas = (await _doc(api))["components"]["schemas"]
    missing = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, spec in schema.get("properties", {}).items()
        if "description" not in spec
    ]
    assert missing == []


async def test_odd_paths_under_the_prefix_get_the_api_error_format(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/edges/a%0Ab")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = await client.get("/no%0Aroute")
        assert r.status_code == 404 and set(r.json()) == {"error", "message"}
