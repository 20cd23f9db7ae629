"""Service control (R8) and open ports through the REST API.

Here no node runs: a command stays queued (the node executes it when it
runs; tests/node/test_api_loopback.py restarts a running node's service).
"""

from __future__ import annotations

from ._checks import last_audit, refused
from ._support import ADMIN, NODE, Api


async def test_list_services_and_open_ports(api: Api) -> None:
    async with api.client() as client:
        r = await client.get("/services")
        assert r.status_code == 200, r.text
        services = {(s["node"], s["service_id"]): s for s in r.json()}
        assert set(services) == {(NODE, "callmanager"), (NODE, "tomcat"), (NODE, "tftp")}
        assert services[(NODE, "callmanager")]["service"] == "Cisco CallManager"
        assert (await client.get("/services", params={"node": NODE})).status_code == 200
        await refused(api, client, 404, "GET", "/services", params={"node": "nope"})
        r = await client.get("/open-ports")
        assert r.status_code == 200 and r.json() == []  # nothing runs


async def test_a_restart_is_queued_for_the_node(api: Api) -> None:
    async with api.client() as client:
        r = await client.post(f"/services/{NODE}/Cisco CallManager/restart")
        assert r.status_code == 202, r.text
        command = r.json()
        assert (command["node"], command["service_id"], command["action"]) == (
            NODE,
            "callmanager",
            "restart",
        )
        assert command["status"] == "pending" and command["requested_by"] == ADMIN
        assert r.headers["location"] == f"/api/v1/service-commands/{command['id']}"
        assert await last_audit(api.store) == [("restart", "service", f"{NODE}/callmanager")]
        r = await client.get(f"/service-commands/{command['id']}")
        assert r.status_code == 200 and r.json()["status"] == "pending"
        assert "not running" in r.json()["report"]
        await refused(api, client, 404, "GET", "/service-commands/999999")
        await refused(api, client, 404, "POST", "/services/nope/callmanager/start")
        await refused(api, client, 422, "POST", f"/services/{NODE}/sshd/start")
        await refused(api, client, 422, "POST", f"/services/{NODE}/callmanager/reload")
        r = await client.post(f"/services/{NODE}/Cisco TFTP/stop")
        assert r.status_code == 202 and r.json()["service_id"] == "tftp", r.text
