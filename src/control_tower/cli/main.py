"""`ct`: one command per operator task. `ct --help` lists them."""

from __future__ import annotations

import typer

from control_tower.cli import (
    alerts,
    audit,
    backup,
    catalog,
    db,
    dlq,
    jobs,
    notifications,
    poll,
    reports,
    runs,
    token,
)
from control_tower.cli import dashboards as dashboards_cli
from control_tower.cli.demo import demo
from control_tower.cli.docs import export_docs
from control_tower.cli.serve import serve
from control_tower.cli.users import app as users_app
from control_tower.cli.worker import rebuild_cmd, worker

app = typer.Typer(help="Control Tower: health, events, runs and audit.", no_args_is_help=True)
app.command("serve")(serve)
app.command("demo")(demo)
app.command("docs")(export_docs)
app.command("worker")(worker)
app.command("rebuild")(rebuild_cmd)
app.add_typer(token.app, name="token")
app.add_typer(users_app, name="users")
app.add_typer(db.app, name="db")
app.add_typer(catalog.app, name="catalog")
app.add_typer(audit.app, name="audit")
app.add_typer(dlq.app, name="dlq")
app.add_typer(poll.app, name="poll")
app.add_typer(jobs.app, name="jobs")
app.add_typer(backup.app, name="backup")
app.command("restore")(backup.restore)
app.command("digest")(reports.digest)
app.command("weekly")(reports.weekly)
app.command("trigger")(runs.trigger)
app.add_typer(runs.app, name="runs")
app.add_typer(dashboards_cli.app, name="dashboards")
app.add_typer(alerts.app, name="alerts")
app.add_typer(notifications.app, name="notifications")


if __name__ == "__main__":
    app()
