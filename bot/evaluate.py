"""`spibot eval DIR`: the one pipeline scored against a folder of labelled cases (kb/evaluate.py),
rendered for a terminal or as JSON. Registers on the `spibot` group of bot/cli.py."""

from __future__ import annotations

import sys

import click

from bot.cli import EXIT_USAGE, main, print_json
from bot.text import shown
from kb.article import ArticleError, load_articles
from kb.evaluate import TOP, CaseResult, Ranked, Report, Tally, evaluate
from kb.labels import LabelError

EXIT_BELOW = 1  # top-1 below --min-top1

EVAL_HELP = """
Exit codes: 0 done (and top-1 at or above --min-top1); 1 top-1 below --min-top1;
2 usage error, invalid labels.json (one line per problem, naming the case) or invalid article.
"""


def _percentage(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is None:
        return None
    if not 0 <= value <= 100:
        raise click.BadParameter("a percentage, from 0 to 100", ctx, param)
    if 0 < value < 1:
        raise click.BadParameter(
            f"a percentage, from 0 to 100: {value:g} means {value:g} %, did you mean "
            f"{value * 100:g}?",
            ctx,
            param,
        )
    return value


@main.command("eval", epilog=EVAL_HELP)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
@click.option(
    "--min-top1",
    type=float,
    metavar="PERCENT",
    callback=_percentage,
    help="Exit 1 when top-1 accuracy is below PERCENT (0-100, e.g. 62 for 62 %).",
)
@click.option(
    "--articles",
    "articles_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Score these article files (*.md) instead of the bundled ones.",
)
def eval_(directory: str, as_json: bool, min_top1: float | None, articles_dir: str | None):
    """Score the diagnosis against the labelled cases in DIRECTORY (DIRECTORY/labels.json).

    Each case (a *.txt paste, or a folder whose files are read as one paste) is diagnosed as
    `spibot diagnose FILE --no-record` would, in a new empty database of its own: your
    database is never opened and no case sees another's history. Prints top-1 and top-3
    accuracy overall, per cause and per platform, how often the busiest peer, its SPI and the
    platform are right, how often the cause confirmed from device state and the findings are
    the label's (`confirmed`, `findings`), a confusion table, and every miss with its top
    three and source.
    To see whether an edit to the articles helped, run it with --articles on the edited copy.
    """
    try:
        articles = load_articles(articles_dir) if articles_dir else None
        report = evaluate(directory, articles)
    except (ArticleError, LabelError) as exc:
        problems = exc.problems if isinstance(exc, LabelError) else [str(exc)]
        for problem in problems:
            click.echo(f"error: {shown(problem)}", err=True)
        sys.exit(EXIT_USAGE)
    below = min_top1 is not None and not report.meets(min_top1)
    if as_json:
        doc = report.to_dict()
        doc["min_top1"] = min_top1
        doc["passed"] = None if min_top1 is None else not below
        print_json(doc)
    else:
        click.echo(render(report, articles_dir), nl=False)
    if below:
        overall = report.overall()
        click.echo(
            f"error: top-1 {overall.top1}/{overall.n} ({Tally.pct(overall.top1, overall.n):g} %) "
            f"is below --min-top1 {min_top1:g} %",
            err=True,
        )
        sys.exit(EXIT_BELOW)


def render(report: Report, articles_dir: str | None = None) -> str:
    """The report as an engineer reads it in a terminal."""
    overall = report.overall()
    n = overall.n
    multi, per_peer = report.multi_peer()
    articles = f"the articles in {articles_dir}" if articles_dir else "the bundled articles"
    out = [
        shown(
            f"spibot eval {report.directory}: {n} case(s), {articles}, each case in a new "
            "empty in-memory database"
        ),
        "",
        f"top-1                       {_count(overall.top1, n)}",
        f"top-3                       {_count(overall.top3, n)}",
        f"busiest peer and SPI right  {_count(report.peer_spi_right(), n)}",
        f"platform right              {_count(report.platform_right(), n)}",
    ]
    confirmed, right = report.confirmed_right()
    if confirmed:
        out.append(f"confirmed from device state {_count(right, confirmed)}")
    findings, right = report.findings_right()
    if findings:
        out.append(f"findings from device state  {_count(right, findings)}")
    if multi:
        out.append(_multi_peer_line(multi, per_peer))
    out += ["", "Per cause (each labelled peer of a multi-peer case counts under its own causes;"]
    out += ["a case that accepts two causes counts under both):"]
    out += _table("cause", report.per_cause())
    out += ["", "Per platform (cases):"]
    out += _table("platform", report.per_platform())
    out += ["", "Confusion (expected cause(s) -> the top-1 cause given, counts; same rows as"]
    out += ["per cause; x = a miss; 'nothing' = no invalid-SPI line recognised):"]
    out += _confusion(report)
    misses = report.misses()
    out += [
        "",
        f"Misses: {len(misses)} case(s) whose top cause is not one the label accepts, or whose "
        "confirmation from device state is not the label's",
    ]
    for case in misses:
        out += _miss(case)
    wrong = report.wrong_fields()
    out += ["", f"Busiest peer, SPI or platform wrong: {len(wrong)} case(s)"]
    out += [_wrong(case) for case in wrong]
    return "\n".join(out) + "\n"


def _count(part: int, whole: int) -> str:
    return f"{part:>3}/{whole:<3} {Tally.pct(part, whole):5.1f} %"


def _multi_peer_line(multi: int, per_peer: int) -> str:
    if per_peer == multi:
        return f"multi-peer cases: {multi}, each labelled peer scored against its own ranking"
    if per_peer == 0:
        return (
            f"multi-peer cases: {multi}, each labelled peer scored against the paste's one "
            "ranking (the diagnosis does not rank peers one by one)"
        )
    return (
        f"multi-peer cases: {multi}, {per_peer} scored per peer, {multi - per_peer} against the "
        "paste's one ranking (no per-peer rankings in their diagnosis)"
    )


def _table(title: str, tallies: dict[str, Tally]) -> list[str]:
    out = [f"  {title:<20} {'n':>3}   {'top-1':<15}   top-3"]
    for name, t in tallies.items():
        out.append(shown(f"  {name:<20} {t.n:>3}   {_count(t.top1, t.n)}   {_count(t.top3, t.n)}"))
    return out


def _confusion(report: Report) -> list[str]:
    rows = report.confusion()
    width = max([len("expected"), *(len(" | ".join(e)) for e, _, _ in rows)])
    out = [f"  {'expected':<{width}}  {'top-1 given':<20} {'n':>3}"]
    previous = None
    for expected, got, count in rows:
        name = " | ".join(expected) if expected != previous else ""
        mark = "" if got in expected else "  x"
        out.append(shown(f"  {name:<{width}}  {got or 'nothing':<20} {count:>3}{mark}"))
        previous = expected
    return out


def _ranking(ranking: list[Ranked]) -> str:
    return ", ".join(f"{r.id} {r.score:.1f}" for r in ranking[:TOP]) or "nothing ranked"


def _where(rank: int | None) -> str:
    return "no accepted cause ranked" if rank is None else f"best accepted cause at #{rank}"


def _miss(case: CaseResult) -> list[str]:
    label = case.label
    kind = ", multi-peer" if case.peers else ""
    out = [
        "",
        shown(f"- {label.case} [{label.platform}{kind}]"),
        shown(f"    expected: {' | '.join(label.top1)}"),
    ]
    if case.found:
        out.append(
            shown(f"    top {TOP}:    {_ranking(case.ranking)} ({_where(case.expected_rank)})")
        )
    else:
        out.append("    top 3:    nothing: no invalid-SPI line was recognised")
    for p in case.peers:
        against = "own ranking" if p.ranked_alone else "the paste's ranking"
        verdict = "right" if p.top1_hit else f"WRONG, {_where(p.expected_rank)}"
        out.append(
            shown(
                f"    peer {p.peer}: expects {' | '.join(p.expected)}; {against}: "
                f"{_ranking(p.ranking)}: {verdict}"
            )
        )
    out += _state_miss(case)
    out.append(shown(f"    source:   {label.source}"))
    return out


def _state_miss(case: CaseResult) -> list[str]:
    """The confirmation and findings lines of a miss, when the label scores them."""
    label, out = case.label, []
    if case.confirmed_right is not None:
        expected = " | ".join(label.confirmed) if label.confirmed else "nothing confirmed"
        got = case.confirmed or ("a cause below the top" if case.any_confirmed else "nothing")
        verdict = "right" if case.confirmed_right else "WRONG"
        out.append(shown(f"    confirmed: expected {expected}; got {got}: {verdict}"))
    if case.findings_right is not None:
        got = ", ".join(case.findings) or "none"
        verdict = "right" if case.findings_right else "WRONG"
        out.append(
            shown(f"    findings: expected {', '.join(label.findings)}; got {got}: {verdict}")
        )
    return out


def _wrong(case: CaseResult) -> str:
    label, parts = case.label, []
    if not case.peer_right:
        parts.append(f"peer {_or_unknown(label.peer)}, got {_or_unknown(case.peer)}")
    if not case.spi_right:
        parts.append(f"SPI {_or_unknown(label.spi)}, got {_or_unknown(case.spi)}")
    if not case.platform_right:
        parts.append(f"platform {label.platform}, got {_or_unknown(case.platform)}")
    return shown(f"  {label.case}: " + "; ".join(parts))


def _or_unknown(value: str | None) -> str:
    return value if value is not None else "unknown"
