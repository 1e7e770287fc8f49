"""The charts of the economy page, drawn from the report's own tables (so the numbers beside a
chart are the numbers it shows)."""

from django.utils.translation import gettext as _

from . import charts
from .report import Report


def draw(report: Report) -> None:
    day = report.table("revenue_by_day")
    points = [(f"{d:%m-%d}", usd) for d, _n, usd in day.rows]
    day.chart = charts.columns(day.title, _("US dollars received per day"), points)
    prov = report.table("revenue_by_provider")
    items = [(f"{p} · {c}", usd) for p, c, _n, usd in prov.rows]
    prov.chart = charts.bars(prov.title, _("US dollars received per provider and coin"), items)
    pkg = report.table("packages")
    items = [(n, usd) for n, _c, usd, _a in pkg.rows]
    pkg.chart = charts.bars(pkg.title, _("US dollars received per package"), items)
    flows = report.table("credit_flows")
    issued = [(src, v) for way, src, v in flows.rows if way == str(_("Issued"))]
    spent = [(src, v) for way, src, v in flows.rows if way == str(_("Spent"))]
    desc = _("Credits into members' accounts by source, against credits out of them by sink")
    flows.chart = charts.stacked(flows.title, desc, [(_("Issued"), issued), (_("Spent and expired"), spent)])
    owed = report.table("liability")
    parts = [(c, v) for c, v, _u in owed.rows]
    owed.chart = charts.stacked(owed.title, _("Credits members hold now, by category"), [(_("Outstanding"), parts)])
    rules = report.table("reward_rules")
    items = [(r, c) for r, _n, c in rules.rows]
    rules.chart = charts.bars(rules.title, _("Coins paid per reward rule"), items)
