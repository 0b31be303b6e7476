"""Adversarial inputs for every pattern family: long runs of what each pattern touches.

Shared by tests/test_adversarial.py (each shape must stay fast at 1k, 10k and 100k
characters) and benchmarks/regex_scaling.py (how the time grows as the size doubles).
Each shape builds a text of about n characters; each entry is a real way in to kb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kb.diagnose import diagnose
from kb.formats import fast_line, recognise
from kb.normalise import clean_line
from kb.scan import parse_text
from kb.stamps import find_time, read_prefix, to_seconds

IOS = (
    "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for "
    "destaddr=192.0.2.1, prot=50, spi=0x5A3D1F2C(1513955116), srcaddr=198.51.100.7"
)
# The line of issue 8: 973 bytes that took 6.3 s to parse (the framing backtracked cubically).
FREEZER = "2020-01-01T00:00:00" + " " * 800 + "!" + IOS
ASA = (
    "%ASA-4-402114: IPSEC: Received an ESP packet (SPI= 0x5A3D1F2C, sequence number= 0x1A) "
    "from 203.0.113.7 to 192.0.2.9 with an invalid SPI."
)
PANOS = "can't find sa for proto ESP spi 0x1"

ENTRIES: dict[str, Callable[[str], object]] = {
    "recognise": lambda x: recognise(clean_line(x), 1),
    # The one-match reading of the commonest lines, before clean_line, framing included.
    "one match": lambda x: fast_line(x, 1),
    "one match, framed": lambda x: fast_line(x + IOS, 1),
    "parse": parse_text,
    "diagnose": lambda x: diagnose(x, None),
    "prefix": read_prefix,
    # The framing in front of a tag, read the way a recognised line is read.
    "framed": lambda x: recognise(clean_line(x + IOS), 1),
    "time": lambda x: (find_time(x), to_seconds(x)),
    # Free-form framing before an untagged message: its time is searched for.
    "untagged": lambda x: recognise(clean_line(f"{x} {PANOS}"), 1),
}
LINE = ("recognise", "one match", "parse", "diagnose")
PASTE = ("parse", "diagnose")
FRAMING = ("prefix", "framed", "one match, framed", "time")
TIME = ("time", "untagged")


def run(unit: str, n: int) -> str:
    """`unit` repeated to n characters."""
    return (unit * (n // len(unit) + 1))[:n]


@dataclass(frozen=True)
class Shape:
    family: str
    name: str
    build: Callable[[int], str]
    entries: tuple[str, ...] = LINE

    @property
    def id(self) -> str:
        return f"{self.family}: {self.name}"


def _tagged(family: str, head: str, shapes: dict[str, Callable[[int], str]]) -> list[Shape]:
    return [Shape(family, name, lambda n, b=build: head + b(n)) for name, build in shapes.items()]


DECAPS_HEAD = "decaps: rec'd IPSEC packet has invalid spi for destaddr=192.0.2.1, prot=50, "
ASA_HEAD = "IPSEC: Received an ESP packet (SPI= 0x1, sequence number= 0x1) from "
FORTI = "logid=0101037132 logdesc=x msg=Received ESP packet with unknown SPI. "
FORTI_HA = 'logid="0108037892" subtype="ha" logdesc="Virtual cluster member state moved" '
FORTI_DENY = 'logid="0001000014" type="traffic" action="deny" policytype="local-in-policy" '

SHAPES: list[Shape] = [
    # syslog framing before a tag (kb.stamps._PREFIX and the framings tried before it)
    Shape(
        "stamps prefix",
        "ISO time, spaces, stray",
        lambda n: f"2020-01-01T00:00:00{' ' * n}!",
        FRAMING,
    ),
    Shape("stamps prefix", "spaces, stray", lambda n: " " * n + "!", FRAMING),
    Shape("stamps prefix", "digits", lambda n: "1" * n + "!", FRAMING),
    Shape("stamps prefix", "sequence numbers", lambda n: run("1: ", n) + "!", FRAMING),
    Shape("stamps prefix", "host characters", lambda n: "a" * n + "!", FRAMING),
    Shape("stamps prefix", "words", lambda n: run("a ", n) + "!", FRAMING),
    Shape("stamps prefix", "colons and spaces", lambda n: run(": ", n) + "!", FRAMING),
    Shape("stamps prefix", "PRIs", lambda n: run("<1>", n) + "!", FRAMING),
    Shape("stamps prefix", "BSD stamps", lambda n: run("Jan  1 00:00:00 ", n) + "!", FRAMING),
    Shape("stamps prefix", "ISO stamps", lambda n: run("2020-01-01T00:00:00 ", n) + "!", FRAMING),
    Shape("stamps prefix", "fraction digits", lambda n: f"Mar  3 09:14:02.{'1' * n}!", FRAMING),
    Shape("stamps prefix", "uptimes", lambda n: run("1d", n) + "!", FRAMING),
    # `logging origin-id hostname`: seq: host: time
    Shape("stamps prefix", "origin-id hosts", lambda n: run("a: ", n) + "!", FRAMING),
    Shape("stamps prefix", "origin-id host characters", lambda n: "1: " + "a" * n + ": 1", FRAMING),
    Shape("stamps prefix", "sequence, host, spaces", lambda n: f"1: a:{' ' * n}!", FRAMING),
    # timestamps anywhere (find_time) and their conversion (to_seconds)
    Shape("ISO/BSD stamps", "month, spaces", lambda n: f"Jan{' ' * n}x", TIME),
    Shape("ISO/BSD stamps", "months", lambda n: run("Jan 1 ", n), TIME),
    Shape("ISO/BSD stamps", "ISO fraction", lambda n: f"2020-01-01T00:00:00.{'1' * n}x", TIME),
    Shape("ISO/BSD stamps", "digits and dashes", lambda n: run("1111-", n), TIME),
    Shape("ISO/BSD stamps", "uptime digits", lambda n: "1" * n, TIME),
    Shape("ISO/BSD stamps", "uptime units", lambda n: run("1y", n), TIME),
    Shape("ISO/BSD stamps", "clock digits", lambda n: run("1:", n), TIME),
    # the tag, searched for in every candidate line
    Shape("TAG", "percent signs", lambda n: "%" * n),
    Shape("TAG", "facility letters", lambda n: "%" + "A" * n),
    Shape("TAG", "facility segments", lambda n: "%A" + run("-B", n)),
    Shape("TAG", "partial tags", lambda n: run("%CRYPTO-4-", n)),
    Shape("TAG", "mnemonic, then a word", lambda n: f"%A-1-{'B' * n}b"),
    Shape("TAG", "class segments", lambda n: "%A" + run("-b", n)),
    Shape("TAG", "spaces after the tag", lambda n: f"%CRYPTO-4-RECVD_PKT_INV_SPI{' ' * n}x"),
    *_tagged(
        "decaps",
        "%CRYPTO-4-RECVD_PKT_INV_SPI: ",
        {
            "spaces after 'for'": lambda n: (
                f"decaps: rec'd IPSEC packet has invalid spi for{' ' * n}x"
            ),
            "address digits": lambda n: (
                f"decaps: rec'd IPSEC packet has invalid spi for destaddr={'1' * n}"
            ),
            "address dots": lambda n: (
                "decaps: rec'd IPSEC packet has invalid spi for destaddr=" + run("1.", n)
            ),
            "address colons": lambda n: (
                "decaps: rec'd IPSEC packet has invalid spi for destaddr=" + run(":", n)
            ),
            "protocol word": lambda n: DECAPS_HEAD.replace("prot=50, ", "prot=") + "a" * n,
            "hex SPI": lambda n: f"{DECAPS_HEAD}spi=0x{'A' * n}!",
            "decimal SPI": lambda n: f"{DECAPS_HEAD}spi=0x1({'1' * n})",
            "decimal SPI, unclosed": lambda n: f"{DECAPS_HEAD}spi=0x1({'1' * n}",
            "interface": lambda n: (
                f"{DECAPS_HEAD}spi=0x1, srcaddr=1.1.1.1, input interface={'a' * n}"
            ),
            "repeated phrase": lambda n: run("decaps: rec'd IPSEC packet has invalid spi for ", n),
            "cut short, spaces": lambda n: (
                "decaps: rec'd IPSEC packet has invalid spi" + " " * n + "x"
            ),
            "cut short, punctuation": lambda n: (
                "decaps: rec'd IPSEC packet has invalid spi" + run(" .,:", n) + "x"
            ),
            "spaces before a comma": lambda n: (
                "decaps: rec'd IPSEC packet has invalid spi for destaddr=1.1.1.1" + " " * n + "x"
            ),
            "spaced commas": lambda n: f"{DECAPS_HEAD}spi=0x1" + run(" , ", n),
        },
    ),
    *_tagged(
        "ASA packet",
        "%ASA-4-402114: ",
        {
            "hex SPI": lambda n: "IPSEC: Received an ESP packet (SPI= 0x" + "A" * n,
            "hex sequence": lambda n: (
                "IPSEC: Received an ESP packet (SPI= 0x1, sequence number= 0x" + "1" * n
            ),
            "peer address": lambda n: ASA_HEAD + run("1.", n) + "x",
            "user": lambda n: f"{ASA_HEAD}1.1.1.1 (user={'a' * n}",
            "users": lambda n: f"{ASA_HEAD}1.1.1.1 " + run("(user=", n),
            "spaces": lambda n: f"IPSEC:{' ' * n}x",
        },
    ),
    Shape(
        "ASA packet",
        "402116 policy phrase",
        lambda n: "%ASA-4-402116: " + run("doesn't match the negotiated polic", n),
    ),
    *_tagged(
        "ASA non-IPsec",
        "%ASA-4-402117: IPSEC: ",
        {
            "repeated phrase": lambda n: run("Received a non-IPSec packet (protocol=", n),
            "protocol text": lambda n: "Received a non-IPSec packet (protocol=" + "a" * n,
            "user": lambda n: (
                "Received a non-IPSec packet (protocol=ESP) from 1.1.1.1 (user=" + "a" * n
            ),
        },
    ),
    *_tagged(
        "IKMP",
        "%CRYPTO-4-IKMP_NO_SA: ",
        {
            "repeated phrase": lambda n: run("IKE message from ", n),
            "address": lambda n: "IKE message from " + run("1.", n) + "x",
            "hex word, phrase": lambda n: run("IKE message from a", n),
        },
    ),
    *_tagged(
        "replay",
        "%CRYPTO-4-PKT_REPLAY_ERR: decrypt: ",
        {
            "repeated phrase": lambda n: run("replay check faile", n),
            "connection digits": lambda n: "replay check failed connection id=" + "1" * n,
        },
    ),
    *_tagged(
        "MAC",
        "%CRYPTO-4-RECVD_PKT_MAC_ERR: decrypt: ",
        {
            "repeated phrase": lambda n: run("mac verify failed for connection id=1 ", n),
            "connection digits": lambda n: "mac verify failed for connection id=" + "1" * n,
            "spaces": lambda n: f"mac verify failed for connection id=1{' ' * n}x",
            "hex SPI": lambda n: (
                "mac verify failed for connection id=1 local=1.1.1.1 remote=1.1.1.1 spi=" + "A" * n
            ),
        },
    ),
    *_tagged(
        "NOT_IPSEC",
        "%CRYPTO-4-RECVD_PKT_NOT_IPSEC: Rec'd packet ",
        {
            "repeated phrase": lambda n: run("not an IPSEC packet ", n),
            "repeated dest_addr": lambda n: "not an IPSEC packet " + run("dest_addr=", n),
            "dest_addr without src_addr": lambda n: (
                "not an IPSEC packet " + run("dest_addr= /1.1.1.1, ", n)
            ),
            "phrase and dest_addr": lambda n: run("not an IPSEC packet dest_addr=", n),
            "address": lambda n: "not an IPSEC packet dest_addr=" + run("1.", n),
        },
    ),
    *_tagged(
        "SESSION",
        "%CRYPTO-5-SESSION_STATUS: ",
        {
            "repeated Peer": lambda n: "Crypto tunnel is UP. " + run("Peer ", n),
            "repeated state": lambda n: run("Crypto tunnel is UP. ", n) + "Peer",
            "peer colons": lambda n: "Crypto tunnel is UP. Peer " + run("1:", n) + "x",
            "peer address": lambda n: "Crypto tunnel is UP. Peer " + run("1.", n) + "x",
            "state and Peer": lambda n: run("Crypto tunnel is DOWN Peer a", n),
        },
    ),
    *_tagged(
        "STATECHANGE",
        "%HSRP-5-STATECHANGE: ",
        {
            "one word": lambda n: "x" * n,
            "repeated Grp": lambda n: "Gi0/0" + run(" Grp ", n),
            "repeated state": lambda n: run("x Grp 1 state ", n),
            "words": lambda n: run("x ", n),
            "arrows": lambda n: "Gi0/0 Grp 1 state " + run("a -> ", n),
        },
    ),
    *_tagged(
        "failover",
        "%ASA-1-104001: ",
        {
            "repeated phrase": lambda n: run("Switching to ", n),
            "partial state": lambda n: run("(Primary) Switching to ACTIV", n),
        },
    ),
    *_tagged(
        "ACL IOS",
        "%SEC-6-IPACCESSLOGP: ",
        {
            "list name": lambda n: "list " + "a" * n,
            "repeated list": lambda n: run("list ", n),
            "open parentheses": lambda n: run("list a denied udp 1.1.1.1 (", n),
            "parenthesis text": lambda n: "list a denied udp 1.1.1.1(500) (" + "a" * n,
            "spaces before arrow": lambda n: f"list a denied udp 1.1.1.1(500){' ' * n}x",
        },
    ),
    *_tagged(
        "ACL ASA",
        "%ASA-4-106023: ",
        {
            "interface word": lambda n: "Deny udp src " + "a" * n,
            "repeated phrase": lambda n: run("Deny udp src a:", n),
            "dashes": lambda n: "Deny udp src " + "-" * n + ":",
            "address": lambda n: "Deny udp src outside:" + run("1.", n),
        },
    ),
    Shape(
        "delete notify",
        "repeated phrase",
        lambda n: run("ignoring request to send delete notify (no ISAKMP sa) src ", n),
    ),
    Shape(
        "delete notify",
        "address",
        lambda n: "ignoring request to send delete notify (no ISAKMP sa) src " + run("1.", n),
    ),
    Shape(
        "PFKEY",
        "repeated phrase",
        lambda n: "%ASA-7-711001: " + run("Received PFKEY Invalid SPI for SPI ", n),
    ),
    Shape(
        "PFKEY", "hex SPI", lambda n: "%ASA-7-711001: Received PFKEY Invalid SPI for SPI " + "A" * n
    ),
    Shape("PFKEY", "repeated notify", lambda n: run("Sending INVALID_SPI notif", n)),
    Shape("PFKEY", "repeated own SPI", lambda n: run("Received PFKEY add SA for SPI ", n)),
    Shape("PFKEY", "own SPI digits", lambda n: "Received PFKEY update SA for SPI 0x" + "A" * n),
    Shape("PFKEY", "inbound rules", lambda n: "%ASA-5-711001: " + run("inbound permit rule, ", n)),
    Shape(
        "PFKEY",
        "inbound SPI digits",
        lambda n: "%FTD-5-711001: inbound permit rule, SPI " + "1" * n,
    ),
    # This box: %SYS restarts and resource messages, ASA startup (kb.formats._box)
    Shape("box", "MALLOCFAIL text", lambda n: "%SYS-2-MALLOCFAIL: " + "a" * n),
    Shape("box", "repeated tags", lambda n: run("%SYS-5-RESTART: ", n)),
    Shape("box", "QFP text", lambda n: "%IOSXE_QFP-2-LOAD_EXCEED: " + " " * n + "x"),
    Shape("box", "ASA startup", lambda n: "%ASA-6-199002: " + "a" * n),
    # An operator's session (kb.transcripts): clears typed at a prompt
    Shape("operator clear", "prompt characters", lambda n: "a" * n + "#clear cr sa"),
    Shape("operator clear", "spaces before #", lambda n: "a" + " " * n + "#clear cr sa"),
    Shape("operator clear", "repeated cle", lambda n: "HQ#" + run("cle ", n) + "clear cr"),
    Shape("operator clear", "repeated crypto", lambda n: "HQ#clear " + run("cr ", n)),
    Shape("operator clear", "object word", lambda n: "HQ#clear cr s" + "a" * n),
    Shape("operator clear", "repeated peer", lambda n: "HQ#clear cr sa " + run("peer ", n)),
    Shape("operator clear", "peer address", lambda n: "HQ#clear cr sa peer " + run("1.", n)),
    Shape("operator clear", "FortiGate", lambda n: "F # diag " + run("vpn tun ", n)),
    Shape("operator clear", "prompts", lambda n: run("a#", n) + "clear cr sa"),
    # packet-capture drops and drop counters (ASA asp-drop, IOS-XE QFP)
    Shape(
        "drops",
        "capture number",
        lambda n: "1" * n + ": 0 1.1.1.1 > 1.1.1.1: Drop-reason: (sp-invalid-spi) Invalid SPI",
    ),
    Shape(
        "drops",
        "capture address",
        lambda n: "1: 00:00:00.1 " + run("1.", n) + " Drop-reason: (spi) Invalid SPI",
    ),
    Shape("drops", "repeated reason", lambda n: run("Drop-reason: (", n) + "Invalid SPI"),
    Shape("drops", "reason word", lambda n: "Drop-reason: (" + "a" * n + "spi Invalid SPI"),
    Shape("drops", "counter label", lambda n: "Invalid SPI " + "a" * n + " (x) 1"),
    Shape("drops", "repeated counter", lambda n: run("Invalid SPI (", n)),
    Shape("drops", "counter digits", lambda n: "Invalid SPI (x) " + "1" * n + " x"),
    Shape("drops", "QFP reason", lambda n: "1 " + "A" * n + "_SPI 1"),
    Shape("drops", "QFP words", lambda n: run("IN_SPI ", n) + "x"),
    # debug ip nat, and the process named under a %SYS error
    Shape("NAT debug", "repeated phrase", lambda n: run("NAT: s=", n)),
    Shape("NAT debug", "address", lambda n: "NAT: s=" + run("1.", n)),
    Shape("NAT debug", "NAT words", lambda n: run("NAT*", n) + ": s=1.1.1.1->1.1.1.1, d="),
    Shape("NAT debug", "arrows", lambda n: "NAT: s=1.1.1.1" + run("->", n)),
    Shape("process", "repeated phrase", lambda n: run("-Process=", n)),
    Shape("process", "open quote", lambda n: '-Process= "' + "a" * n),
    Shape("PAN-OS", "repeated phrase", lambda n: run("can't find sa for proto ESP spi ", n)),
    Shape("PAN-OS", "hex SPI", lambda n: "can't find sa for proto ESP spi 0x" + "1" * n),
    Shape("PAN-OS", "spaces", lambda n: f"can't find sa{' ' * n}x"),
    Shape("PAN-OS", "repeated deleted SA", lambda n: run("Deleted SA: ", n) + "SPI:"),
    Shape("PAN-OS", "deleted SA address", lambda n: "Deleted SA: " + run("1.", n) + " SPI:"),
    Shape(
        "PAN-OS",
        "deleted SA digits",
        lambda n: "Deleted SA: 1.1.1.1[500]-1.1.1.1[500] SPI:0x" + "A" * n,
    ),
    Shape(
        "PAN-OS",
        "deleted SAs then a lost one",
        lambda n: (
            run("Deleted SA: 1.1.1.1[500]-2.2.2.2[500] SPI:0x1/0x2\n", n)
            + "can't find sa for proto ESP spi 0x2"
        ),
        PASTE,
    ),
    Shape("PFKEY", "repeated IKE packet", lambda n: run("RECV PKT [", n) + "SPI"),
    Shape("PFKEY", "IKE exchange name", lambda n: "RECV PKT [" + "A" * n + "SPI"),
    Shape("PFKEY", "IKE packet address", lambda n: "RECV PKT [A] [" + run("1.", n) + "SPI"),
    Shape(
        "PFKEY",
        "IKE packets at one moment",
        lambda n: (
            run("Jul 25 22:35:53 RECV PKT [X] [1.1.1.1]:500->[2.2.2.2]:500 InitSPI=1\n", n)
            + "Jul 25 22:35:53 Received PFKEY Invalid SPI for SPI 0x1"
        ),
        PASTE,
    ),
    Shape("ScreenOS", "spaces", lambda n: f"received a packet with a bad SPI.{' ' * n}x"),
    Shape(
        "ScreenOS",
        "repeated phrase",
        lambda n: run("received a packet with a bad SPI. 1.1.1.1->", n),
    ),
    Shape("ScreenOS", "address", lambda n: "received a packet with a bad SPI. " + run("1.", n)),
    Shape("ScreenOS", "repeated replay phrase", lambda n: run("Replay packet detected From ", n)),
    Shape(
        "ScreenOS",
        "replay address",
        lambda n: "Replay packet detected on IPSec tunnel! From " + run("1.", n) + " ESP",
    ),
    Shape("SA endpoints", "repeated phrase", lambda n: run("local crypto endpt.: ", n)),
    Shape(
        "SA endpoints",
        "address",
        lambda n: "local crypto endpt.: " + run("1.", n) + ", remote crypto endpt.: 1.1.1.1",
    ),
    Shape(
        "SA endpoints",
        "lines waiting for a peer",
        lambda n: (
            run(
                "%PIX-4-402101: decaps: rec'd IPSEC packet has invalid spi for destaddr=1.1.1.1, "
                "prot=50, spi=0x1\n",
                n,
            )
            + "local crypto endpt.: 1.1.1.1, remote crypto endpt.: 2.2.2.2"
        ),
        PASTE,
    ),
    Shape("drops", "SA counters", lambda n: run("#pkts invalid sa (rcv): ", n)),
    Shape("drops", "SA counter digits", lambda n: "#pkts replay failed (rcv): " + "1" * n),
    Shape("FortiGate fields", "one word", lambda n: FORTI + "a" * n),
    Shape("FortiGate fields", "keys", lambda n: FORTI + run("a=", n)),
    Shape("FortiGate fields", "open double quotes", lambda n: FORTI + run('a="', n)),
    Shape("FortiGate fields", "open quotes of both kinds", lambda n: run("a=\"x b='x ", n) + FORTI),
    Shape("FortiGate fields", "equals signs", lambda n: FORTI + "=" * n),
    Shape("FortiGate fields", "time digits", lambda n: f"{FORTI}date=2020-01-01 time={'1' * n}"),
    Shape("FortiGate fields", "SPI digits", lambda n: f"{FORTI}spi={'f' * n}"),
    Shape("FortiGate fields", "address digits", lambda n: f"{FORTI}remip={'1' * n}"),
    Shape("FortiGate fields", "detail keys", lambda n: FORTI + run("vpntunnel=", n)),
    Shape("FortiGate fields", "HA, one word", lambda n: FORTI_HA + "a" * n),
    Shape("FortiGate fields", "HA, keys", lambda n: FORTI_HA + run('ha_role="', n)),
    Shape("FortiGate fields", "deny, ports", lambda n: FORTI_DENY + run("dstport=500 ", n)),
    Shape("FortiGate fields", "deny, open quotes", lambda n: FORTI_DENY + run('proto="', n)),
    Shape("FortiGate fields", "tunnel status, keys", lambda n: run("action=tunnel-down ", n)),
    # Behind a tag, so that the scanner reads these lines too (it reads only marked lines).
    *_tagged(
        "Slack entities",
        "%CRYPTO-4-RECVD_PKT_INV_SPI: ",
        {
            "angle brackets": lambda n: "<" * n,
            "open links": lambda n: run("<http:", n),
            "mention": lambda n: "<@" + "U" * n,
            "label": lambda n: "<http://x|" + "a" * n,
            "open labels": lambda n: run("<!here|", n),
            "ampersands": lambda n: "&" * n,
            "character references": lambda n: run("&#", n),
            "huge character reference": lambda n: f"&#{'1' * n};",
            "zero-padded character reference": lambda n: f"&#{'0' * n}1;",
        },
    ),
    *_tagged(
        "clean_line =",
        "%CRYPTO-4-RECVD_PKT_INV_SPI: ",
        {
            "spaces": lambda n: " " * n + "x",
            "spaces, then =": lambda n: " " * n + "=",
            "space-equals pairs": lambda n: run(" =", n),
            "equals-space pairs": lambda n: run("= ", n),
            "equals between spaces": lambda n: f"destaddr{' ' * (n // 2)}={' ' * (n // 2)}1.1.1.1",
            "mixed": lambda n: run("a = = b ", n),
        },
    ),
    Shape(
        "wrap-join",
        "lines ending in 'for'",
        lambda n: run(
            "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for\n", n
        ),
        PASTE,
    ),
    Shape("wrap-join", "commas", lambda n: "%CRYPTO-4-RECVD_PKT_INV_SPI: " + "," * n, PASTE),
    Shape(
        "wrap-join",
        "lines cut short after 'spi'",
        lambda n: run(
            "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi\n", n
        ),
        PASTE,
    ),
    Shape(
        "wrap-join",
        "repeated 'for'",
        lambda n: "%CRYPTO-4-RECVD_PKT_INV_SPI: " + run("for", n),
        PASTE,
    ),
    Shape(
        "wrap-join",
        "long continuation",
        lambda n: (
            f"%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for\n{'x' * n}"
        ),
        PASTE,
    ),
    Shape("scan markers", "SP", lambda n: run("SP", n), PASTE),
    Shape("scan markers", "tags", lambda n: run("%CRYPTO", n), PASTE),
    Shape("scan markers", "newlines", lambda n: "\n" * n, PASTE),
    Shape("scan markers", "SPI lines", lambda n: run("SPI\n", n), PASTE),
    Shape("scan markers", "FortiGate HA ids", lambda n: run('logid="0108', n), PASTE),
    Shape("scan markers", "FortiGate HA lines", lambda n: run('logid="0108\n', n), PASTE),
    Shape("scan markers", "IKE ports", lambda n: run("dstport=500 ", n), PASTE),
    Shape("scan markers", "local-in lines", lambda n: run("local-in-policy\n", n), PASTE),
    Shape("scan markers", "ACL phrase", lambda n: run("%SEC-6-IPACCESSLOGP: list ", n), PASTE),
    Shape("scan markers", "ACL name", lambda n: "%SEC-6-IPACCESSLOGP: list " + "a" * n, PASTE),
    Shape("scan markers", "marker at the end of a long line", lambda n: "x" * n + IOS, PASTE),
    Shape("scan markers", "invalid-SPI lines", lambda n: run(IOS + "\n", n), PASTE),
    # kb.formats.fast_line: each run its pattern touches, as long as the input allows
    Shape("one match", "PRI sequence", lambda n: "<189>" + "1" * n + ": Mar  3 09:14:02: " + IOS),
    Shape("one match", "stamp spaces", lambda n: "Mar" + " " * n + "3 09:14:02: " + IOS),
    Shape("one match", "spaces after the stamp", lambda n: f"Mar  3 09:14:02:{' ' * n}{IOS}"),
    Shape("one match", "ISO host", lambda n: f"2024-03-03T09:14:02Z {'a' * n} {IOS}"),
    Shape("one match", "interface", lambda n: f"{IOS}, input interface={'G' * n}"),
    Shape("one match", "ASA tail of spaces", lambda n: ASA + " " * n),
    Shape("one match", "ASA tail of words", lambda n: ASA + run(" a", n) + " "),
    Shape("one match", "sequence number", lambda n: ASA.replace("0x1A", "1" * n)),
    # kb/_lines.c: what a line of the noisy families is searched for (markers._noisy_is_read),
    # each as often as the line allows; and the commonest lines read whole, framing included
    *_tagged(
        "noisy lines (C)",
        "%SEC-6-IPACCESSLOGP: list A ",
        {
            "IOS UDP denies, no port": lambda n: run("denied udp ", n),
            "IOS denies": lambda n: run("denied ", n),
        },
    ),
    *_tagged(
        "noisy lines (C)",
        "%ASA-4-106023: ",
        {
            "ASA UDP denies, no port": lambda n: run("Deny udp src ", n),
            "ASA protocol denies": lambda n: run("deny protocol udp src ", n),
            "dashes and digits": lambda n: run("-4-", n),
            "tag words": lambda n: run("-4-" + "A" * 30, n),
            "ASA tags": lambda n: run("%ASA-4-1 ", n),
            "broken ASA tags": lambda n: run("%ASA-", n),
            "ampersands and brackets": lambda n: run("&<", n),
            "carriage returns": lambda n: run("\r ", n),
        },
    ),
    Shape(
        "noisy lines (C)",
        "ACL lines",
        lambda n: run("%SEC-6-IPACCESSLOGP: list A denied udp\n", n),
        PASTE,
    ),
    Shape(
        "noisy lines (C)",
        "framed fast lines",
        lambda n: run("Mar  3 09:14:02: " + IOS + "\n", n),
        PASTE,
    ),
]
