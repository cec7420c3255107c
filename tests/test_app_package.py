"""The Teams app package: manifest against Microsoft's bundled schema, icons, zip, commands."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft7Validator
from PIL import Image

from bot.commands.grammar import COMMANDS, CommandSpec, Scope
from devtools.app_package.build import build_package
from devtools.app_package.cli import main
from devtools.app_package.errors import ManifestInvalid, SettingError, TemplateError
from devtools.app_package.manifest import commands_for, manifest_problems
from devtools.app_package.settings import PackageSettings, load_package_settings

ROOT = Path(__file__).resolve().parents[1]
APP_PACKAGE = ROOT / "appPackage"
TEAMS_SCHEMAS = ROOT / "node_modules/@microsoft/app-manifest/build/json-schemas/teams"
BOT_ID = "3f2b9c1e-5a7d-4e8f-9b6a-1c2d3e4f5a6b"
HOST = "exhibit.met.police.example"
ENV = {"EXHIBIT_BOT_APP_ID": BOT_ID, "EXHIBIT_PUBLIC_HOST": HOST, "EXHIBIT_APP_VERSION": "1.4.2"}


@pytest.fixture
def settings() -> PackageSettings:
    return load_package_settings(ENV)


@pytest.fixture
def package(settings: PackageSettings, tmp_path: Path) -> Path:
    return build_package(settings, tmp_path / "dist")


@pytest.fixture
def manifest(package: Path) -> dict[str, Any]:
    with zipfile.ZipFile(package) as archive:
        loaded: dict[str, Any] = json.loads(archive.read("manifest.json"))
    return loaded


def official_schema(version: str) -> dict[str, Any]:
    """Microsoft's schema for manifest `version`, read straight from node_modules."""
    path = TEAMS_SCHEMAS / f"v{version}" / "MicrosoftTeams.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def ihdr_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG header: signature, then the IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind, width, height = struct.unpack(">I4sII", data[8:24])
    assert (length, kind) == (13, b"IHDR")
    return width, height


# --- the manifest against the official schema --------------------------------------------


def test_manifest_validates_against_the_bundled_schema(manifest: dict[str, Any]) -> None:
    Draft7Validator(official_schema(manifest["manifestVersion"])).validate(manifest)


def test_manifest_uses_the_newest_released_schema(manifest: dict[str, Any]) -> None:
    released = [p.name for p in TEAMS_SCHEMAS.iterdir() if p.name[1:].replace(".", "").isdigit()]
    newest = max(released, key=lambda name: tuple(int(n) for n in name[1:].split(".")))
    assert manifest["manifestVersion"] == newest[1:]
    assert f"/teams/{newest}/MicrosoftTeams.schema.json" in manifest["$schema"]


def _wrong_bot_id_type(m: dict[str, Any]) -> None:
    m["bots"][0]["botId"] = 42


def _no_developer(m: dict[str, Any]) -> None:
    del m["developer"]


def _other_manifest_version(m: dict[str, Any]) -> None:
    m["manifestVersion"] = "1.29"


def _unknown_scope(m: dict[str, Any]) -> None:
    m["bots"][0]["scopes"].append("meetings")


@pytest.mark.parametrize(
    "breakage", [_wrong_bot_id_type, _no_developer, _other_manifest_version, _unknown_scope]
)
def test_a_broken_manifest_is_rejected(manifest: dict[str, Any], breakage: Any) -> None:
    schema = official_schema(manifest["manifestVersion"])
    broken = copy.deepcopy(manifest)
    breakage(broken)
    assert not Draft7Validator(schema).is_valid(broken)
    assert manifest_problems(broken, schema)


def test_draft4_would_miss_a_const_violation(manifest: dict[str, Any]) -> None:
    # Why the builder validates with Draft 7 although the schema says draft-04.
    schema = official_schema(manifest["manifestVersion"])
    broken = copy.deepcopy(manifest)
    _other_manifest_version(broken)
    assert Draft4Validator(schema).is_valid(broken)
    assert not Draft7Validator(schema).is_valid(broken)


def test_build_refuses_to_write_an_invalid_manifest(
    settings: PackageSettings, tmp_path: Path
) -> None:
    app = tmp_path / "appPackage"
    shutil.copytree(APP_PACKAGE, app)
    template = json.loads((app / "manifest.json").read_text(encoding="utf-8"))
    template["accentColor"] = "police blue"
    (app / "manifest.json").write_text(json.dumps(template), encoding="utf-8")

    with pytest.raises(ManifestInvalid) as caught:
        build_package(settings, tmp_path / "dist", app_package_dir=app)
    assert any("accentColor" in p for p in caught.value.problems)
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_build_refuses_an_unknown_placeholder(settings: PackageSettings, tmp_path: Path) -> None:
    app = tmp_path / "appPackage"
    shutil.copytree(APP_PACKAGE, app)
    template = json.loads((app / "manifest.json").read_text(encoding="utf-8"))
    template["name"]["full"] = "${{FORCE_NAME}} evidence"
    (app / "manifest.json").write_text(json.dumps(template), encoding="utf-8")

    with pytest.raises(TemplateError, match="FORCE_NAME"):
        build_package(settings, tmp_path / "dist", app_package_dir=app)


# --- placeholders and values -----------------------------------------------------------


def test_every_placeholder_is_filled(manifest: dict[str, Any]) -> None:
    template = (APP_PACKAGE / "manifest.json").read_text(encoding="utf-8")
    assert "${{BOT_ID}}" in template
    assert "${{" not in json.dumps(manifest)
    assert manifest["id"] == BOT_ID
    assert manifest["version"] == "1.4.2"
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["validDomains"] == [HOST]
    assert manifest["webApplicationInfo"] == {"id": BOT_ID, "resource": f"api://{HOST}/{BOT_ID}"}
    assert manifest["developer"] == {
        "name": "Exhibit",
        "websiteUrl": f"https://{HOST}/",
        "privacyUrl": f"https://{HOST}/privacy",
        "termsOfUseUrl": f"https://{HOST}/terms",
    }


def test_bot_and_permissions(manifest: dict[str, Any]) -> None:
    bot = manifest["bots"][0]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert bot["supportsFiles"] is True
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {p["name"] for p in rsc} >= {
        "ChannelMessage.Read.Group",
        "ChatMessage.Read.Chat",
        "ChannelMember.Read.Group",
        "ChannelSettings.Read.Group",  # the case channel's name (GET /teams/{id}/channels/{id})
    }
    assert {p["type"] for p in rsc} == {"Application"}
    assert manifest["name"]["short"] == "Exhibit"
    assert "police" in manifest["description"]["full"]


def test_options_override_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = "0b5e7c3a-1d2f-4a6b-8c9d-0e1f2a3b4c5d"
    argv = ["--out", str(tmp_path), "--bot-app-id", other, "--privacy-url", "https://a.example/p"]
    assert main(argv, env=ENV) == 0
    with zipfile.ZipFile(capsys.readouterr().out.strip()) as archive:
        built = json.loads(archive.read("manifest.json"))
    assert built["bots"][0]["botId"] == other
    assert built["developer"]["privacyUrl"] == "https://a.example/p"
    assert built["validDomains"] == [HOST]


# --- settings errors ---------------------------------------------------------------------


def test_missing_bot_app_id_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in ENV.items() if k != "EXHIBIT_BOT_APP_ID"}
    assert main(["--out", str(tmp_path)], env=env) == 1
    assert "EXHIBIT_BOT_APP_ID" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_documented_command_fails_without_a_bot_id(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXHIBIT_")}
    env["EXHIBIT_PUBLIC_HOST"] = HOST
    done = subprocess.run(  # noqa: S603 (our own interpreter and module, fixed arguments)
        [sys.executable, "-m", "devtools.app_package", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "EXHIBIT_BOT_APP_ID" in done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EXHIBIT_BOT_APP_ID", "not-a-guid"),
        ("EXHIBIT_BOT_APP_ID", "00000000-0000-0000-0000-000000000000"),
        ("EXHIBIT_TEAMS_APP_ID", "{3f2b9c1e-5a7d-4e8f-9b6a-1c2d3e4f5a6b}"),
        ("EXHIBIT_PUBLIC_HOST", "https://exhibit.example/"),
        ("EXHIBIT_PUBLIC_HOST", "exhibit.example:8443"),
        ("EXHIBIT_PUBLIC_HOST", "10.1.2.3"),
        ("EXHIBIT_PUBLIC_HOST", "localhost"),
        ("EXHIBIT_APP_PRIVACY_URL", "http://exhibit.example/privacy"),
        ("EXHIBIT_APP_TERMS_URL", "exhibit.example/terms"),
        ("EXHIBIT_APP_DEVELOPER_URL", "https://"),
        ("EXHIBIT_APP_VERSION", "1.0"),
        ("EXHIBIT_APP_VERSION", "v1.0.0"),
    ],
)
def test_invalid_values_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(SettingError) as caught:
        load_package_settings({**ENV, name: value})
    assert caught.value.name == name
    assert name in str(caught.value)


def test_missing_public_host_names_its_variable() -> None:
    with pytest.raises(SettingError, match="EXHIBIT_PUBLIC_HOST"):
        load_package_settings({"EXHIBIT_BOT_APP_ID": BOT_ID})


# --- commands ----------------------------------------------------------------------------


def expected_commands(scope: Scope, catalogue: tuple[CommandSpec, ...]) -> list[CommandSpec]:
    """The documented rule: available commands with a menu place, by that place, max 10."""
    ranked = [c for c in catalogue if scope in c.scopes and c.available and c.menu is not None]
    return sorted(ranked, key=lambda c: c.menu or 0)[:10]


def test_command_lists_follow_the_catalogue(manifest: dict[str, Any]) -> None:
    lists = manifest["bots"][0]["commandLists"]
    by_scope = {tuple(entry["scopes"]): entry["commands"] for entry in lists}
    assert set(by_scope) == {(scope.value,) for scope in Scope}
    for scope in Scope:
        assert by_scope[(scope.value,)] == [
            {"title": c.name, "description": c.short} for c in expected_commands(scope, COMMANDS)
        ]


def test_command_lists_keep_teams_limits(manifest: dict[str, Any]) -> None:
    for entry in manifest["bots"][0]["commandLists"]:
        assert len(entry["commands"]) <= 10
        for command in entry["commands"]:
            assert len(command["title"]) <= 32
            assert len(command["description"]) <= 128


def test_the_menu_is_the_ranked_available_commands_at_most_ten() -> None:
    ranked = [
        CommandSpec(f"cmd{i}", (), f"Command {i}", f"cmd{i}", available=i != 3, menu=14 - i)
        for i in range(14)
    ]
    catalogue = (*ranked, CommandSpec("unranked", (), "Not in the menu", "unranked"))
    chosen = commands_for(Scope.TEAM, catalogue)
    assert chosen == expected_commands(Scope.TEAM, catalogue)
    assert [c.name for c in chosen] == [f"cmd{i}" for i in (13, 12, 11, 10, 9, 8, 7, 6, 5, 4)]


def test_the_menu_lists_what_people_use_most() -> None:
    for scope in Scope:
        names = [c.name for c in commands_for(scope)]
        assert names[0] == "help"
        assert len(names) <= 10
        for name in ("case list", "case show", "evidence list", "evidence show", "custody",
                     "share", "share list", "whoami"):  # fmt: skip
            assert name in names
        assert all(len(c.short) <= 60 for c in commands_for(scope))


def test_a_too_long_command_title_is_a_problem(manifest: dict[str, Any]) -> None:
    broken = copy.deepcopy(manifest)
    broken["bots"][0]["commandLists"][0]["commands"][0]["title"] = "x" * 33
    problems = manifest_problems(broken, official_schema(manifest["manifestVersion"]))
    assert any("32" in p for p in problems)


# --- icons and zip -----------------------------------------------------------------------


def test_zip_holds_exactly_the_three_files_at_its_root(package: Path) -> None:
    assert package.name == "exhibit-1.4.2.zip"
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert archive.testzip() is None


def test_icon_sizes_from_the_png_header(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        assert ihdr_size(archive.read("color.png")) == (192, 192)
        assert ihdr_size(archive.read("outline.png")) == (32, 32)
    assert ihdr_size((APP_PACKAGE / "color.png").read_bytes()) == (192, 192)
    assert ihdr_size((APP_PACKAGE / "outline.png").read_bytes()) == (32, 32)


def test_outline_is_white_on_transparent() -> None:
    with Image.open(APP_PACKAGE / "outline.png") as image:
        assert image.mode == "RGBA"
        data = image.tobytes()
    pixels = [(data[i], data[i + 1], data[i + 2], data[i + 3]) for i in range(0, len(data), 4)]
    assert len(pixels) == 32 * 32
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels)
    assert any(a == 255 for *_, a in pixels)
    assert sum(a == 0 for *_, a in pixels) > len(pixels) // 2


def test_color_icon_is_a_full_colour_mark() -> None:
    with Image.open(APP_PACKAGE / "color.png") as image:
        colours = image.convert("RGB").getcolors(maxcolors=192 * 192)
    assert colours is not None
    common = sorted(colours, reverse=True)
    assert len(common) > 3
    assert common[0][0] < 192 * 192 * 0.8  # not a plain square


def test_committed_icons_match_their_generator(tmp_path: Path) -> None:
    subprocess.run(  # noqa: S603 (our own interpreter and script, fixed arguments)
        [sys.executable, str(APP_PACKAGE / "make_icons.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for name in ("color.png", "outline.png"):
        with Image.open(APP_PACKAGE / name) as committed, Image.open(tmp_path / name) as fresh:
            assert committed.mode == fresh.mode
            assert committed.tobytes() == fresh.tobytes(), f"{name}: run appPackage/make_icons.py"


def test_builds_are_reproducible(settings: PackageSettings, tmp_path: Path) -> None:
    first = build_package(settings, tmp_path / "a").read_bytes()
    second = build_package(settings, tmp_path / "b").read_bytes()
    assert first == second
    assert zipfile.ZipFile(io.BytesIO(first)).namelist()
