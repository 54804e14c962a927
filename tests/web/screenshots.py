"""`make screenshots`: a PNG of each dashboard under docs/screenshots/, from a real `ct serve` on
a fresh SQLite store seeded by `ct demo --days 30`, in Debian's Chromium.

    python -m tests.web.screenshots [--out docs/screenshots] [--days 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from control_tower.dashboards.spec import load_spec
from control_tower.db import build_engine
from control_tower.migrate import upgrade
from tests.conftest import TEST_MASTER_KEY
from tests.servers import ct_env
from tests.web.browser import stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ct-screenshots-") as folder:
        work = Path(folder)
        url = f"sqlite:///{work / 'ct.sqlite3'}"
        engine = build_engine(url)
        upgrade(engine)
        engine.dispose()
        env = ct_env(url, work / "data", TEST_MASTER_KEY)  # the target's secrets use it
        with stage(env, work / "logs", days=args.days) as s:
            time.sleep(3)  # let the router route the last batches and the runs finish
            context, page, errors = s.signed_in("maintainer", viewport={"width": 1280,
                                                                        "height": 900})  # fmt: skip
            for dashboard in load_spec().dashboards:
                page.goto(dashboard.path)
                path = args.out / f"{dashboard.id}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"wrote {path}")  # noqa: T201 (a command's report)
            context.close()
            phone, page, _ = s.signed_in("maintainer", viewport={"width": 390, "height": 844},
                                         device_scale_factor=2, is_mobile=True)  # fmt: skip
            page.goto("/ui/")
            page.screenshot(path=str(args.out / "executive-phone.png"), full_page=False)
            print(f"wrote {args.out / 'executive-phone.png'}")  # noqa: T201
            phone.close()
            if errors:
                raise SystemExit(f"console errors: {errors}")


if __name__ == "__main__":
    main()
