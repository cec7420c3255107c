"""The Azure template (infra/main.bicep), parsed and held to the security rules it must keep.

No Bicep compiler installs offline, so the template is parsed with pycep-parser (syntax) and
the properties that matter to a security review are asserted on the parsed tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from exhibit.settings import variable_names

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "main.bicep"
UK = {"uksouth", "ukwest"}


@cache
def template() -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=TEMPLATE))


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by symbolic name, with loops unwrapped."""
    found = {}
    for name, resource in template()["resources"].items():
        if resource["type"] == kind:
            config = resource["config"]
            found[name] = config["config"] if "loop_type" in config else config
    return found


def one(kind: str) -> dict[str, Any]:
    (config,) = resources(kind).values()
    return config


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_the_template_parses_and_every_parameter_is_described_and_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parameters = template()["parameters"]
    assert parameters
    for name, parameter in parameters.items():
        kinds = {decorator["type"] for decorator in parameter["decorators"]}
        assert "description" in kinds, f"parameter {name} has no @description"
        assert f"`{name}`" in readme, f"parameter {name} is not in the README"


def test_storage_has_no_keys_no_public_access_tls_12_and_worm() -> None:
    (account,) = resources("Microsoft.Storage/storageAccounts").values()
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["allowCrossTenantReplication"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["immutableStorageWithVersioning"] == {"enabled": True}
    blob_service = one("Microsoft.Storage/storageAccounts/blobServices")["properties"]
    assert blob_service["isVersioningEnabled"] is True  # version-level WORM needs versions
    assert blob_service["deleteRetentionPolicy"]["enabled"] is True
    assert blob_service["containerDeleteRetentionPolicy"]["enabled"] is True
    containers = resources("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert {c["name"] for c in containers.values()} == {"evidence", "custody-checkpoints"}
    for container in containers.values():
        assert container["properties"]["publicAccess"] == "None"
        assert container["properties"]["immutableStorageWithVersioning"] == {"enabled": True}
    policies = resources(
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
    )
    parents = [p["parent"]["operator"]["operands"]["operand_1"] for p in policies.values()]
    assert set(parents) == {
        "evidenceContainers",
        "checkpointContainers",
    }
    for policy in policies.values():
        days = policy["properties"]["immutabilityPeriodSinceCreationInDays"]
        assert days == "retentionDays"


def test_every_role_assignment_is_justified_built_in_and_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    roles = template()["variables"]["roles"]["value"]
    assignments = resources("Microsoft.Authorization/roleAssignments")
    assert assignments
    used = set()
    for name, assignment in assignments.items():
        properties = assignment["properties"]
        assert len(properties.get("description", "")) > 30, f"{name} is not justified"
        assert properties["principalType"] == "ServicePrincipal"
        assert "identity" in str(properties["principalId"]), f"{name} is not for the identity"
        definition = properties["roleDefinitionId"]["function"]["parameters"]
        role = definition["resource_name_1"]["operator"]["operands"]["operand_2"]
        assert role in roles, f"{name} uses a role outside the table"
        used.add(role)
    assert used == set(roles), "a role in the table is never assigned"
    for role in roles:
        words = re.sub(r"(?<!^)(?=[A-Z])", " ", role).lower()
        assert words in readme.lower(), f"the README does not justify {words!r}"
    # No broad roles anywhere.
    assert not {"owner", "contributor", "userAccessAdministrator"} & set(roles)


def test_secrets_stay_in_key_vault_with_rbac_and_purge_protection() -> None:
    vault = one("Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True
    assert vault["enablePurgeProtection"] is True
    key = one("Microsoft.KeyVault/vaults/keys")["properties"]
    assert key["kty"] in {"EC", "EC-HSM"}
    assert key["curveName"] == "P-256"
    assert set(key["keyOps"]) == {"sign", "verify"}


def test_the_database_accepts_entra_identities_only() -> None:
    server = one("Microsoft.DBforPostgreSQL/flexibleServers")["properties"]
    assert server["authConfig"]["activeDirectoryAuth"] == "Enabled"
    assert server["authConfig"]["passwordAuth"] == "Disabled"
    assert server["backup"]["geoRedundantBackup"] == "Disabled"  # backups stay in the region


def test_the_service_has_two_replicas_and_the_worker_scales_on_the_queue() -> None:
    apps = resources("Microsoft.App/containerApps")
    service, worker = apps["service"], apps["worker"]
    assert service["properties"]["configuration"]["ingress"]["allowInsecure"] is False
    assert service["properties"]["template"]["scale"]["minReplicas"] == "serviceMinReplicas"
    minimum = template()["parameters"]["serviceMinReplicas"]
    assert {"type": "min_value", "argument": 2} in minimum["decorators"]
    (rule,) = worker["properties"]["template"]["scale"]["rules"]
    assert rule["custom"]["type"] == "azure-queue"
    assert "identity" in str(rule["custom"]["identity"])  # KEDA uses the managed identity
    assert "ingress" not in worker["properties"]["configuration"]
    for app in (service, worker):
        assert list(app["identity"]["userAssignedIdentities"]) == ["'${identity.id}'"]
        (container,) = app["properties"]["template"]["containers"]
        assert container["image"] == "image"


def test_the_bot_is_single_tenant_on_teams() -> None:
    bot = one("Microsoft.BotService/botServices")["properties"]
    assert bot["msaAppType"] == "SingleTenant"
    assert bot["disableLocalAuth"] is True
    channel = one("Microsoft.BotService/botServices/channels")
    assert channel["name"] == "MsTeamsChannel"


def test_locations_are_limited_to_the_uk() -> None:
    parameters = template()["parameters"]
    allowed = {d["type"]: d["argument"] for d in parameters["location"]["decorators"]}
    assert set(allowed["allowed"]) <= UK
    assert set(parameters["evidenceRegions"]["default"]) <= UK
    assert set(parameters["allowedLocations"]["default"]) <= UK | {"global"}
    policy = one("Microsoft.Authorization/policyAssignments")["properties"]
    assert policy["enforcementMode"] == "Default"
    assert "e56962a6-4747-49cd-b67b-bf8b01975c4c" in str(policy["policyDefinitionId"])
    assert policy["parameters"]["listOfAllowedLocations"]["value"] == "allowedLocations"


@pytest.mark.parametrize(
    "forbidden",
    [
        "AccountKey=",
        "SharedAccessSignature",
        "administratorLoginPassword",
        "clientSecret",
        "keys[0]",
    ],
)
def test_no_key_or_password_is_written_into_the_template(forbidden: str) -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert forbidden.lower() not in text.lower()


def test_every_setting_the_apps_get_is_one_exhibit_reads() -> None:
    known = variable_names() | {"AZURE_CLIENT_ID", "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    names = {
        node["name"]
        for node in walk(template())
        if isinstance(node, dict)
        and set(node) == {"name", "value"}
        and isinstance(node["name"], str)
        and re.match(r"[A-Z][A-Z_]+", node["name"])
    }
    assert "EXHIBIT_ENV" in names
    for name in names:
        if "${" in name:
            assert re.fullmatch(r"EXHIBIT_REGION_\$\{toUpper\(region\)\}_ACCOUNT_URL", name)
        else:
            assert name in known, f"{name} is not a setting Exhibit reads"


def test_migrations_run_in_a_job_of_their_own() -> None:
    job = one("Microsoft.App/jobs")
    assert job["properties"]["configuration"]["triggerType"] == "Manual"
    assert job["properties"]["configuration"]["manualTriggerConfig"]["parallelism"] == 1
    (container,) = job["properties"]["template"]["containers"]
    assert container["args"] == ["migrate"]
