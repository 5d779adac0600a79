"""The audit table shows what the rounds carry: each proposal's privacy spend, and scores by their metric."""

from __future__ import annotations

from rich.console import Console

from colearn_chain.audit import AuditReport, AuditRound
from colearn_chain.cli.render import render_audit
from colearn_chain.metrics import MEAN_RETURN


def _table(report: AuditReport) -> str:
    console = Console(record=True, width=240)
    render_audit(report, console)
    return console.export_text()


def test_the_round_table_has_a_dp_column_when_proposals_spent_privacy() -> None:
    rounds = [
        AuditRound(0, proposer="0xaaaa", outcome="accepted", privacy=(0.812, 1e-5)),
        AuditRound(1, proposer="0xbbbb", outcome="rejected"),
    ]
    text = _table(AuditReport("0xc", 1, "0x0", ["0xaaaa", "0xbbbb"], rounds))
    assert "DP spent by proposer (epsilon)" in text and "0.812" in text
    plain = _table(AuditReport("0xc", 1, "0x0", ["0xaaaa"], [AuditRound(0, proposer="0xaaaa")]))
    assert "DP spent" not in plain


def test_re_evaluated_scores_are_shown_in_their_metric_not_as_percentages() -> None:
    report = AuditReport("0xc", 1, "0x0", ["0xaaaa"], [AuditRound(0, proposer="0xaaaa", accuracy=187.25)])
    report.metric = MEAN_RETURN
    text = _table(report)
    assert "mean return" in text and "187.2" in text and "%" not in text
