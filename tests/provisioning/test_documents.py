"""The configuration documents (issue 5 point 3; REFERENCE-BEHAVIOUR "Configuration
files"): every element the reference carries, in the published schema."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipoauth.provisioning import (
    CallManager,
    DefaultDocument,
    DeviceDocument,
    EdgeAddress,
    Line,
    MraSettings,
    OAuthSettings,
    TrustSummary,
    render_default,
    render_device,
)

from ._schema import validate

NODES = (
    CallManager("cm1", "cm1.example.com", 5060, 5061, 5090, 5091, 6971),
    CallManager("cm2", "10.0.0.2", 5070, 5071, 5190, 5191, 7971),
)
OAUTH = OAuthSettings(
    True,
    "https://cm1.example.com:8443",
    "https://cm1.example.com:8443/oauth/token",
    "https://cm1.example.com:8443/oauth/authorize",
)
TRUST = TrustSummary("ab" * 32, 2)
MRA = MraSettings(
    service_domain="Corp",
    domains=("collab.example.com",),
    edges=(EdgeAddress("edge1.example.com", 5061, 8443), EdgeAddress("192.0.2.7", 5062, 9443)),
    allow_activation_code=True,
)
PHONE = DeviceDocument(
    name="SEP001122334455",
    model="8845",
    device_type="desk",
    description="Reception",
    owner=None,
    config_version=3,
    security_profile="OAuth 8845",
    security_mode="encrypted",
    transport="TLS",
    oauth=OAUTH,
    sip_oauth_mode=True,
    group_name="Default",
    call_managers=NODES,
    lines=(Line(1, "1001"), Line(2, "1002")),
    trust=TRUST,
    mra=None,
)


def _texts(root: object, path: str) -> list[str]:
    return [e.text or "" for e in root.findall(path)]  # type: ignore[attr-defined]


def test_device_file_lists_each_node_with_the_four_sip_ports_in_order() -> None:
    """REFERENCE-BEHAVIOUR: per node, <callManager><ports> has sipPort, securedSipPort,
    sipOAuthPort and sipMRAOAuthPort; the group is the device's node list, in order."""
    root = validate(render_device(PHONE))
    members = root.findall("devicePool/callManagerGroup/members/member")
    assert [m.get("priority") for m in members] == ["0", "1"]
    assert _texts(root, "devicePool/callManagerGroup/members/member/callManager/name") == [
        "cm1",
        "cm2",
    ]
    ports = root.findall("devicePool/callManagerGroup/members/member/callManager/ports")
    assert [[p.text for p in port] for port in ports] == [
        ["5060", "5061", "5090", "5091"],
        ["5070", "5071", "5190", "5191"],
    ]
    assert [p.tag for p in ports[0]] == [
        "sipPort",
        "securedSipPort",
        "sipOAuthPort",
        "sipMRAOAuthPort",
    ]
    assert _texts(root, "configServers/configServer/securePort") == ["6971", "7971"]


def test_device_file_carries_mode_security_lines_version_and_trust_hash() -> None:
    root = validate(render_device(PHONE))
    assert root.findtext("sipOAuthMode") == "1"
    assert root.findtext("name") == "SEP001122334455"
    assert root.findtext("model") == "8845"
    assert root.findtext("configVersion") == "3"
    assert root.findtext("accessMode") == "on-premises"
    assert root.findtext("security/deviceSecurityMode") == "encrypted"
    assert root.findtext("security/transportLayerProtocol") == "TLS"
    assert root.findtext("oauth/enabled") == "true"
    assert root.findtext("oauth/tokenEndpoint") == OAUTH.token_endpoint
    assert _texts(root, "sipProfile/sipLines/line/name") == ["1001", "1002"]
    assert root.findtext("phoneEdgeTrust/sha256") == "ab" * 32
    assert root.find("mra") is None


def test_mode_off_is_zero() -> None:
    root = validate(render_device(dataclasses.replace(PHONE, sip_oauth_mode=False)))
    assert root.findtext("sipOAuthMode") == "0"


def test_phone_set_up_for_mra_names_its_edges_and_service_domain() -> None:
    """Issue 5 point 3: the edge address and MRA service domain for phones set up for MRA."""
    root = validate(render_device(dataclasses.replace(PHONE, mra=MRA)))
    assert root.findtext("mra/allowActivationCode") == "true"
    assert root.find("mra/serviceDomain").get("name") == "Corp"  # type: ignore[union-attr]
    assert _texts(root, "mra/serviceDomain/domain") == ["collab.example.com"]
    assert _texts(root, "mra/edges/edge/host") == ["edge1.example.com", "192.0.2.7"]
    # On premises, the group still lists the nodes.
    assert _texts(root, "devicePool/callManagerGroup/members/member/callManager/name") == [
        "cm1",
        "cm2",
    ]


def test_mra_variant_lists_the_edges_instead_of_the_nodes() -> None:
    """Issue 5 point 4: edge addresses instead of node addresses, and no node's
    address or config port appears anywhere in the file."""
    body = render_device(dataclasses.replace(PHONE, mra=MRA), "mra")
    root = validate(body)
    assert root.findtext("accessMode") == "mra"
    names = _texts(root, "devicePool/callManagerGroup/members/member/callManager/processNodeName")
    assert names == ["edge1.example.com", "192.0.2.7"]
    ports = root.findall("devicePool/callManagerGroup/members/member/callManager/ports")
    assert [p.findtext("sipOAuthPort") for p in ports] == ["5061", "5062"]
    assert [p.findtext("sipPort") for p in ports] == ["0", "0"]
    assert root.find("configServers") is None
    # The authorization server through the first edge; only the issuer (which
    # tokens name) still says the node's name.
    assert root.findtext("oauth/tokenEndpoint") == "https://edge1.example.com:8443/oauth/token"
    assert root.findtext("oauth/authorizationEndpoint") == (
        "https://edge1.example.com:8443/oauth/authorize"
    )
    assert body.count(b"cm1.example.com") == 1
    assert root.findtext("oauth/issuer") == OAUTH.issuer
    assert b"10.0.0.2" not in body


def test_mra_variant_of_a_device_not_set_up_for_mra_is_refused() -> None:
    with pytest.raises(ValueError, match="no MRA variant"):
        render_device(PHONE, "mra")
    with pytest.raises(ValueError, match="no MRA variant"):
        render_device(dataclasses.replace(PHONE, mra=dataclasses.replace(MRA, edges=())), "mra")


def test_soft_client_file_names_its_owner() -> None:
    soft = dataclasses.replace(
        PHONE,
        name="CSFalice",
        model="CSF",
        device_type="soft",
        owner="alice",
        security_profile=None,
    )
    root = validate(render_device(soft))
    assert root.findtext("userId") == "alice"
    assert root.find("security/profile") is None


def test_default_file_says_where_secure_port_and_authorization_server_are() -> None:
    """Issue 5 point 1: the default file for unknown devices, and nothing about devices."""
    doc = DefaultDocument(True, "Default", NODES, OAUTH, TRUST)
    root = validate(render_default(doc))
    assert root.tag == "Default"
    assert root.findtext("oauth/issuer") == OAUTH.issuer
    assert _texts(root, "configServers/configServer/host") == ["cm1.example.com", "10.0.0.2"]
    assert _texts(root, "configServers/configServer/securePort") == ["6971", "7971"]
    assert root.findtext("sipOAuthMode") == "1"


def test_schema_rejects_a_file_missing_a_port() -> None:
    """The schema test can fail: a file without sipOAuthPort is invalid."""
    body = render_device(PHONE).replace(b"<sipOAuthPort>5090</sipOAuthPort>", b"")
    with pytest.raises(AssertionError, match="sipOAuthPort"):
        validate(body)


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=40
).filter(lambda s: s.strip() and s == s.strip())


@settings(max_examples=150, deadline=None)
@given(description=st.text(max_size=60), dn=_TEXT, owner=_TEXT, group=_TEXT)
def test_any_text_gives_a_well_formed_valid_file(
    description: str, dn: str, owner: str, group: str
) -> None:
    """Text the admin rules let through (or not) never breaks the XML: markup is
    escaped and characters XML cannot carry are dropped."""
    doc = dataclasses.replace(
        PHONE, description=description, owner=owner, group_name=group, lines=(Line(1, dn),)
    )
    root = validate(render_device(doc))
    assert root.findtext("sipProfile/sipLines/line/name") is not None
