"""Commands in articles: each platform sees its own or is told none is known, every line pastes
and is sourced (or marked unverified), and each error an expert read found stays fixed."""

from __future__ import annotations

import json
import re

import pytest

from kb.article import ARTICLES_DIR, ArticleError, load_articles, parse_article
from kb.commands import PLATFORMS, render, render_by_where, sections
from kb.ranking import rank
from kb.signals import Signal
from tests.conftest import ROOT

ARTICLES = load_articles()
BY_ID = {a.id: a for a in ARTICLES}
PEER, LOCAL = "198.51.100.7", "192.0.2.1"
RAW = {p.stem: p.read_text() for p in ARTICLES_DIR.glob("*.md")}

# The words a command line may start with on each platform; the lines that leave a mode too.
FIRST_WORDS = {
    "ios": {
        "show",
        "clear",
        "debug",
        "configure",
        "crypto",
        "set",
        "dpd",
        "permit",
        "deny",
        "standby",
        "ip",
        "interface",
        "end",
        "exit",
    },
    "asa": {
        "show",
        "clear",
        "debug",
        "configure",
        "crypto",
        "access-list",
        "access-group",
        "isakmp",
        "tunnel-group",
        "failover",
        "lifetime",
        "packet-tracer",
        "end",
        "exit",
    },
    "ftd": {"show", "clear", "debug", "packet-tracer"},
    "pix": {"show", "clear", "configure", "crypto", "isakmp", "exit"},
    "fortigate": {"diagnose", "get", "config", "edit", "set", "next", "end"},
    "panos": {"show", "clear", "test"},
    "screenos": {"get"},
}
# A word that belongs to other platforms only: its presence is another platform's command.
FOREIGN = {
    "ios": ("diagnose ", "get ", "vpn ipsec-sa", "tunnel-group", "access-group"),
    "asa": ("diagnose ", "get ", "vpn ipsec-sa", "ip access-list", "ikev2 sa-lifetime"),
    # FTD shows its running configuration, but is configured in FMC or FDM: no config mode
    "ftd": ("diagnose ", "get ", "vpn ipsec-sa", "configure terminal"),
    "pix": ("diagnose ", "ikev2", "tunnel-group", "show asp", "control-plane"),
    "fortigate": ("crypto ", "configure terminal", "vpn ipsec-sa", "access-list"),
    "panos": ("crypto ", "diagnose ", "configure terminal", "get "),
    "screenos": ("crypto ", "diagnose ", "configure terminal", "vpn ipsec-sa"),
}
UI_PREFIX = {"ftd": ("FMC: ", "FDM: "), "panos": ("Web interface: ",)}


def shown(article, kind: str, platform: str | None) -> list[str]:
    return article.commands(kind, platform, PEER, LOCAL)


@pytest.mark.parametrize("platform", [*PLATFORMS, None])
@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_a_platform_sees_its_own_commands_or_none_known(article, platform) -> None:
    for kind, table in (("verify", article.verify), ("fix", article.fix)):
        lines = shown(article, kind, platform)
        if platform not in table:
            assert lines == [f"no command known for {platform or 'an unknown platform'}"]
            continue
        assert lines == render(table[platform], platform, PEER, LOCAL)
        for line in lines:
            if line.startswith(("FMC: ", "FDM: ", "Web interface: ")):
                assert line.startswith(UI_PREFIX.get(platform, ())), (platform, line)
                continue
            assert line.split()[0] in FIRST_WORDS[platform], (article.id, platform, line)
            assert not any(word in line for word in FOREIGN[platform]), (platform, line)


@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_every_shown_line_pastes(article) -> None:
    for platform in PLATFORMS:
        for kind in ("verify", "fix"):
            for line in shown(article, kind, platform):
                if line.startswith("no command known"):
                    continue
                assert "->" not in line and "  " not in line and not line.startswith("[")
                assert "{" not in line and not line.endswith("."), line
                assert "\n" not in line


@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_every_command_is_sourced_or_marked_unverified(article) -> None:
    for table in (article.verify, article.fix):
        for commands in table.values():
            for command in commands:
                if command.unverified is None:
                    assert command.source in article.sources, command
                else:
                    assert command.source is None and command.unverified.strip()
    text = RAW[article.id]
    front = text[: text.index("\n---\n", 4)]
    assert front.count("command:") == front.count("source:") + front.count("unverified:")


def test_the_structured_form_is_in_the_json_of_a_cause() -> None:
    [cause] = [
        c
        for c in rank(ARTICLES, [], platform="ios", peer=PEER, local=LOCAL)
        if c.id == "sa-out-of-sync"
    ]
    doc = cause.to_dict()
    assert doc["fixes"] == cause.fixes and all(isinstance(f, str) for f in doc["fixes"])
    clear = next(c for c in doc["commands"] if c["command"] == f"clear crypto sa peer {LOCAL}")
    assert clear["kind"] == "fix" and clear["where"] == "peer" and clear["mode"] == "exec"
    assert PEER in clear["where_text"] and clear["verified"] and clear["source"]
    dpd = next(c for c in doc["commands"] if c["command"] == "dpd 10 3 periodic")
    assert dpd["path"] == ["configure terminal", "crypto ikev2 profile <ikev2-profile-name>"]
    assert dpd["placeholders"] == ["<ikev2-profile-name>"] and dpd["verified"] is False
    assert set(clear) == {
        "kind",
        "platform",
        "where",
        "where_text",
        "mode",
        "path",
        "command",
        "placeholders",
        "note",
        "source",
        "verified",
    }


def test_config_lines_enter_and_leave_their_mode() -> None:
    assert shown(BY_ID["lifetime-mismatch"], "fix", "pix")[-1] == "exit"  # PIX 6.x has no end
    ios = shown(BY_ID["sa-out-of-sync"], "fix", "ios")
    assert ios[:2] == [f"clear crypto sa peer {LOCAL}", f"clear crypto session remote {LOCAL}"]
    assert ios[2:4] == ["configure terminal", "crypto isakmp keepalive 10 3 periodic"]
    assert ios[-1] == "end"
    forti = shown(BY_ID["sa-out-of-sync"], "fix", "fortigate")
    assert forti[-6:] == [
        "config vpn ipsec phase1-interface",
        "edit <phase1-name>",
        "set dpd on-idle",
        "set dpd-retryinterval 10",
        "next",
        "end",
    ]


# -- the errors an expert read found, one test each -----------------------------------------
def test_asa_lifetime_is_set_per_peer_in_the_crypto_map_not_with_an_ikev2_command() -> None:
    assert not any(
        "ikev2 sa-lifetime" in line
        for text in RAW.values()
        for line in text.splitlines()
        if "command:" in line or "path:" in line
    )
    for article in ("lifetime-mismatch", "rekey-race"):
        fixes = shown(BY_ID[article], "fix", "asa")
        assert any(
            re.fullmatch(
                r"crypto map <crypto-map-name> <crypto-map-seq> set security-association "
                r"lifetime seconds \d+",
                f,
            )
            for f in fixes
        ), fixes


def test_ios_lifetime_is_per_tunnel_crypto_map_or_ipsec_profile_never_the_global_command() -> None:
    for article in ("lifetime-mismatch", "rekey-race"):
        items = BY_ID[article].fix["ios"]
        paths = {item.path[-1].split()[1] for item in items}
        assert paths == {"map", "ipsec"}  # crypto map <MAP> <SEQ> ..., crypto ipsec profile <P>
        assert all(item.command.startswith("set security-association lifetime") for item in items)
        assert not any(
            "crypto ipsec security-association lifetime" in f
            for f in shown(BY_ID[article], "fix", "ios")
        )


def test_pfkey_invalid_spi_notify_is_evidence_for_a_software_defect_too() -> None:
    defect = BY_ID["software-defect"]
    assert defect.evidence["ike_invalid_spi_notify"] >= 2.0
    assert "unexpected" in (defect.summary + defect.body)
    assert "normal race" not in BY_ID["rekey-race"].body
    signal = Signal("ike_invalid_spi_notify", "PFKEY invalid SPI for the box's own new SPI", PEER)
    causes = rank(ARTICLES, [signal], platform="ftd", peer=PEER, local=LOCAL)
    score = {c.id: c.score for c in causes}
    assert score["software-defect"] >= defect.prior + 2.0
    assert [c.id for c in causes].index("software-defect") < 3
    [cause] = [c for c in causes if c.id == "software-defect"]
    assert any("PFKEY" in reason for reason in cause.reasons)


def test_asa_ike_and_esp_to_the_box_are_filtered_by_a_control_plane_acl() -> None:
    for article in ("firewall-blocking", "unsolicited-esp"):
        for line in shown(BY_ID[article], "fix", "asa"):
            if line.startswith("access-list"):
                assert line.startswith("access-list <control-plane-acl-name>"), line
            if line.startswith("access-group"):
                assert line.endswith(" control-plane"), line
        assert "control-plane" in BY_ID[article].body
    assert any(
        line.endswith("control-plane") for line in shown(BY_ID["unsolicited-esp"], "fix", "asa")
    )
    assert not any("OUTSIDE-IN" in text for text in RAW.values())


def test_cscwc48375_is_not_cited_as_an_invalid_spi_defect() -> None:
    assert not any("CSCwc48375" in text for text in RAW.values())
    defect = BY_ID["software-defect"]
    assert {"CSCwc54984", "CSCvx23833"} <= set(defect.aliases)
    assert any("CSCwc54984" in s for s in defect.sources)


def test_hsrp_redundancy_is_described_right_and_reapplying_crypto_maps_is_gone() -> None:
    ha = BY_ID["ha-failover"]
    text = RAW["ha-failover"]
    assert "re-apply" not in text.lower() and "reapply crypto maps after" not in text.lower()
    fixes = shown(ha, "fix", "ios")
    assert "standby <hsrp-group-number> name <hsrp-group-name>" in fixes
    assert "crypto map <crypto-map-name> redundancy <hsrp-group-name>" in fixes
    assert not any("redundancy inter-device" in f for f in fixes)
    said = " ".join([ha.body, *ha.caveats])
    assert "legacy" in said and "12.4T" in said and "redundancy groups" in said


def test_ha_failover_covers_fortigate_split_brain_and_pan_os() -> None:
    ha = BY_ID["ha-failover"]
    assert {"fortigate", "panos"} <= set(ha.verify) and {"fortigate", "panos"} <= set(ha.fix)
    assert "split brain" in ha.body and "FGCP" in ha.body
    assert any("408336" in s for s in ha.sources)
    signal = Signal("ha_failover", "HA member state changed to primary", PEER)
    [top] = rank(ARTICLES, [signal], platform="fortigate", peer=PEER, local=LOCAL)[:1]
    assert top.id == "ha-failover" and "get system ha status" in top.verify


def test_nat_traversal_mechanism_is_corrected_and_sourced() -> None:
    nat = BY_ID["nat-traversal"]
    said = nat.summary + " " + nat.body
    assert "does not match the SA" not in said
    assert "different inside host" in said and "reboot" in said and "PAT" in said
    assert any("rfc3948" in s for s in nat.sources) and any("rfc3715" in s for s in nat.sources)


def test_firewall_blocking_cites_the_fortinet_one_sided_tunnel_note() -> None:
    fw = BY_ID["firewall-blocking"]
    assert any("294094" in s for s in fw.sources)
    assert not any("115801" in s for s in fw.sources)  # the TAC note says nothing of firewalls
    assert "one side" in fw.body


def test_the_wrong_asa_keepalive_caveat_is_gone_and_the_command_is_sourced() -> None:
    sync = BY_ID["sa-out-of-sync"]
    assert not any("not checked" in c for c in sync.caveats)
    [keepalive] = [c for c in sync.fix["asa"] if c.command.startswith("isakmp keepalive")]
    assert keepalive.command == "isakmp keepalive threshold 10 retry 2"
    assert keepalive.path == ("configure terminal", "tunnel-group {peer} ipsec-attributes")
    assert keepalive.source is not None


def test_ftd_is_configured_in_fmc_and_pix_has_no_ikev2() -> None:
    for article in ARTICLES:
        for command in (*article.verify.get("ftd", ()), *article.fix.get("ftd", ())):
            assert command.mode != "config"
            if command.mode == "ui":
                assert command.where in ("fmc", "fdm")
        for command in (*article.verify.get("pix", ()), *article.fix.get("pix", ())):
            assert "ikev2" not in " ".join((*command.path, command.command))


def test_a_command_for_the_peer_is_shown_as_run_on_the_peer_in_the_terminal_and_slack() -> None:
    from bot import blocks, text
    from kb.diagnose import diagnose

    result = diagnose((ROOT / "kb" / "examples" / "out-of-sync.txt").read_text())
    shown = text.diagnosis(result)
    on_peer = shown.index("Fix, on the peer 198.51.100.7 (the sender of the packets):")
    assert shown.index("clear crypto sa peer 192.0.2.1", on_peer) > on_peer
    first = shown.index("Do this first, on the peer 198.51.100.7, not on this box (IOS syntax")
    assert shown.index("clear crypto sa peer 192.0.2.1") > first
    card = json.dumps([b.to_dict() for b in blocks.diagnosis(result)])
    assert "*Do this first*, on the peer 198.51.100.7, not on this box" in card
    details = json.dumps([b.to_dict() for b in blocks.details(result)])
    assert "*Fix*, on the peer 198.51.100.7 (the sender of the packets)" in details


# -- commands that paste: every article x every platform, as the renderers get them -------------
# Checked here on their own terms, not with kb.commands' own checker: a bracket that is no
# `<lower-case-name>` placeholder (outside quotes, where a capture filter may need one), an
# arrow, a sentence word before any `|` output filter, a trailing comment, a full stop.
NAMED_PLACEHOLDER = re.compile(r"<[a-z][a-z0-9]*(?:-[a-z0-9]+)*>")
PROSE_WORDS = re.compile(r"(?i)(?<![\w-])(then|if|e\.g\.|i\.e\.|etc|optionally)(?![\w-])")


def line_problems(line: str) -> list[str]:
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "''", line)
    bare = NAMED_PLACEHOLDER.sub("NAME", unquoted)
    found = []
    if re.search(r"[<>\[\](){}]", bare):
        found.append("bracket")
    if "->" in line or "→" in line:
        found.append("arrow")
    if PROSE_WORDS.search(bare.split("|", 1)[0]):
        found.append("prose")
    if re.search(r"\s(#|!|//)", unquoted):
        found.append("comment")
    if line.endswith((".", ";", ":")) or line != line.strip() or "  " in line:
        found.append("punctuation or padding")
    return found


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_every_rendered_command_line_is_runnable(article, platform) -> None:
    items = article.command_items(platform, PEER, LOCAL)
    blocks = sections(items)
    assert sum(len(b.lines) for b in blocks if b.mode == "exec") == sum(
        i["mode"] == "exec" for i in items
    )
    for block in blocks:
        if block.mode == "ui":  # settings in FMC, FDM or a web page: shown as text, not pasted
            assert block.heading.startswith(("FMC: ", "FDM: ", "Web interface: "))
            assert "->" not in block.heading and all("->" not in line for line in block.lines)
            continue
        for line in block.lines:
            assert line_problems(line) == [], (article.id, platform, line)
        listed = {p for line in block.lines for p in NAMED_PLACEHOLDER.findall(line)}
        assert set(block.placeholders) == listed, (article.id, platform, block)
    # with no addresses known, the gaps are named placeholders too, never "None" or braces
    for block in sections(article.command_items(platform, None, None)):
        if block.mode != "ui":
            assert all(line_problems(line) == [] for line in block.lines), block
            assert not any("None" in line for line in block.lines)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("article", ARTICLES, ids=[a.id for a in ARTICLES])
def test_commands_to_run_now_and_configuration_never_share_a_block(article, platform) -> None:
    items = article.command_items(platform, PEER, LOCAL)
    blocks = sections(items)
    for kind in ("verify", "fix"):
        modes = [b.mode for b in blocks if b.kind == kind]
        assert modes == sorted(modes, key=["exec", "config", "ui"].index)  # run now first
    for block in blocks:
        mine = [
            i
            for i in items
            if i["kind"] == block.kind and i["where"] == block.where and i["mode"] == block.mode
        ]
        if block.mode == "exec":
            assert set(block.lines) <= {i["command"] for i in mine} and not block.heading
        elif block.mode == "config":
            path = block.heading.split(" → ")
            assert list(block.lines[: len(path)]) == path  # enters its mode from the prompt
            closing = {"ios": "end", "asa": "end", "fortigate": "end", "pix": "exit"}
            assert block.lines[-1] == closing[platform]  # and leaves it
            assert not any(i["command"] in path for i in mine)
    # the lines the terminal and Slack show today, in runs by place: one mode per run too
    for kind, table in (("verify", article.verify), ("fix", article.fix)):
        runs = render_by_where(table.get(platform, ()), platform, PEER, LOCAL)
        for _, lines in runs:
            shown_modes = {
                i.mode
                for i in table.get(platform, ())
                if render([i], platform, PEER, LOCAL)[-1] in lines
                or render([i], platform, PEER, LOCAL)[0] in lines
            }
            assert len(shown_modes) <= 1 or lines[0].startswith("no command"), (kind, lines)


def test_a_config_block_has_its_mode_path_as_heading() -> None:
    blocks = sections(BY_ID["sa-out-of-sync"].command_items("ios", PEER, LOCAL), "fix")
    assert [(b.where, b.mode, b.heading) for b in blocks] == [
        ("peer", "exec", ""),
        ("both", "config", "configure terminal"),
        ("both", "config", "configure terminal → crypto ikev2 profile <ikev2-profile-name>"),
        ("local", "config", "configure terminal"),
    ]
    assert blocks[0].lines == (
        f"clear crypto sa peer {LOCAL}",
        f"clear crypto session remote {LOCAL}",
    )
    assert blocks[2].lines == (
        "configure terminal",
        "crypto ikev2 profile <ikev2-profile-name>",
        "dpd 10 3 periodic",
        "end",
    )
    assert blocks[2].placeholders == ("<ikev2-profile-name>",)
    assert blocks[0].to_dict()["where_text"].startswith(f"on the peer {PEER}")


@pytest.mark.parametrize(
    "command",
    [
        "clear crypto sa peer {local} (on the peer)",
        "clear crypto sa peer {local} then show crypto isakmp sa",
        '"clear crypto sa peer {local} # on the peer"',  # quoted: YAML keeps the comment
        "clear crypto sa peer {local} ! on the peer",
        "crypto map <MAP> 10 set pfs group14",
        "crypto map [name] 10 set pfs group14",
        "set pfs group14 if the peer has it",
    ],
)
def test_an_annotated_command_is_refused_when_the_article_loads(command) -> None:
    text = RAW["rekey-race"].replace(
        "    - command: show crypto ikev2 sa detail", f"    - command: {command}", 1
    )
    assert text != RAW["rekey-race"]
    with pytest.raises(ArticleError, match="verify"):
        parse_article(ARTICLES_DIR / "rekey-race.md", text)


# -- reasons and caveats in the paste's own platform's terms ----------------------------------
CASES = ROOT / "tests" / "cases"


def case_text(path) -> str:
    if path.is_dir():
        return "\n".join(f.read_text() for f in sorted(path.iterdir()))
    return path.read_text()


@pytest.mark.slow
def test_no_reason_or_caveat_speaks_of_another_platforms_behaviour() -> None:
    from kb.diagnose import diagnose

    seen = set()
    for path in sorted(CASES.iterdir()):
        if path.name in ("README.md", "labels.json"):
            continue
        for peer in diagnose(case_text(path)).peers:
            seen.add(peer.platform)
            for cause in peer.causes:
                said = " ".join([*cause.reasons, *cause.caveats])
                if peer.platform != "ios":
                    assert "IOS logs" not in said and "IOS would" not in said, path.name
                    assert "RECVD_PKT_NOT_IPSEC" not in " ".join(cause.caveats)
                    assert "12.4T" not in said and "invalid-spi-recovery" not in said, path.name
                if peer.platform not in ("asa", "ftd"):
                    assert "On an ASA" not in said and "ASA and FTD logging" not in said
                if peer.platform != "fortigate":
                    assert "On a FortiGate, local-in" not in said, path.name
    assert {"ios", "asa", "ftd", "fortigate", "panos", "pix", "screenos"} <= seen


def test_the_ios_rate_limit_is_said_on_an_ios_paste_only() -> None:
    from kb.diagnose import diagnose

    ios = diagnose((ROOT / "kb" / "examples" / "out-of-sync.txt").read_text()).causes[0]
    assert any("IOS logs this at most once a minute" in r for r in ios.reasons)
    asa = diagnose(case_text(CASES / "asa-spi-mismatch-branch.txt")).causes[0]
    repeating = [r for r in asa.reasons if "was logged" in r]
    assert repeating and not any("IOS" in r for r in repeating)
    assert any("a rekey race does not repeat" in r for r in repeating)
    single = diagnose(case_text(CASES / "ftd-402114-rfc5424-single-line.txt")).peers[0]
    [race] = [c for c in single.causes if c.id == "rekey-race"]
    assert any("too short to show whether it repeats" in r for r in race.reasons)
    assert not any("IOS" in r for r in race.reasons)
