"""`spibot eval DIR`: labelled cases scored through the one pipeline (kb/evaluate.py,
kb/labels.py, bot/evaluate.py)."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from kb.article import ARTICLES_DIR, load_articles
from kb.evaluate import Report, evaluate, score
from kb.labels import Label, LabelError, load_labels
from tests.conftest import PASTES, ROOT, spibot

CASES = ROOT / "tests" / "cases"
CAUSES = [a.id for a in load_articles()]
SOURCE = "kb/examples (a shipped example paste)"
# Three cases from the shipped example pastes: two right, one labelled wrong on purpose.
LABELS = {
    "out-of-sync.txt": {
        "top1": ["sa-out-of-sync"],
        "peer": "198.51.100.7",
        "spi": "0x5A3D1F2C",
        "platform": "ios",
        "source": SOURCE,
    },
    "failover/": {
        "top1": ["ha-failover"],
        "peer": "203.0.113.77",
        "spi": "0x0BADF00D",
        "platform": "ios",
        "source": SOURCE,
    },
    "single-line.txt": {
        "top1": ["software-defect"],
        "peer": "198.51.100.44",
        "spi": "0x1F00BA77",
        "platform": "ios",
        "source": "a deliberate miss: one rekey-race line labelled as a defect",
    },
}


def make_cases(root: Path, labels: dict | None = None) -> Path:
    """A tiny labelled folder: two pastes, and one split over two files of a sub-folder."""
    root.mkdir(exist_ok=True)
    shutil.copy(PASTES / "out-of-sync.txt", root / "out-of-sync.txt")
    shutil.copy(PASTES / "rekey-race.txt", root / "single-line.txt")
    lines = (PASTES / "ha-failover.txt").read_text().splitlines(keepends=True)
    (root / "failover").mkdir()
    (root / "failover" / "1-hsrp.log").write_text(lines[0].rstrip("\n"))  # no final newline
    (root / "failover" / "2-crypto.log").write_text("".join(lines[1:]))
    (root / "labels.json").write_text(json.dumps(labels or LABELS, indent=2))
    return root


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    return make_cases(tmp_path / "cases")


def test_counts_per_cause_per_platform_and_confusion(cases: Path) -> None:
    report = evaluate(cases)
    overall = report.overall()
    assert (overall.n, overall.top1, overall.top3) == (3, 2, 2)
    assert report.peer_spi_right() == 3 and report.platform_right() == 3
    per_cause = {c: (t.n, t.top1) for c, t in report.per_cause().items()}
    assert per_cause == {"ha-failover": (1, 1), "sa-out-of-sync": (1, 1), "software-defect": (1, 0)}
    assert {p: (t.n, t.top1) for p, t in report.per_platform().items()} == {"ios": (3, 2)}
    confusion = {(e, got): n for e, got, n in report.confusion()}
    assert confusion[(("sa-out-of-sync",), "sa-out-of-sync")] == 1
    assert confusion[(("ha-failover",), "ha-failover")] == 1
    [got] = [got for e, got, _ in report.confusion() if e == ("software-defect",)]
    assert got not in (None, "software-defect")
    assert [c.label.case for c in report.misses()] == ["single-line.txt"]


def test_a_folder_is_one_paste_read_in_name_order(cases: Path) -> None:
    [failover] = [c for c in evaluate(cases).cases if c.label.case == "failover/"]
    # The HSRP line of the first file has no final newline: it still stands on its own line
    # and comes before the invalid SPI, so the failover is seen.
    assert failover.top1 == "ha-failover" and failover.peer == "203.0.113.77"


def test_text_report_lists_every_table_and_the_miss_with_its_top_three(cases: Path) -> None:
    result = spibot("eval", str(cases))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^top-1 +2/3 +66\.7 %$", out, re.M)
    assert re.search(r"^top-3 +2/3 +66\.7 %$", out, re.M)
    assert re.search(r"^busiest peer and SPI right +3/3 +100\.0 %$", out, re.M)
    assert re.search(r"^  software-defect +1 +0/1 +0\.0 % +0/1 +0\.0 %$", out, re.M)
    assert re.search(r"^  ios +3 +2/3 +66\.7 % +2/3 +66\.7 %$", out, re.M)
    assert re.search(r"^  sa-out-of-sync +sa-out-of-sync +1$", out, re.M)
    assert re.search(r"^  software-defect +[a-z-]+ +1  x$", out, re.M)
    miss = out[out.index("Misses: 1 case(s)") :]
    assert "- single-line.txt [ios]" in miss and "expected: software-defect" in miss
    top3 = re.search(r"top 3: +(.*) \(", miss).group(1)
    assert re.fullmatch(r"[a-z-]+ -?\d+\.\d, [a-z-]+ -?\d+\.\d, [a-z-]+ -?\d+\.\d", top3)
    assert "source:   a deliberate miss" in miss
    assert "Busiest peer, SPI or platform wrong: 0 case(s)" in out


def test_json_report(cases: Path) -> None:
    result = spibot("eval", str(cases), "--json", "--min-top1", "60")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"totals", "per_cause", "per_platform", "confusion", "cases", "misses"} <= set(doc)
    assert doc["totals"]["n"] == 3 and doc["totals"]["top1"] == 2
    assert doc["min_top1"] == 60 and doc["passed"] is True
    assert doc["per_platform"]["ios"] == {
        "n": 3,
        "top1": 2,
        "top1_pct": 66.7,
        "top3": 2,
        "top3_pct": 66.7,
    }
    [miss] = doc["misses"]
    assert miss["case"] == "single-line.txt" and miss["expected"] == ["software-defect"]
    assert len(miss["top3"]) == 3 and set(miss["top3"][0]) == {"id", "score"}
    assert miss["peer"] == {"expected": "198.51.100.44", "got": "198.51.100.44", "right": True}
    assert {"expected", "top1", "count"} == set(doc["confusion"][0])


@pytest.mark.parametrize(("threshold", "code"), [("66", 0), ("66.7", 1), ("100", 1), ("0", 0)])
def test_min_top1_is_a_percentage(cases: Path, threshold: str, code: int) -> None:
    result = spibot("eval", str(cases), "--min-top1", threshold)
    assert result.returncode == code, result.stderr
    if code:
        assert result.stderr.strip().splitlines() == [
            f"error: top-1 2/3 (66.7 %) is below --min-top1 {float(threshold):g} %"
        ]


@pytest.mark.parametrize("threshold", ["0.9", "101", "-1"])
def test_min_top1_outside_a_percentage_is_a_usage_error(cases: Path, threshold: str) -> None:
    result = spibot("eval", str(cases), "--min-top1", threshold)
    assert result.returncode == 2 and "percentage" in result.stderr


def _broken(change: dict) -> dict:
    labels = json.loads(json.dumps(LABELS))
    for case, fields in change.items():
        labels[case].update(fields)
    return labels


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"single-line.txt": {"top1": ["bad-luck"]}},
            "labels.json: single-line.txt: top1: unknown cause id(s) bad-luck (known: ",
        ),
        ({"out-of-sync.txt": {"spi": "0x5a3d1f2c"}}, "out-of-sync.txt: spi '0x5a3d1f2c' is not"),
        ({"out-of-sync.txt": {"platform": "junos"}}, "out-of-sync.txt: unknown platform 'junos'"),
        ({"out-of-sync.txt": {"peer": "198.51.100.8"}}, "198.51.100.8 does not appear in the"),
    ],
)
def test_a_label_error_is_one_line_naming_the_case(
    tmp_path: Path, change: dict, message: str
) -> None:
    cases = make_cases(tmp_path / "cases", _broken(change))
    result = spibot("eval", str(cases))
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: labels.json: ") and message in line


def test_a_missing_file_is_a_label_error(cases: Path) -> None:
    (cases / "out-of-sync.txt").unlink()
    result = spibot("eval", str(cases), "--json")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: labels.json: out-of-sync.txt: file or folder ")
    assert line.endswith("does not exist")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    labels = _broken({"single-line.txt": {"top1": ["nope"]}, "failover/": {"spi": "BADF00D"}})
    cases = make_cases(tmp_path / "cases", labels)
    (cases / "forgotten.txt").write_text("not labelled\n")
    with pytest.raises(LabelError) as caught:
        load_labels(cases, CAUSES)
    assert [p.split(": ")[1] for p in caught.value.problems] == [
        "failover/",
        "single-line.txt",
        "forgotten.txt",
    ]


def test_edited_articles_are_scored_with_articles(cases: Path, tmp_path: Path) -> None:
    # The workflow of a team that edits its articles: score the edited copy before syncing.
    edited = tmp_path / "articles"
    shutil.copytree(ARTICLES_DIR, edited)
    article = edited / "software-defect.md"
    article.write_text(article.read_text().replace("prior: 0.1\n", "prior: 50\n", 1))
    doc = json.loads(spibot("eval", str(cases), "--json", "--articles", str(edited)).stdout)
    assert doc["per_cause"]["software-defect"]["top1"] == 1
    assert doc["per_cause"]["sa-out-of-sync"]["top1"] == 0


# -- multi-peer cases, scored on diagnoses whose shape is known ------------------------------


def _label(**peers: list[str]) -> Label:
    first = next(iter(peers))
    return Label(
        case="hub.txt",
        top1=tuple(peers[first]),
        peer=first,
        spi="0x00000001",
        platform="ios",
        source=SOURCE,
        peers={p: tuple(c) for p, c in peers.items()},
    )


def _causes(*ids: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(id=c, score=float(10 - n)) for n, c in enumerate(ids)]


def _diagnosis(paste_ranking: list[str], peers: object = None, in_json: object = None):
    """A stand-in for kb.diagnose.Diagnosis with the fields kb.evaluate reads."""
    doc = {} if in_json is None else {"peers": in_json}
    found = SimpleNamespace(
        groups=[SimpleNamespace(peer="192.0.2.1", spi="0x00000001")],
        causes=_causes(*paste_ranking),
        peer="192.0.2.1",
        platform="ios",
        to_dict=lambda: doc,
    )
    if peers is not None:
        found.peers = peers
    return found


THREE = _label(
    **{"192.0.2.1": ["sa-out-of-sync"], "192.0.2.2": ["rekey-race"], "192.0.2.3": ["ha-failover"]}
)
PASTE = ["sa-out-of-sync", "rekey-race", "ha-failover", "packet-loss"]


def test_without_per_peer_rankings_each_peer_is_scored_on_the_paste_ranking() -> None:
    result = score(THREE, _diagnosis(PASTE))
    assert result.per_peer is False
    assert [(p.ranked_alone, p.top1_hit, p.top3_hit) for p in result.peers] == [
        (False, True, True),
        (False, False, True),
        (False, False, True),
    ]
    assert not result.top1_hit and result.top3_hit
    report = Report("x", CAUSES, [result])
    assert report.multi_peer() == (1, 0)
    assert {c: t.top1 for c, t in report.per_cause().items()} == {
        "ha-failover": 0,
        "rekey-race": 0,
        "sa-out-of-sync": 1,
    }
    assert report.to_dict()["cases"][0]["scored_per_peer"] is False


def test_per_peer_rankings_from_the_diagnosis_attribute() -> None:
    peers = [
        SimpleNamespace(peer="192.0.2.1", causes=_causes("sa-out-of-sync", "rekey-race")),
        SimpleNamespace(peer="192.0.2.2", causes=_causes("rekey-race", "sa-out-of-sync")),
        SimpleNamespace(peer="192.0.2.3", causes=_causes("ha-failover", "rekey-race")),
    ]
    result = score(THREE, _diagnosis(PASTE, peers=peers))
    assert result.per_peer is True and result.top1_hit
    assert all(p.ranked_alone for p in result.peers)
    confusion = Report("x", CAUSES, [result]).confusion()
    assert sorted((e[0], got) for e, got, _ in confusion) == [
        ("ha-failover", "ha-failover"),
        ("rekey-race", "rekey-race"),
        ("sa-out-of-sync", "sa-out-of-sync"),
    ]


def test_per_peer_rankings_from_the_json_shape() -> None:
    in_json = [
        {"peer": "192.0.2.1", "causes": [{"id": "sa-out-of-sync", "score": 3.0}]},
        {"peer": "192.0.2.2", "causes": [{"id": "packet-loss", "score": 2.0}]},
    ]
    result = score(THREE, _diagnosis(PASTE, in_json=in_json))
    assert result.per_peer is True
    assert [p.top1_hit for p in result.peers] == [True, False, False]
    # 192.0.2.2 ranked on its own but wrongly; 192.0.2.3 not ranked on its own at all: misses
    assert [p.top3_hit for p in result.peers] == [True, False, False]
    assert result.peers[2].ranking == []


def test_a_peers_attribute_of_another_shape_is_not_mistaken_for_rankings() -> None:
    result = score(THREE, _diagnosis(PASTE, peers=["192.0.2.1", "192.0.2.2"]))
    assert result.per_peer is False


# -- the labelled set of the repository ------------------------------------------------------


def test_the_labelled_set_runs_through_the_real_cli() -> None:
    # No accuracy threshold here: CI's ratchet is in scripts/test (--min-top1).
    result = spibot("eval", str(CASES), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["totals"]["n"] == len(doc["cases"]) == 76
    assert sum(t["n"] for t in doc["per_platform"].values()) == 76
    assert doc["totals"]["confirmed"]["n"] == 18


def test_the_labelled_set_meets_the_minimums_of_issue_10() -> None:
    labels = load_labels(CASES, CAUSES)
    per_cause: Counter[str] = Counter()
    for label in labels:
        per_cause.update(set(label.top1).union(*label.peers.values()))
    single = [
        label
        for label in labels
        if (CASES / label.case).is_file()
        and len([ln for ln in (CASES / label.case).read_text().splitlines() if ln.strip()]) == 1
    ]
    assert len(labels) >= 50
    assert {c: n for c, n in per_cause.items() if n < 3} == {}
    assert set(per_cause) == set(CAUSES)
    assert {label.platform for label in labels} == {
        "ios",
        "asa",
        "ftd",
        "pix",
        "fortigate",
        "panos",
        "screenos",
    }
    assert len(single) >= 10
    assert sum(label.multi_peer for label in labels) >= 10


# -- confirmation from device state (issue 11), scored on stand-in diagnoses -----------------


def _state_label(confirmed: list[str] | None, findings: tuple[str, ...] = ()) -> Label:
    return Label(
        case="two-ends/",
        top1=("sa-out-of-sync", "rekey-race"),
        peer="192.0.2.1",
        spi="0x00000001",
        platform="ios",
        source=SOURCE,
        confirmed=None if confirmed is None else tuple(confirmed),
        findings=findings,
    )


def _confirming(top: str, confidence: str = "confirmed", kinds: tuple[str, ...] = (), **more):
    """A diagnosis whose top cause carries `confidence` and which holds findings of `kinds`."""
    diagnosis = _diagnosis([top, "packet-loss"])
    diagnosis.causes[0].confidence = confidence
    diagnosis.causes[1].confidence = more.get("second", "unlikely")
    diagnosis.findings = [
        SimpleNamespace(kind=k, cause=top, peer="192.0.2.1", text="...", proof=["hub: line 1"])
        for k in kinds
    ]
    return diagnosis


@pytest.mark.parametrize(
    ("confirmed", "diagnosis", "got", "right"),
    [
        (["sa-out-of-sync"], _confirming("sa-out-of-sync"), "sa-out-of-sync", True),
        (["sa-out-of-sync"], _confirming("sa-out-of-sync", "strong"), None, False),
        (["sa-out-of-sync"], _confirming("rekey-race"), "rekey-race", False),
        (["sa-out-of-sync", "rekey-race"], _confirming("rekey-race"), "rekey-race", True),
        ([], _confirming("rekey-race", "likely"), None, True),
        ([], _confirming("rekey-race"), "rekey-race", False),
        # a cause below the top confirmed breaks "nothing may be confirmed" too
        ([], _confirming("rekey-race", "likely", second="confirmed"), None, False),
        (None, _confirming("sa-out-of-sync"), "sa-out-of-sync", None),
    ],
)
def test_confirmed_needs_the_top_cause_listed_and_confirmed(confirmed, diagnosis, got, right):
    result = score(_state_label(confirmed), diagnosis)
    assert (result.confirmed, result.confirmed_right) == (got, right)
    assert result.to_dict()["confirmed"] == {
        "expected": confirmed,
        "got": got,
        "right": right,
    }
    assert (result in Report("x", CAUSES, [result]).misses()) is (right is False)


def test_findings_must_all_be_present() -> None:
    label = _state_label(["sa-out-of-sync"], ("confirmed", "prevention"))
    held = score(label, _confirming("sa-out-of-sync", kinds=("prevention", "confirmed", "note")))
    assert held.findings_right is True and held.findings == ["confirmed", "prevention", "note"]
    short = score(label, _confirming("sa-out-of-sync", kinds=("confirmed",)))
    assert short.findings_right is False and short.confirmed_right is True
    assert short.to_dict()["findings"] == {
        "expected": ["confirmed", "prevention"],
        "got": ["confirmed"],
        "right": False,
    }
    report = Report("x", CAUSES, [held, short])
    assert report.misses() == [short]
    totals = report.to_dict()["totals"]
    assert totals["confirmed"] == {"n": 2, "right": 2, "pct": 100.0}
    assert totals["findings"] == {"n": 2, "right": 1, "pct": 50.0}


def test_a_diagnosis_without_findings_is_read_as_confirming_nothing() -> None:
    # Today's Diagnosis (before the confirm engine): no findings, no "confirmed" confidence.
    label = _state_label(["sa-out-of-sync"], ("confirmed",))
    result = score(label, _diagnosis(["sa-out-of-sync", "rekey-race"]))
    assert result.top1_hit and result.confirmed is None and result.findings == []
    assert (result.confirmed_right, result.findings_right) == (False, False)
    unlabelled = score(THREE, _diagnosis(PASTE))
    assert unlabelled.to_dict()["confirmed"] == {"expected": None, "got": None, "right": None}
    assert unlabelled.to_dict()["findings"] == {"expected": [], "got": [], "right": None}
    totals = Report("x", CAUSES, [unlabelled]).to_dict()["totals"]
    assert totals["confirmed"] == {"n": 0, "right": 0, "pct": 0.0}


def test_the_text_report_shows_confirmation_and_lists_its_misses(cases: Path) -> None:
    labels = json.loads(json.dumps(LABELS))
    labels["out-of-sync.txt"].update(confirmed=["sa-out-of-sync"], findings=["confirmed"])
    labels["failover/"]["confirmed"] = []
    cases = make_cases(cases.parent / "with-state", labels)
    result = spibot("eval", str(cases))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # a log-only paste confirms nothing: [] is right, ["sa-out-of-sync"] is a miss
    assert re.search(r"^confirmed from device state +1/2 +50\.0 %$", out, re.M)
    assert re.search(r"^findings from device state +0/1 +0\.0 %$", out, re.M)
    miss = out[out.index("Misses: 2 case(s)") :]
    assert "- out-of-sync.txt [ios]" in miss
    assert "    confirmed: expected sa-out-of-sync; got nothing: WRONG" in miss
    assert "    findings: expected confirmed; got none: WRONG" in miss
    assert re.search(r"^top-1 +2/3 +66\.7 %$", out, re.M)  # top-1 is the ranking's alone
    doc = json.loads(spibot("eval", str(cases), "--json").stdout)
    assert doc["totals"]["confirmed"] == {"n": 2, "right": 1, "pct": 50.0}
    assert [m["case"] for m in doc["misses"]] == ["out-of-sync.txt", "single-line.txt"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"confirmed": ["bad-luck"]}, "confirmed: unknown cause id(s) bad-luck"),
        ({"confirmed": "sa-out-of-sync"}, "confirmed must be a list of cause ids"),
        ({"confirmed": ["rekey-race"]}, "confirmed: rekey-race not in top1"),
        ({"findings": ["proof"]}, "findings: unknown kind(s) proof (known: confirmed, "),
        ({"findings": []}, "findings must be a non-empty list of finding kinds"),
        ({"findings": ["note", "note"]}, "findings lists a kind twice"),
    ],
)
def test_confirmed_and_findings_labels_are_checked(tmp_path: Path, change: dict, message) -> None:
    cases = make_cases(tmp_path / "cases", _broken({"out-of-sync.txt": change}))
    with pytest.raises(LabelError) as caught:
        load_labels(cases, CAUSES)
    [problem] = caught.value.problems
    assert problem.startswith("labels.json: out-of-sync.txt: ") and message in problem


def test_confirmed_empty_and_known_findings_are_accepted(tmp_path: Path) -> None:
    change = {"failover/": {"confirmed": [], "findings": ["contradiction", "note"]}}
    labels = load_labels(make_cases(tmp_path / "cases", _broken(change)), CAUSES)
    [failover] = [lb for lb in labels if lb.case == "failover/"]
    assert failover.confirmed == () and failover.findings == ("contradiction", "note")
    assert next(lb for lb in labels if lb.case == "out-of-sync.txt").confirmed is None


# The device-state cases of issue 11: log + state from one or both ends, one folder each.
STATE_PROMPTS = {
    "ios": re.compile(r"^[\w-]+#(show|sh) (crypto|cry) (ipsec|ips) sa", re.M),
    "asa": re.compile(r"^[\w-]+# show crypto ipsec sa", re.M),
    "fortigate": re.compile(r"^[\w-]+ # diagnose vpn tunnel list", re.M),
    "panos": re.compile(r"^admin@[\w-]+> show vpn ipsec-sa", re.M),
}


def test_the_labelled_set_covers_every_confirmable_finding_of_issue_11() -> None:
    stated = [label for label in load_labels(CASES, CAUSES) if label.confirmed is not None]
    assert len(stated) >= 12
    assert all((CASES / label.case).is_dir() for label in stated)
    confirmed = {cause for label in stated for cause in label.confirmed}
    assert confirmed >= {
        "sa-out-of-sync",
        "rekey-race",
        "ha-failover",
        "lifetime-mismatch",
        "policy-mismatch",
        "nat-traversal",
    }
    kinds = {kind for label in stated for kind in label.findings}
    assert kinds == {"confirmed", "supports", "contradiction", "prevention", "note"}
    # "nothing may be confirmed" is labelled where the state cannot confirm: a contradiction,
    # a box that is neither end, the sender's view alone with one log line (beside a third box,
    # or beside the receiver's output cut short), ends in step again after a repeating log
    empty = {label.case: label.findings for label in stated if not label.confirmed}
    assert sorted(empty.values()) == [
        ("contradiction",),
        ("contradiction",),
        ("note",),
        ("note", "supports"),
        ("supports",),
        ("supports",),
        ("supports",),
    ]
    text = "\n".join(
        f.read_text() for label in stated for f in sorted((CASES / label.case).iterdir())
    )
    assert {p for p, prompt in STATE_PROMPTS.items() if prompt.search(text)} == set(STATE_PROMPTS)
    assert "--More--" in text and "```" in text
