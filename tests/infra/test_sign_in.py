"""Entra ID sign-in (App Service Authentication) for the dashboard pages: off by default; with an app
registration's client ID, browsers must sign in everywhere except the paths machines call with a
function key, and no client secret exists anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.infra.bicep_eval import BicepFile, Opaque, module_file

INFRA = Path(__file__).resolve().parents[2] / "infra"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
ASSERTION_SETTING = "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"
MACHINE_PATHS = ("/api/v1/traces", "/api/feedback")


def main_bicep(**params: Any) -> BicepFile:
    return BicepFile(INFRA / "main.bicep", {"environmentName": "dev", **params})


def function_app(**params: Any) -> BicepFile:
    return module_file(INFRA / "modules" / "function-app.bicep", identityId="/ids/app", **params)


def signed_in_app() -> BicepFile:
    """The Function App module with the parameters main.bicep passes when sign-in is on."""
    passed = main_bicep(entraSignInClientId=CLIENT_ID).body("modules", "functionApp")["params"]
    sign_in = {key: value for key, value in passed.items() if key.startswith("signIn")}
    sign_in |= {"signInIdentityId": "/ids/sign-in", "signInIdentityClientId": "sign-in-client-id"}
    return function_app(**sign_in)


def test_sign_in_is_off_by_default() -> None:
    bicep = main_bicep()
    assert bicep.lookup("entraSignInClientId") == ""
    assert not bicep.deployed("modules", "signInIdentity")
    passed = bicep.body("modules", "functionApp")["params"]
    app = function_app(signInClientId=passed["signInClientId"])
    assert not app.deployed("resources", "authSettings")
    site = app.body("resources", "app")
    assert site["identity"]["userAssignedIdentities"] == {"/ids/app": {}}
    names = {entry["name"] for entry in site["properties"]["siteConfig"]["appSettings"]}
    assert ASSERTION_SETTING not in names


def test_client_id_turns_sign_in_on_with_its_own_identity() -> None:
    bicep = main_bicep(entraSignInClientId=CLIENT_ID)
    assert bicep.deployed("modules", "signInIdentity")
    passed = bicep.body("modules", "functionApp")["params"]
    assert passed["signInClientId"] == CLIENT_ID
    assert passed["signInIdentityId"] == Opaque("signInIdentity.outputs.id")
    assert passed["signInIdentityClientId"] == Opaque("signInIdentity.outputs.clientId")
    outputs = bicep.tree["outputs"]
    assert bicep.eval(outputs["SIGN_IN_IDENTITY_PRINCIPAL_ID"]["value"]) == Opaque(
        "signInIdentity.outputs.principalId"
    )
    assert str(bicep.eval(outputs["SIGN_IN_REDIRECT_URI"]["value"])).endswith("/.auth/login/aad/callback")


def test_signed_in_app_requires_entra_sign_in_except_machine_paths() -> None:
    app = signed_in_app()
    assert app.deployed("resources", "authSettings")
    auth = app.body("resources", "authSettings")
    assert auth["name"] == "authsettingsV2"
    assert auth["properties"]["platform"] == {"enabled": True}
    validation = auth["properties"]["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "RedirectToLoginPage"
    for path in MACHINE_PATHS:
        assert path in validation["excludedPaths"], (
            f"{path} is called with a function key and must skip sign-in"
        )
    assert all(path.startswith("/") for path in validation["excludedPaths"])
    assert auth["properties"]["httpSettings"]["requireHttps"] is True


def test_entra_provider_uses_an_identity_not_a_secret() -> None:
    app = signed_in_app()
    provider = app.body("resources", "authSettings")["properties"]["identityProviders"][
        "azureActiveDirectory"
    ]
    registration = provider["registration"]
    assert registration["clientId"] == CLIENT_ID
    assert str(registration["openIdIssuer"]).startswith("https://login.microsoftonline.com/")
    assert str(registration["openIdIssuer"]).endswith("/v2.0")
    assert registration["clientSecretSettingName"] == ASSERTION_SETTING
    assert set(registration) == {"openIdIssuer", "clientId", "clientSecretSettingName"}
    assert CLIENT_ID in provider["validation"]["allowedAudiences"]
    site = app.body("resources", "app")
    settings = {entry["name"]: entry["value"] for entry in site["properties"]["siteConfig"]["appSettings"]}
    assert settings[ASSERTION_SETTING] == "sign-in-client-id", "the sign-in identity, not the app's"
    assert site["identity"]["userAssignedIdentities"] == {"/ids/app": {}, "/ids/sign-in": {}}


def test_sign_in_identity_holds_no_role() -> None:
    """Microsoft advises an identity used only for the federated credential: no module that assigns
    roles is given its principal; they all get the app's identity."""
    bicep = main_bicep(entraSignInClientId=CLIENT_ID, durableBackend="DurableTaskScheduler")
    granted = {
        module: bicep.body("modules", module)["params"]["principalId"]
        for module in bicep.tree["modules"]
        if "principalId" in bicep.body("modules", module)["params"]
    }
    assert set(granted) == {"storageRoles", "monitoring", "openAiRoles", "durableTaskScheduler"}
    assert set(granted.values()) == {Opaque("identity.outputs.principalId")}
