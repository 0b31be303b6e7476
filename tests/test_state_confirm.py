"""What device state proves beside the log (kb/state/confirm.py), on hand-built state: each
rule once, and what must not be concluded. Parsers are tested on real outputs elsewhere."""

from __future__ import annotations

from kb.groups import Group
from kb.ranking import Cause
from kb.state.confirm import apply, confirm, state_notes
from kb.state.model import Config, Counter, Line, Policy, Sa, StateBlock, Tunnel

HUB, SPOKE = "192.0.2.1", "198.51.100.7"
LOGGED = 0x1A2B3C4D


def group(count: int = 6, device: str | None = "hub", spi: int = LOGGED) -> Group:
    return Group(device, SPOKE, HUB, f"0x{spi:08X}", "ios", "esp", count=count)


def sa(direction: str, spi: int, n: int, **kw) -> Sa:
    return Sa(direction, "esp", spi, Line(n, f"spi: 0x{spi:X}({spi})"), **kw)


def tunnel(local: str, peer: str, current: int | None, sas: list[Sa], **kw) -> Tunnel:
    t = Tunnel(peer, local, Line(1, f"current_peer {peer} port 500"), sas=sas, **kw)
    if current is not None:
        t.current_outbound_spi = current
        t.where["current_outbound_spi"] = Line(9, f"current outbound spi: 0x{current:X}")
    return t


def block(host: str | None, *tunnels: Tunnel, platform: str = "ios") -> StateBlock:
    return StateBlock("show crypto ipsec sa", platform, 1, 40, host=host, tunnels=list(tunnels))


def kinds(findings) -> list[tuple[str, str | None]]:
    return [(f.kind, f.cause) for f in findings]


def test_receiver_lacks_the_spi_the_sender_still_uses_confirms_stale_sa_on_the_sender():
    hub = block("hub", tunnel(HUB, SPOKE, 0x11111111, [sa("inbound", 0x22222222, 20)]))
    spoke = block("spoke", tunnel(SPOKE, HUB, LOGGED, [sa("outbound", LOGGED, 30)]))
    found = confirm([group()], [hub, spoke])
    assert kinds(found)[0] == ("confirmed", "sa-out-of-sync")
    assert f"Clear it on {SPOKE}" in found[0].text
    assert found[0].proof[0] == "spoke: line 9: current outbound spi: 0x1A2B3C4D"
    assert "hub: line 20: spi: 0x22222222(572662306)" in found[0].proof


def test_sender_only_state_confirms_only_when_the_log_repeats():
    spoke = block("spoke", tunnel(SPOKE, HUB, LOGGED, []))
    assert kinds(confirm([group(count=6)], [spoke]))[0] == ("confirmed", "sa-out-of-sync")
    assert kinds(confirm([group(count=1)], [spoke]))[0] == ("supports", "sa-out-of-sync")


def test_sender_moved_on_to_an_spi_the_receiver_holds_is_a_rekey_race():
    new = 0x33333333
    hub = block("hub", tunnel(HUB, SPOKE, 0x1, [sa("inbound", new, 20)]))
    spoke = block("spoke", tunnel(SPOKE, HUB, new, []))
    found = confirm([group(count=1)], [hub, spoke])
    assert kinds(found)[0] == ("confirmed", "rekey-race")
    assert "Harmless unless it repeats" in found[0].text


def test_receiver_holding_the_spi_with_seconds_left_beside_a_newer_sa_is_a_rekey_race():
    hub = block(
        "hub",
        tunnel(
            HUB,
            SPOKE,
            0x1,
            [
                sa("inbound", LOGGED, 20, remaining_seconds=4),
                sa("inbound", 0x5, 30, remaining_seconds=3500),
            ],
        ),
    )
    assert kinds(confirm([group(count=1)], [hub]))[0] == ("confirmed", "rekey-race")


def test_spi_held_by_another_hostname_is_ha_and_by_the_same_box_a_contradiction():
    held = tunnel(HUB, SPOKE, 0x1, [sa("inbound", LOGGED, 20, remaining_seconds=2000)])
    other = confirm([group()], [block("hub-standby", held)])
    assert kinds(other)[0] == ("confirmed", "ha-failover")
    same = confirm([group()], [block("hub", held)])
    assert ("contradiction", None) in kinds(same)
    assert all(k != "confirmed" for k, _ in kinds(same))


def test_pfs_and_nat_t_differences_between_the_ends_are_confirmed_with_both_values():
    r = tunnel(HUB, SPOKE, 0x1, [sa("inbound", 0x2, 20, udp_encaps=True)], pfs=True)
    r.where["pfs"] = Line(12, "PFS (Y/N): Y, DH group: group14")
    s = tunnel(SPOKE, HUB, 0x2, [sa("inbound", 0x1, 50, udp_encaps=False)], pfs=False)
    s.where["pfs"] = Line(52, "PFS (Y/N): N, DH group: none")
    found = confirm([group()], [block("hub", r), block("spoke", s)])
    pfs = next(f for f in found if f.cause == "policy-mismatch")
    assert pfs.kind == "confirmed" and "hub has PFS on, spoke has no PFS" in pfs.text
    assert pfs.proof == [
        "hub: line 12: PFS (Y/N): Y, DH group: group14",
        "spoke: line 52: PFS (Y/N): N, DH group: none",
    ]
    assert ("confirmed", "nat-traversal") in kinds(found)


def test_configured_lifetimes_and_missing_dpd_on_the_sender():
    hub = StateBlock("show running-config", "ios", 1, 9, host="hub")
    hub.config = Config(lifetime_seconds=3600, policies=[Policy(SPOKE)])
    hub.config.where["lifetime_seconds"] = Line(
        3, "crypto ipsec security-association lifetime seconds 3600"
    )
    spoke = StateBlock("show running-config", "ios", 10, 20, host="spoke")
    spoke.config = Config(dpd=False, policies=[Policy(HUB, lifetime_seconds=28800)])
    spoke.config.policies[0].where["lifetime_seconds"] = Line(
        14, " set security-association lifetime seconds 28800"
    )
    found = confirm([group()], [hub, spoke])
    life = next(f for f in found if f.cause == "lifetime-mismatch")
    assert "hub has 3600 s, spoke has 28800 s" in life.text
    assert ("prevention", "sa-out-of-sync") in kinds(found)


def test_confirmed_cause_goes_first_with_its_proof_and_the_rest_are_at_most_possible():
    causes = [
        Cause("ha-failover", "HA", "", 5.0, [], confidence="likely"),
        Cause("sa-out-of-sync", "Out of sync", "", 3.0, [], confidence="unlikely"),
    ]
    hub = block("hub", tunnel(HUB, SPOKE, 0x1, [sa("inbound", 0x2, 20)]))
    spoke = block("spoke", tunnel(SPOKE, HUB, LOGGED, []))
    apply(causes, confirm([group()], [hub, spoke]))
    assert [c.id for c in causes] == ["sa-out-of-sync", "ha-failover"]
    assert causes[0].confidence == "confirmed" and causes[0].proof
    assert causes[0].reasons[0].startswith("Confirmed from device state: ")
    assert causes[1].confidence == "possible"


def test_notes_for_unread_output_a_box_neither_end_and_invalid_spi_drops():
    unread = StateBlock(
        "show crypto map", None, 5, 9, host="hub", problems=["spibot does not read it"]
    )
    stranger = block("branch", tunnel("203.0.113.9", "203.0.113.20", 0x1, []))
    asa = StateBlock("show asp drop", "asa", 30, 40, host="fw")
    asa.counters = [
        Counter("Invalid SPI (invalid-spi)", 1234, Line(33, "Invalid SPI (invalid-spi)  1234"))
    ]
    texts = [f.text for f in state_notes([unread, stranger, asa], [group()])]
    assert texts[0].startswith("Not read: `show crypto map` at lines 5-9 (hub)")
    assert "neither end of the logged tunnel(s): it names 203.0.113.20" in texts[1]
    assert "counted 1,234 packets dropped for an invalid SPI" in texts[2]


def test_state_without_the_logged_tunnel_changes_nothing():
    causes = [Cause("rekey-race", "Rekey", "", 2.0, [], confidence="likely")]
    found = confirm([group()], [block("branch", tunnel("203.0.113.9", "203.0.113.20", 0x1, []))])
    apply(causes, found)
    assert found == [] and causes[0].confidence == "likely"


# What must not be concluded (a review's cases) -------------------------------------------------


def test_a_hubs_entries_for_its_other_peers_are_not_the_sender():
    # The spoke logs the hub's SPI; the hub's output also holds its tunnel to another spoke.
    logged = Group("spoke", HUB, SPOKE, f"0x{LOGGED:08X}", "ios", "esp", count=1)
    other = tunnel(HUB, "203.0.113.9", 0x9C8D7E6F, [])
    mine = tunnel(HUB, SPOKE, 0x33333333, [])
    spoke = block("spoke", tunnel(SPOKE, HUB, 0x1, [sa("inbound", 0x33333333, 20)]))
    found = confirm([logged], [block("hub", other, mine), spoke])
    assert kinds(found)[0] == ("confirmed", "rekey-race")  # the ends are in step again
    assert all("0x9C8D7E6F" not in f.text for f in found)


def test_a_third_box_without_its_own_address_is_not_the_receiver():
    third = block("PA-M", tunnel(None, SPOKE, None, [sa("inbound", 0x7, 5)]), platform="panos")
    spoke = block("spoke", tunnel(SPOKE, HUB, LOGGED, []))
    found = confirm([group(count=1)], [third, spoke])
    assert ("confirmed", "sa-out-of-sync") not in kinds(found)  # only the sender's state, once
    same_host = block("hub", tunnel(None, SPOKE, None, [sa("inbound", 0x7, 5)]), platform="panos")
    assert kinds(confirm([group()], [same_host, spoke]))[0] == ("confirmed", "sa-out-of-sync")


def test_a_receiver_output_cut_before_its_sas_proves_nothing_missing():
    cut = tunnel(HUB, SPOKE, 0x1, [])
    cut.complete = False
    spoke = block("spoke", tunnel(SPOKE, HUB, 0x5E6F7081, []))
    found = confirm([group(count=1)], [block("hub", cut), spoke])
    assert all(k != "confirmed" for k, _ in kinds(found))


def test_a_collector_address_as_the_logs_host_is_no_other_box():
    held = tunnel(HUB, SPOKE, 0x1, [sa("inbound", LOGGED, 20, remaining_seconds=2000)])
    found = confirm([group(device="10.0.0.1")], [block("hub", held)])
    assert ("confirmed", "ha-failover") not in kinds(found)
    assert ("contradiction", None) in kinds(found)


def test_a_repeating_log_with_the_ends_in_step_again_is_no_harmless_race():
    new = 0x33333333
    hub = block("hub", tunnel(HUB, SPOKE, 0x1, [sa("inbound", new, 20)]))
    spoke = block("spoke", tunnel(SPOKE, HUB, new, []))
    found = confirm([group(count=4)], [hub, spoke])
    assert ("confirmed", "rekey-race") not in kinds(found)
    assert kinds(found)[0] == ("supports", "sa-out-of-sync")


def test_fortigate_pfs_by_default_and_dh_groups_compared_as_sets():
    hub = StateBlock("show running-config", "ios", 1, 9, host="hub")
    hub.config = Config(policies=[Policy(SPOKE, transforms=["esp-aes 256"], pfs="group14")])
    fgt = StateBlock("show vpn ipsec phase2-interface", "fortigate", 10, 20, host="FGT")
    fgt.config = Config(policies=[Policy(HUB, transforms=["aes256-sha256"])])
    assert confirm([group()], [hub, fgt]) == []  # no `set pfs` on a FortiGate is not "none"
    fgt.config.policies[0].pfs = "group14 group5"
    assert confirm([group()], [hub, fgt]) == []  # they share group 14
    fgt.config.policies[0].pfs = "group5"
    assert kinds(confirm([group()], [hub, fgt])) == [("confirmed", "policy-mismatch")]


def test_a_nat_translating_4500_is_no_nat_t_mismatch():
    r = tunnel(HUB, SPOKE, 0x1, [sa("inbound", 0x2, 20, udp_encaps=True)], peer_port=1031)
    s = tunnel(SPOKE, HUB, 0x2, [sa("inbound", 0x1, 50, udp_encaps=True)], peer_port=4500)
    found = confirm([group(count=1)], [block("hub", r), block("spoke", s)])
    assert ("confirmed", "nat-traversal") not in kinds(found)
