"""The running-configuration facts that decide a cause: `block.config` (Config, Policy).

Reads
- Cisco IOS/IOS-XE `show running-config | section crypto` and a whole `show running-config`:
  `crypto ipsec transform-set`, global `crypto ipsec security-association lifetime seconds`,
  `crypto isakmp keepalive` and `crypto ikev2 dpd` (global DPD), `crypto isakmp
  invalid-spi-recovery`, `crypto map NAME SEQ ipsec-isakmp` entries (`set peer`,
  `set transform-set`, `set pfs`, `set security-association lifetime`, `match address`,
  `set isakmp-profile`, `set ikev2-profile`), `crypto map NAME redundancy GROUP` under an
  interface, `crypto ipsec profile`, `crypto ikev2 profile` (`match identity remote address`,
  `dpd`, `lifetime`), `crypto isakmp profile` (`keepalive`, `match identity address`),
  `crypto isakmp key ... address A`, `crypto keyring` / `crypto ikev2 keyring` peer addresses,
  and `interface TunnelN` (`tunnel destination` + `tunnel protection ipsec profile`).
- Cisco ASA/FTD `show running-config crypto` and `show running-config tunnel-group` (alone or
  in a whole `show running-config`): `crypto ipsec ikev1 transform-set`, `crypto ipsec ikev2
  ipsec-proposal` (`protocol esp encryption/integrity`), the global lifetime, the one-line
  `crypto map NAME SEQ set peer / set ikev1 transform-set / set ikev2 ipsec-proposal /
  set pfs / set security-association lifetime / match address`, `tunnel-group A type
  ipsec-l2l` and its `ipsec-attributes` (`isakmp keepalive threshold N retry M`,
  `isakmp keepalive threshold infinite`, `isakmp keepalive disable`), and `name A NAME`.
- FortiGate `show vpn ipsec phase1-interface` / `phase2-interface` (or the `config vpn ipsec
  phase1-interface` block pasted bare): `set remote-gw`, `set dpd`, `set keylife`,
  `set phase1name`, `set proposal`, `set pfs`, `set dhgrp`, `set keylifeseconds`.

What the fields mean
- One Policy per peer address. Its peer comes from a crypto map's `set peer`, a tunnel
  interface's `tunnel destination`, an IKE profile's host `match identity`, a pre-shared key's
  address, an ASA tunnel-group named by address, or a FortiGate `remote-gw`. A profile that
  matches every address (`0.0.0.0 0.0.0.0`) becomes a Policy with peer None ("every peer").
- Per-peer values are kept exactly as configured and global values go on Config
  (`Config.dpd`, `Config.lifetime_seconds`): a peer whose Policy has no lifetime uses the global
  one (or the platform default when Config has none). The confirm engine combines them; this
  module never copies a global value into a Policy.
- `Config.dpd` is True when IOS configures a global `crypto isakmp keepalive` or `crypto ikev2
  dpd` (or ASA's DefaultL2LGroup sets a keepalive). `Config.dpd` and
  `Config.invalid_spi_recovery` are False on IOS only when the whole crypto configuration was
  shown (a prompt typed `show running-config` with no filter or `| section crypto` /
  `| include crypto` / `| begin crypto`, or the output starts with `Current configuration :`)
  and holds no such line: IOS has both off by default. None means "not shown": a filtered or
  unprompted paste cannot prove a line is absent.
- ASA: DPD (IKE keepalive) is on by default for LAN-to-LAN tunnel-groups (threshold 10, retry
  2), and a tunnel-group inherits what DefaultL2LGroup sets. So an address-named tunnel-group
  without an `isakmp keepalive` line gets `dpd` from DefaultL2LGroup's keepalive line when the
  paste shows one, else True; either way "dpd" is listed in `Policy.defaults` and
  `where["dpd"]` is the tunnel-group's own line. `threshold infinite` (the ASA answers DPD but
  never sends it) and `disable` give False.
- FortiGate: `show` omits settings left at their default, so a phase 1 without `set dpd` has
  DPD on-demand (True, listed in `defaults`); `set dpd on-idle` / `on-demand` are True,
  `disable` False. A phase 2 has PFS on unless `set pfs disable` (pfs "none"): without a
  `set pfs` line pfs is its DH groups and "pfs" is listed in `defaults`. The groups are written
  one "groupN" per configured group, in the configured order and separated by one space
  (`set dhgrp 14 5` gives "group14 group5"): the FortiGate accepts any of them, so compare them
  as sets (`set(pfs.split())`), an overlap agreeing. Without `set dhgrp` pfs is "enabled": the
  default group list changed between FortiOS releases (6.0: 14 5), so it is not guessed.
- FortiGate phase 1 and phase 2 are usually two outputs (two commands typed at one prompt).
  A phase 2 belongs to the phase 1 its `set phase1name` names: in its own output, else (once
  the reader has every output of the paste, `join_fortigate`) in another output of the same
  host (the prompt's hostname; or two outputs without one), the first such in the paste. Its
  values are written into the phase-1 output's Policy for the `remote-gw` peer, so that
  block's config holds the whole policy with `where` lines in both outputs; the phase-2
  output's config lists the same Policy objects (shared, not copies), so the confirm engine,
  which uses the first block naming the peer, finds the whole policy whichever output was
  pasted first, and the phase-2 output counts as read. A phase 2 whose phase 1 is in no
  output stays in `block.problems`.
- `pfs`: "group14", ..., "enabled" for a bare `set pfs` (the group is the platform default),
  "none" when configured off; None when no line says (IOS and ASA default to no PFS).
- `transforms`: each referenced transform set resolved to its text ("esp-aes 256
  esp-sha-hmac"); an ASA IKEv2 proposal as "esp encryption aes-256 integrity sha-256"; a
  FortiGate phase 2 proposal as printed ("aes256-sha256"). A set this output does not define
  is named in `block.problems`.

Sources: Cisco IOS Security Configuration Guide, "Configuring Security for VPNs with IPsec",
"Invalid Security Parameter Index Recovery", "IPsec Dead Peer Detection Periodic Message
Option", "FlexVPN and Internet Key Exchange Version 2"; Cisco ASA VPN CLI Configuration Guide
"LAN-to-LAN IPsec VPNs" and "Connection Profiles" (isakmp keepalive, default threshold 10
retry 2 for LAN-to-LAN); ntc-templates tests `cisco_asa/show_running-config_crypto_map`,
`..._all_crypto_map`, `..._ipsec`, `..._tunnel-group`, `..._crypto_ikev1`; FortiOS CLI
reference "config vpn ipsec phase1-interface" / "phase2-interface".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.events import canonical_ip
from kb.state.commands import Command, register
from kb.state.model import Config, Line, Policy, StateBlock

# Top-level lines whose indentation was lost in the paste still belong to the open section
# when they start with one of these words (no top-level IOS/ASA command does).
_SUB_WORDS = frozenset(
    {
        "set",
        "match",
        "dpd",
        "lifetime",
        "keepalive",
        "tunnel",
        "isakmp",
        "ikev1",
        "ikev2",
        "protocol",
        "mode",
        "pre-shared-key",
        "address",
        "peer",
        "description",
        "authentication",
        "keyring",
        "reverse-route",
    }
)

_HOST_MASKS = frozenset({"255.255.255.255", "/32", "/128"})
_DEFAULT_L2L = "defaultl2lgroup"


@dataclass(slots=True)
class _Section:
    """One configuration entry: a crypto map entry, a profile, a transform set, an interface."""

    kind: str
    name: str
    line: Line
    values: dict[str, tuple[object, Line]] = field(default_factory=dict)
    peers: list[tuple[str, Line]] = field(default_factory=list)
    dynamic: bool = False

    def put(self, key: str, value: object, line: Line) -> None:
        self.values[key] = (value, line)

    def get(self, key: str) -> tuple[object, Line] | None:
        return self.values.get(key)


@dataclass(slots=True)
class _Reader:
    block: StateBlock
    sections: dict[tuple[str, str], _Section] = field(default_factory=dict)
    current: _Section | None = None
    names: dict[str, str] = field(default_factory=dict)  # ASA `name A NAME`
    keys: list[tuple[str, Line]] = field(default_factory=list)  # pre-shared keys by address
    tunnel_groups: dict[str, Line] = field(default_factory=dict)  # L2L tunnel-group -> line
    config: Config = field(default_factory=Config)
    platform: str | None = None
    ngfw: bool = False
    whole: bool = False  # the whole (crypto) configuration was shown
    seen: bool = False  # any crypto or tunnel-group configuration at all
    missing: set[str] = field(default_factory=set)  # transform sets already reported
    policies: dict[str | None, Policy] = field(default_factory=dict)  # by peer, in order

    # --- reading lines -------------------------------------------------------------------

    def feed(self, line: Line) -> None:
        text = line.text
        if not text.strip():
            return
        tokens = text.split()
        word = tokens[0].lower()
        indented = text[0] == " "
        if indented or (self.current is not None and word in _SUB_WORDS):
            if self.current is not None:
                self.sub(self.current, tokens, line)
            return
        self.current = None
        self.top(tokens, [t.lower() for t in tokens[:6]], line)

    def hint(self, platform: str) -> None:
        if self.platform is None:
            self.platform = platform

    def section(self, kind: str, name: str, line: Line) -> _Section:
        key = (kind, name)
        found = self.sections.get(key)
        if found is None:
            found = self.sections[key] = _Section(kind, name, line)
        return found

    def top(self, tokens: list[str], low: list[str], line: Line) -> None:
        word = low[0]
        if word == "crypto" and len(tokens) >= 3:
            self.seen = True
            self.crypto(tokens, low, line)
        elif word == "interface" and len(tokens) >= 2:
            self.current = self.section("interface", " ".join(tokens[1:]), line)
        elif word == "tunnel-group" and len(tokens) >= 3:
            self.seen = True
            self.hint("asa")
            self.tunnel_group(tokens, low, line)
        elif word == "name" and len(tokens) >= 3 and canonical_ip(tokens[1]):
            self.names[tokens[2]] = canonical_ip(tokens[1]) or ""
        elif word == "asa" and low[1:2] == ["version"]:
            self.hint("asa")
        elif word == "ngfw" and low[1:2] == ["version"]:
            self.ngfw = True
        elif word == "current" and low[1:3] == ["configuration", ":"]:
            self.whole = True
            self.hint("ios")
        elif word == "version" and len(tokens) == 2:
            self.hint("ios")

    def crypto(self, tokens: list[str], low: list[str], line: Line) -> None:
        what = low[1]
        if what in ("map", "dynamic-map"):
            self.crypto_map(tokens, low, line, dynamic=what == "dynamic-map")
        elif what == "ipsec":
            self.crypto_ipsec(tokens, low, line)
        elif what == "isakmp":
            self.crypto_isakmp(tokens, low, line)
        elif what == "ikev2":
            if low[2] == "profile" and len(tokens) >= 4:
                self.current = self.section("ikev2-profile", tokens[3], line)
                self.hint("ios")
            elif low[2] == "keyring" and len(tokens) >= 4:
                self.current = self.section("keyring", tokens[3], line)
            elif low[2] == "dpd":
                self.global_dpd(line)
            else:
                self.current = _Section("other", "", line)
        elif what == "ikev1":
            self.hint("asa")
        elif what == "keyring" and len(tokens) >= 3:
            self.current = self.section("keyring", tokens[2], line)
        else:
            self.current = _Section("other", "", line)

    def crypto_map(self, tokens: list[str], low: list[str], line: Line, dynamic: bool) -> None:
        rest = tokens[2:]
        if rest and rest[0].lower() == "ipv6":
            rest = rest[1:]
        if len(rest) < 2:
            return
        name, second = rest[0], rest[1].lower()
        if second == "redundancy":
            self.redundancy(rest[2:], line)
            return
        if not second.isdigit():
            return  # `interface outside`, `local-address`, ...
        entry = self.section("map", f"{name} {rest[1]}", line)
        entry.dynamic = entry.dynamic or dynamic
        if len(rest) >= 3 and rest[2].lower() in ("set", "match"):
            # ASA writes each setting of an entry on its own line.
            self.hint("asa")
            self.sub(entry, rest[2:], line)
            return
        if len(rest) >= 3 and rest[2].lower() in ("ipsec-isakmp", "ipsec-manual", "gdoi"):
            if "dynamic" in (t.lower() for t in rest[3:]) or rest[2].lower() != "ipsec-isakmp":
                entry.dynamic = True
            else:
                self.hint("ios")
            entry.line = line
        self.current = entry

    def crypto_ipsec(self, tokens: list[str], low: list[str], line: Line) -> None:
        what = low[2]
        if what == "transform-set" and len(tokens) >= 5:
            entry = self.section("transform-set", tokens[3], line)
            entry.line = line
            entry.put("text", " ".join(tokens[4:]), line)
            self.current = entry
        elif what == "ikev1" and low[3:4] == ["transform-set"] and len(tokens) >= 6:
            self.hint("asa")
            if tokens[5].lower() == "mode":
                return
            entry = self.section("transform-set", tokens[4], line)
            entry.line = line
            entry.put("text", " ".join(tokens[5:]), line)
        elif what == "ikev2" and low[3:4] == ["ipsec-proposal"] and len(tokens) >= 5:
            self.hint("asa")
            self.current = self.section("proposal", tokens[4], line)
        elif what == "security-association" and low[3:4] == ["lifetime"]:
            seconds = _seconds(tokens[4:], line, self.block)
            if seconds is not None:
                self.config.lifetime_seconds = seconds
                self.config.where["lifetime_seconds"] = line
        elif what == "profile" and len(tokens) >= 4:
            self.hint("ios")
            self.current = self.section("ipsec-profile", tokens[3], line)
        else:
            self.current = _Section("other", "", line)

    def crypto_isakmp(self, tokens: list[str], low: list[str], line: Line) -> None:
        what = low[2]
        if what == "keepalive":
            self.global_dpd(line)
        elif what == "invalid-spi-recovery":
            self.config.invalid_spi_recovery = True
            self.config.where["invalid_spi_recovery"] = line
            self.hint("ios")
        elif what == "profile" and len(tokens) >= 4:
            self.current = self.section("isakmp-profile", tokens[3], line)
            self.hint("ios")
        elif what == "key":
            lowered = [t.lower() for t in tokens]
            if "address" in lowered:
                peer = _address(tokens[lowered.index("address") + 1 :])
                if peer:
                    self.keys.append((peer, line))
        else:
            self.current = _Section("other", "", line)

    def global_dpd(self, line: Line) -> None:
        self.config.dpd = True
        self.config.where["dpd"] = line

    def redundancy(self, args: list[str], line: Line) -> None:
        if args and args[0].lower() == "replay-interval":
            return  # the global replay window for HA, not a binding to a group
        group = args[0] if args and args[0].lower() != "stateful" else "unnamed"
        self.config.redundancy = group
        self.config.where["redundancy"] = line

    def tunnel_group(self, tokens: list[str], low: list[str], line: Line) -> None:
        name = tokens[1]
        what = low[2]
        if what == "type":
            if low[3:4] == ["ipsec-l2l"]:
                self.tunnel_groups.setdefault(name, line)
        elif what == "ipsec-attributes":
            self.tunnel_groups.setdefault(name, line)
            self.current = self.section("tunnel-group", name, line)
        else:
            self.current = _Section("other", "", line)

    # --- lines inside an entry -----------------------------------------------------------

    def sub(self, entry: _Section, tokens: list[str], line: Line) -> None:
        low = [t.lower() for t in tokens[:8]]
        kind = entry.kind
        if kind in ("map", "ipsec-profile"):
            self.sub_map(entry, tokens, low, line)
        elif kind == "interface":
            self.sub_interface(entry, tokens, low, line)
        elif kind == "ikev2-profile":
            if low[:4] == ["match", "identity", "remote", "address"]:
                self.match_identity(entry, tokens[4:], line)
            elif low[0] == "dpd":
                entry.put("dpd", True, line)
            elif low[0] == "lifetime" and len(tokens) >= 2 and tokens[1].isdigit():
                entry.put("ike_lifetime", int(tokens[1]), line)
        elif kind == "isakmp-profile":
            if low[:3] == ["match", "identity", "address"]:
                self.match_identity(entry, tokens[3:], line)
            elif low[0] == "keepalive":
                entry.put("dpd", True, line)
        elif kind == "keyring":
            lowered = [t.lower() for t in tokens]
            if "address" in lowered:
                peer = _address(tokens[lowered.index("address") + 1 :])
                if peer:
                    self.keys.append((peer, line))
        elif kind == "proposal":
            if low[:3] == ["protocol", "esp", "encryption"]:
                entry.put("encryption", " ".join(tokens[3:]), line)
            elif low[:3] == ["protocol", "esp", "integrity"]:
                entry.put("integrity", " ".join(tokens[3:]), line)
        elif kind == "tunnel-group" and low[:2] == ["isakmp", "keepalive"]:
            on = not ("disable" in low or "infinite" in low)
            entry.put("dpd", on, line)

    def sub_map(self, entry: _Section, tokens: list[str], low: list[str], line: Line) -> None:
        if low[0] == "match" and low[1:2] == ["address"] and len(tokens) >= 3:
            entry.put("acl", tokens[2], line)
            return
        if low[0] != "set" or len(tokens) < 2:
            return
        what = low[1]
        if what == "peer":
            for token in tokens[2:]:
                if token.lower() in ("default", "dynamic"):
                    continue
                peer = canonical_ip(token) or self.names.get(token)
                if peer:
                    entry.peers.append((peer, line))
                else:
                    entry.peers.append(("?" + token, line))
        elif what in ("transform-set", "ikev1", "ikev2") and len(tokens) >= 3:
            names = tokens[2:] if what == "transform-set" else tokens[3:]
            if what == "ikev2" and low[2:3] != ["ipsec-proposal"]:
                return  # `set ikev2 mode tunnel`, `set ikev2-profile` is one word
            if what == "ikev1" and low[2:3] != ["transform-set"]:
                return  # `set ikev1 phase1-mode main`
            if names:
                entry.put("transforms", names, line)
        elif what == "pfs":
            entry.put("pfs", tokens[2].lower() if len(tokens) >= 3 else "enabled", line)
        elif what == "security-association" and low[2:3] == ["lifetime"]:
            seconds = _seconds(tokens[3:], line, self.block)
            if seconds is not None:
                entry.put("lifetime", seconds, line)
        elif what in ("isakmp-profile", "ikev2-profile") and len(tokens) >= 3:
            entry.put("profile", (what[:-8], tokens[2]), line)

    def sub_interface(self, entry: _Section, tokens: list[str], low: list[str], line: Line) -> None:
        if low[:2] == ["tunnel", "destination"] and len(tokens) >= 3:
            peer = canonical_ip(tokens[2])
            if peer:
                entry.peers.append((peer, line))
            else:
                self.block.problems.append(
                    f"line {line.number}: tunnel destination {tokens[2]} is not an address"
                )
        elif low[:4] == ["tunnel", "protection", "ipsec", "profile"] and len(tokens) >= 5:
            entry.put("profile", tokens[4], line)
            self.seen = True
        elif low[:2] == ["crypto", "map"] and len(tokens) >= 4 and low[3] == "redundancy":
            self.redundancy(tokens[4:], line)

    def match_identity(self, entry: _Section, args: list[str], line: Line) -> None:
        peer = _address(args)
        if peer is not None:
            entry.peers.append((peer, line))
        elif _wildcard(args):
            entry.peers.append(("*", line))

    # --- building the Config --------------------------------------------------------------

    def finish(self) -> None:
        if not self.seen:
            return
        block = self.block
        if self.platform == "asa" and self.ngfw:
            self.platform = "ftd"
        if self.platform and not (self.platform == "asa" and block.platform == "ftd"):
            block.platform = self.platform
        for (kind, _), entry in self.sections.items():
            if kind == "map" and not entry.dynamic:
                self.from_map(entry)
        for (kind, _), entry in self.sections.items():
            if kind == "interface" and entry.get("profile") is not None:
                self.from_tunnel(entry)
        for (kind, _), entry in self.sections.items():
            if kind in ("ikev2-profile", "isakmp-profile"):
                for peer, line in entry.peers:
                    self.from_ike_profile(entry, None if peer == "*" else peer, line)
        for peer, line in self.keys:
            if peer not in self.policies:
                policy = self.policy(peer, None, line)
                policy.where["peer"] = line
        self.from_tunnel_groups()
        config = self.config
        if self.whole_shown() and self.platform in (None, "ios"):
            if config.dpd is None:
                config.dpd = False
            if config.invalid_spi_recovery is None:
                config.invalid_spi_recovery = False
        config.policies = list(self.policies.values())
        block.config = config

    def whole_shown(self) -> bool:
        if self.whole:
            return True
        typed = (self.block.typed or "").lower().split()
        if len(typed) < 2 or not "show".startswith(typed[0]) or len(typed[0]) < 2:
            return False
        if len(typed[1]) < 2 or not "running-config".startswith(typed[1]):
            return False
        args = typed[2:]
        if not args or args == ["all"]:
            return True
        if len(args) == 3 and args[0] == "|" and args[2] == "crypto":
            return any(w.startswith(args[1]) for w in ("section", "include", "begin"))
        return False

    def policy(self, peer: str | None, name: str | None, line: Line) -> Policy:
        policy = self.policies.get(peer)
        if policy is None:
            policy = self.policies[peer] = Policy(peer=peer, name=name)
            if name is not None:
                policy.where["name"] = line
        elif policy.name is None and name is not None:
            policy.name = name
            policy.where["name"] = line
        return policy

    def assign(self, policy: Policy, attr: str, value: object, line: Line) -> None:
        """Set a field once; a second, different value for the same peer is a problem."""
        old = getattr(policy, attr)
        if old is None or old == []:
            setattr(policy, attr, value)
            policy.where[attr] = line
        elif old != value:
            first = policy.where.get(attr)
            at = f" (line {first.number})" if first else ""
            self.block.problems.append(
                f"line {line.number}: {attr} {value} for peer {policy.peer or 'any'} differs "
                f"from {old}{at}; keeping the first"
            )

    def transforms(self, names: list[str], line: Line, policy: Policy) -> None:
        texts: list[str] = []
        for name in names:
            entry = self.sections.get(("transform-set", name)) or self.sections.get(
                ("proposal", name)
            )
            text = _transform_text(entry) if entry else None
            if text is None:
                if name not in self.missing:
                    self.missing.add(name)
                    self.block.problems.append(
                        f"line {line.number}: transform set {name} is not in this output"
                    )
                continue
            texts.append(text)
            if entry is not None:
                policy.where[f"transform-set {name}"] = entry.line
        if texts:
            self.assign(policy, "transforms", texts, line)

    def apply_ipsec(self, policy: Policy, entry: _Section) -> None:
        """The phase-2 settings of a crypto map entry or an IPsec profile."""
        found = entry.get("transforms")
        if found:
            names, line = found
            self.transforms(list(names), line, policy)  # type: ignore[arg-type]
        for key, attr in (("pfs", "pfs"), ("lifetime", "lifetime_seconds"), ("acl", "acl")):
            found = entry.get(key)
            if found:
                self.assign(policy, attr, found[0], found[1])
        found = entry.get("profile")
        if found:
            (kind, name), _ = found  # type: ignore[misc]
            profile = self.sections.get((f"{kind}-profile", name))
            if profile is not None:
                self.apply_ike(policy, profile)

    def apply_ike(self, policy: Policy, profile: _Section) -> None:
        for key, attr in (("dpd", "dpd"), ("ike_lifetime", "ike_lifetime_seconds")):
            found = profile.get(key)
            if found:
                self.assign(policy, attr, found[0], found[1])

    def from_map(self, entry: _Section) -> None:
        if not entry.peers:
            self.block.problems.append(
                f"line {entry.line.number}: crypto map {entry.name} names no peer"
            )
            return
        for peer, line in entry.peers:
            if peer.startswith("?"):
                peer = self.names.get(peer[1:], peer)  # an ASA `name` printed after the map
            if peer.startswith("?"):
                self.block.problems.append(
                    f"line {line.number}: peer {peer[1:]} of crypto map {entry.name} "
                    "is a name, not an address"
                )
                continue
            policy = self.policy(peer, entry.name, entry.line)
            policy.where.setdefault("peer", line)
            self.apply_ipsec(policy, entry)

    def from_tunnel(self, interface: _Section) -> None:
        (name, line) = interface.get("profile")  # type: ignore[misc]
        profile = self.sections.get(("ipsec-profile", str(name)))
        if profile is None:
            self.block.problems.append(
                f"line {line.number}: ipsec profile {name} is not in this output"
            )
        for peer, peer_line in interface.peers:
            policy = self.policy(peer, interface.name, interface.line)
            policy.where.setdefault("peer", peer_line)
            if profile is not None:
                self.apply_ipsec(policy, profile)

    def from_ike_profile(self, profile: _Section, peer: str | None, line: Line) -> None:
        policy = self.policy(peer, profile.name, profile.line)
        policy.where.setdefault("peer", line)
        self.apply_ike(policy, profile)
        # `| section crypto` shows no tunnel interface: an ipsec profile that names this IKE
        # profile (`set ikev2-profile X`) is what protects this peer's tunnel.
        kind = "ikev2" if ("ikev2-profile", profile.name) in self.sections else "isakmp"
        for (section, _), ipsec in self.sections.items():
            found = ipsec.get("profile") if section == "ipsec-profile" else None
            if found and found[0] == (kind, profile.name) and not policy.transforms:
                self.apply_ipsec(policy, ipsec)

    def from_tunnel_groups(self) -> None:
        inherited: tuple[bool, Line] | None = None
        for name in self.tunnel_groups:
            if name.lower() == _DEFAULT_L2L:
                entry = self.sections.get(("tunnel-group", name))
                found = entry.get("dpd") if entry else None
                if found:
                    inherited = (bool(found[0]), found[1])
                    self.config.dpd = inherited[0]
                    self.config.where["dpd"] = found[1]
        for name, line in self.tunnel_groups.items():
            peer = canonical_ip(name)
            if peer is None:
                continue
            policy = self.policy(peer, name, line)
            policy.where.setdefault("peer", line)
            entry = self.sections.get(("tunnel-group", name))
            found = entry.get("dpd") if entry else None
            if found:
                self.assign(policy, "dpd", found[0], found[1])
            elif policy.dpd is None:
                policy.dpd = inherited[0] if inherited else True
                policy.where["dpd"] = line
                policy.defaults.append("dpd")


def _transform_text(entry: _Section) -> str | None:
    if entry.kind == "transform-set":
        found = entry.get("text")
        return str(found[0]) if found else None
    parts = ["esp"]
    for key in ("encryption", "integrity"):
        found = entry.get(key)
        if found:
            parts.append(f"{key} {found[0]}")
    return " ".join(parts) if len(parts) > 1 else None


def _seconds(args: list[str], line: Line, block: StateBlock) -> int | None:
    """The seconds of `... lifetime [kilobytes N] seconds N` (or `days N`), else None."""
    lowered = [a.lower() for a in args[:6]]
    for unit, factor in (("seconds", 1), ("days", 86400)):
        if unit in lowered:
            at = lowered.index(unit) + 1
            value = args[at] if at < len(args) else ""
            if value.isdigit() and len(value) <= 12:
                return int(value) * factor
            block.problems.append(
                f"line {line.number}: lifetime {unit} {value[:40]!r} is not a number"
            )
            return None
    return None


def _wildcard(args: list[str]) -> bool:
    """`0.0.0.0 0.0.0.0`, `0.0.0.0/0`, `ipv6 ::/0`: every address."""
    if args and args[0].lower() == "ipv6":
        args = args[1:]
    if not args:
        return False
    text, _, bits = args[0].partition("/")
    mask = "/" + bits if bits else (args[1] if len(args) > 1 else None)
    return canonical_ip(text) in ("0.0.0.0", "::") and mask in ("0.0.0.0", "/0")


def _address(args: list[str]) -> str | None:
    """A host address after `address`: `A`, `A 255.255.255.255`, `ipv6 A/128`; None for
    wildcards and subnets."""
    if args and args[0].lower() == "ipv6":
        args = args[1:]
    if not args:
        return None
    text, mask = args[0], args[1] if len(args) > 1 else None
    if "/" in text:
        text, _, bits = text.partition("/")
        mask = "/" + bits
    peer = canonical_ip(text)
    if peer is None or peer in ("0.0.0.0", "::"):
        return None
    if mask is not None and canonical_ip(mask) and mask not in _HOST_MASKS:
        return None
    if mask is not None and mask.startswith("/") and mask not in _HOST_MASKS:
        return None
    return peer


def parse(lines: list[Line], block: StateBlock) -> None:
    """IOS, ASA and FTD running configuration (crypto and tunnel-group parts)."""
    reader = _Reader(block)
    for line in lines:
        reader.feed(line)
    reader.finish()


# --- FortiGate ---------------------------------------------------------------------------


def parse_fortigate(lines: list[Line], block: StateBlock) -> None:
    """FortiGate `config vpn ipsec phase1-interface` / `phase2-interface` (and the
    policy-based `phase1` / `phase2`)."""
    phase1, phase2 = _fortigate_tables(lines)
    if not phase1 and not phase2:
        return
    block.platform = block.platform or "fortigate"
    policies: dict[str, Policy] = {}
    by_name: dict[str, Policy | None] = {}  # every phase 1 here; None: no fixed peer
    for name, p1 in phase1.items():
        policy = _fortigate_phase1(name, p1, block)
        if policy is not None and policy.peer is not None:
            policy = policies.setdefault(policy.peer, policy)
            by_name[name] = policy if policy.name == name else None
        else:
            by_name[name] = None
    pending: list[tuple[_Section, str]] = []
    for p2 in phase2:
        p1name = _phase1name(p2)
        if p1name in by_name:
            policy = by_name[p1name]
            if policy is not None:
                _fortigate_phase2(policy, p2, block)
            continue
        problem = (
            f"line {p2.line.number}: phase 2 {p2.name}: its phase 1 {p1name} is not in this output"
        )
        block.problems.append(problem)
        pending.append((p2, problem))
    if policies:  # a phase 2 alone names no peer: its problems say so until joined
        block.config = Config(policies=list(policies.values()))
    if by_name or pending:
        _remember(_Tables(block, by_name, pending))


def _fortigate_tables(lines: list[Line]) -> tuple[dict[str, _Section], list[_Section]]:
    """The phase 1 entries by name and the phase 2 entries, with their `set` lines."""
    phase1: dict[str, _Section] = {}
    phase2: list[_Section] = []
    # The open `config` blocks, innermost last: "phase1" / "phase2" for the VPN tables, None
    # for any other (`config vdom`, a table nested inside an entry).
    stack: list[str | None] = []
    entry: _Section | None = None
    for line in lines:
        tokens = line.text.split()
        if not tokens:
            continue
        word = tokens[0].lower()
        table = stack[-1] if stack else None
        if word == "config":
            stack.append(_fortigate_table(tokens) if len(stack) < 64 else None)
        elif word == "end":
            if stack:
                stack.pop()
            entry = None if not stack or stack[-1] is None else entry
        elif table is not None and word == "edit" and len(tokens) >= 2:
            name = " ".join(tokens[1:]).strip('"')
            entry = _Section(table, name, line)
            if table == "phase1":
                phase1[name] = entry
            else:
                phase2.append(entry)
        elif table is not None and word == "next":
            entry = None
        elif table is not None and word == "set" and entry is not None and len(tokens) >= 3:
            entry.put(tokens[1].lower(), [t.strip('"') for t in tokens[2:]], line)
    return phase1, phase2


def _phase1name(p2: _Section) -> str | None:
    found = p2.get("phase1name")
    return found[0][0] if found else None  # type: ignore[index]


def _fortigate_table(tokens: list[str]) -> str | None:
    words = [t.lower() for t in tokens[1:5]]
    if len(words) == 3 and words[:2] == ["vpn", "ipsec"]:
        table = words[2].removesuffix("-interface")
        if table in ("phase1", "phase2"):
            return table
    return None


def _fortigate_phase1(name: str, p1: _Section, block: StateBlock) -> Policy | None:
    found = p1.get("remote-gw") or p1.get("remote-gw6")
    if found is None:
        return None  # a dial-up phase 1 has no fixed peer
    value, line = found
    peer = canonical_ip(value[0])  # type: ignore[index]
    if peer is None or peer in ("0.0.0.0", "::"):
        if peer is None:
            block.problems.append(f"line {line.number}: remote-gw {value[0]} is not an address")  # type: ignore[index]
        return None
    policy = Policy(peer=peer, name=name)
    policy.where["name"] = p1.line
    policy.where["peer"] = line
    dpd = p1.get("dpd")
    if dpd:
        policy.dpd = dpd[0][0].lower() != "disable"  # type: ignore[index]
        policy.where["dpd"] = dpd[1]
    else:
        policy.dpd = True  # FortiOS default: on-demand
        policy.where["dpd"] = p1.line
        policy.defaults.append("dpd")
    life = p1.get("keylife")
    if life and str(life[0][0]).isdigit():  # type: ignore[index]
        policy.ike_lifetime_seconds = int(life[0][0])  # type: ignore[index]
        policy.where["ike_lifetime_seconds"] = life[1]
    return policy


def _fortigate_pfs(p2: _Section) -> tuple[str, Line, bool]:
    """(pfs, the line proving it, whether it is FortiOS's default): PFS is on unless
    `set pfs disable`, with the phase 2's own DH groups."""
    pfs, dhgrp = p2.get("pfs"), p2.get("dhgrp")
    if pfs and str(pfs[0][0]).lower() == "disable":  # type: ignore[index]
        return "none", pfs[1], False
    groups = [g for g in dhgrp[0] if g.isdigit() and len(g) <= 3] if dhgrp else []  # type: ignore[union-attr]
    if groups and dhgrp:
        value, line = " ".join(f"group{g}" for g in groups), dhgrp[1]
    else:
        value, line = "enabled", pfs[1] if pfs else p2.line
    return value, line, pfs is None


def _fortigate_phase2(policy: Policy, p2: _Section, block: StateBlock) -> None:
    values: dict[str, tuple[object, Line]] = {}
    proposal = p2.get("proposal")
    if proposal:
        values["transforms"] = (list(proposal[0]), proposal[1])  # type: ignore[arg-type]
    pfs, pfs_line, default = _fortigate_pfs(p2)
    values["pfs"] = (pfs, pfs_line)
    life = p2.get("keylifeseconds")
    if life and str(life[0][0]).isdigit():  # type: ignore[index]
        values["lifetime_seconds"] = (int(life[0][0]), life[1])  # type: ignore[index]
    for attr, (value, line) in values.items():
        old = getattr(policy, attr)
        if old is None or old == []:
            setattr(policy, attr, value)
            policy.where[attr] = line
            if attr == "pfs" and default and "pfs" not in policy.defaults:
                policy.defaults.append("pfs")
        elif old != value:
            block.problems.append(
                f"line {line.number}: phase 2 {p2.name}: {attr} {value} differs from {old} "
                f"in another phase 2 of {policy.name}; keeping the first"
            )


# --- FortiGate: a phase 2 whose phase 1 is in another output of the paste -------------------


@dataclass(slots=True)
class _Tables:
    """What one FortiGate output leaves for `join_fortigate`."""

    block: StateBlock
    phase1: dict[str, Policy | None]  # phase 1 name -> its Policy here (None: no fixed peer)
    pending: list[tuple[_Section, str]]  # phase 2s whose phase 1 is not here, their problem


def _remember(tables: _Tables) -> None:
    tables.block.leftovers = tables


def _taken(blocks: list[StateBlock]) -> list[_Tables]:
    found = []
    for block in blocks:
        if isinstance(block.leftovers, _Tables):
            found.append(block.leftovers)
            block.leftovers = None
    return found


def _same_host(a: str | None, b: str | None) -> bool:
    return (a or "").lower() == (b or "").lower()


def join_fortigate(blocks: list[StateBlock]) -> None:
    """Resolve each phase 2 against a phase 1 of the same name in another output of the same
    host (see the module docstring); the reader calls it once every output of a paste is read."""
    outputs = _taken(blocks)
    for tables in outputs:
        if not tables.pending:
            continue
        block = tables.block
        joined: list[Policy] = []
        for p2, problem in tables.pending:
            name = _phase1name(p2)
            owner = next(
                (
                    o
                    for o in outputs
                    if o is not tables and name in o.phase1 and _same_host(o.block.host, block.host)
                ),
                None,
            )
            if owner is None:
                continue
            block.problems.remove(problem)
            policy = owner.phase1[name]  # type: ignore[index]
            if policy is None:
                continue  # a dial-up phase 1: no fixed peer, as within one output
            _fortigate_phase2(policy, p2, block)
            if all(policy is not p for p in joined):
                joined.append(policy)
        if joined:
            config = block.config if block.config is not None else Config()
            config.policies += [p for p in joined if all(p is not q for q in config.policies)]
            block.config = config


# A line starting with "crypto map " is not an anchor: `show crypto ipsec sa` prints
# "Crypto map tag: ..." and `show crypto map` prints `Crypto Map "NAME" 10 ipsec-isakmp`.
register(
    Command(
        words=("show", "running-config"),
        platforms=("ios", "asa", "ftd"),
        parse=parse,
        anchors=(
            "current configuration : ",
            "crypto ipsec transform-set ",
            "crypto ipsec ikev1 transform-set ",
            "crypto ipsec ikev2 ipsec-proposal ",
            "crypto ipsec security-association ",
            "crypto ipsec profile ",
            "crypto isakmp ",
            "crypto ikev2 profile ",
            "crypto ikev2 keyring ",
            "crypto ikev2 proposal ",
            "crypto ikev2 policy ",
            "crypto ikev1 ",
            "crypto keyring ",
            "crypto dynamic-map ",
            "tunnel-group ",
        ),
        markers=("\ncrypto ", "\ntunnel-group "),
    )
)

register(
    Command(
        words=("show", "vpn", "ipsec", "phase1-interface"),
        platforms=("fortigate",),
        parse=parse_fortigate,
        anchors=("config vpn ipsec phase1", "config vpn ipsec phase2"),
        markers=("config vpn ipsec",),
    )
)
# The same reader at the other prompts that print these tables (anchors registered once).
for _words in (
    ("show", "vpn", "ipsec", "phase2-interface"),
    ("show", "full-configuration", "vpn", "ipsec", "phase1-interface"),
    ("show", "full-configuration", "vpn", "ipsec", "phase2-interface"),
):
    register(Command(words=_words, platforms=("fortigate",), parse=parse_fortigate))
