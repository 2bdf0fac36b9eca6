"""What a scrape did: fetched, skipped (and why), failed (and why), as data and as a Rich summary."""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass
class ScrapeReport:
    query: str
    out: Path
    listed: int = 0  # paintings seen in the listing (this run)
    fetched: list[str] = field(default_factory=list)  # files downloaded in this run
    already_had: int = 0
    recovered: int = 0  # finished by an interrupted run, found and recorded on restart
    filtered_year: int = 0
    disallowed: list[str] = field(default_factory=list)  # URLs robots.txt keeps us from
    failed: dict[str, str] = field(default_factory=dict)  # source URL -> reason
    listing_errors: list[str] = field(default_factory=list)
    total_in_raw: int = 0  # downloads done for this query, all runs together
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    waited_s: float = 0.0  # total sleep before retries
    interrupted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_fetched(self, file: str) -> None:
        with self._lock:
            self.fetched.append(file)

    def add_failed(self, url: str, reason: str) -> None:
        with self._lock:
            self.failed[url] = reason

    def to_dict(self) -> dict:
        return {
            "query": self.query, "out": str(self.out), "listed": self.listed, "fetched": len(self.fetched),
            "already_had": self.already_had, "recovered": self.recovered, "filtered_year": self.filtered_year,
            "disallowed": list(self.disallowed), "failed": dict(self.failed), "listing_errors": list(self.listing_errors),
            "total_in_raw": self.total_in_raw, "requests": dict(self.requests), "retries": self.retries,
            "waited_s": self.waited_s,
            "interrupted": self.interrupted,
        }

    def print_summary(self, console: Console) -> None:
        title = f"WikiArt scrape {self.query} → {self.out}" + (" (interrupted)" if self.interrupted else "")
        table = Table(title=title, show_header=True, header_style="bold")
        table.add_column("")
        table.add_column("images", justify="right")
        table.add_row("listed", str(self.listed))
        table.add_row("fetched now", str(len(self.fetched)), style="green")
        table.add_row("already had (skipped)", str(self.already_had))
        if self.recovered:
            table.add_row("recovered from an interrupted run", str(self.recovered))
        table.add_row("outside --years (skipped)", str(self.filtered_year))
        table.add_row("disallowed by robots.txt (skipped)", str(len(self.disallowed)),
                      style="yellow" if self.disallowed else None)
        table.add_row("failed", str(len(self.failed)), style="red" if self.failed else None)
        table.add_row("in RAW for this query", str(self.total_in_raw), style="bold")
        console.print(table)
        requests = ", ".join(f"{n} {kind}" for kind, n in sorted(self.requests.items())) or "none"
        console.print(f"requests: {requests}; retries: {self.retries} (waited {self.waited_s:.1f} s)")
        if self.listed == 0 and not self.listing_errors and not self.interrupted:
            console.print("[yellow]the listing is empty:[/yellow] check the name as it appears in the site's URL")
        for error in self.listing_errors:
            console.print(f"[red]listing:[/red] {error}")
        if self.disallowed:
            console.print(f"[yellow]robots.txt disallows[/yellow] {len(self.disallowed)} URL(s), e.g. {self.disallowed[0]}")
        if self.failed:
            reasons = collections.Counter(self.failed.values())
            why = Table(title="failures", show_header=True, header_style="bold")
            why.add_column("reason")
            why.add_column("images", justify="right")
            for reason, n in reasons.most_common(10):
                why.add_row(reason, str(n))
            console.print(why)
