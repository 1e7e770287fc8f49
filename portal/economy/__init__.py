"""The staff economy page (issue 13): revenue, credits issued and spent, what is owed for
unspent paid credits, top members and reward rules, for a period, with CSV and a monthly report.

`queries` reads the figures, `report` turns them into tables, `charts` draws them, `export`
writes CSV, `views` serves the page inside the admin (portal/admin.py registers it)."""
