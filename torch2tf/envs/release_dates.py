"""When a release was published, from the package index's JSON simple API (PEP 691 / 700 upload-time):
what a model's requirements resolve "as of" (the library's own release day, not today)."""

from __future__ import annotations

import datetime
import json
import os
import re
import urllib.request

INDEX = "https://pypi.org/simple"
TIMEOUT = 15


def released(package: str, version: str, index: str | None = None) -> datetime.date | None:
    """The day the first file of package==version was uploaded; None when the index cannot say."""
    base = (index or os.environ.get("UV_INDEX_URL") or INDEX).rstrip("/")
    name = re.sub(r"[-_.]+", "-", package).lower()
    request = urllib.request.Request(f"{base}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            files = json.load(response).get("files", [])
    except (OSError, ValueError):
        return None
    spelled = "[-_.]".join(re.escape(part) for part in name.split("-"))     # files write it with _ or .
    stem = re.compile(rf"^{spelled}-{re.escape(version)}(\.tar\.gz|\.zip|-)", re.I)
    times = [f["upload-time"] for f in files if f.get("upload-time") and stem.match(f.get("filename", ""))]
    return datetime.date.fromisoformat(min(times)[:10]) if times else None


def resolve_as_of(era: str | None, pins: list[tuple[str, str]]) -> tuple[str | None, str]:
    """The date to resolve as of, and why: the stack's era, or the newest pinned release's day after when
    that is later (a library released after the era needs what was current when it came out)."""
    best, why = era, "the stack's era" if era else ""
    for package, version in pins:
        day = released(package, version)
        if day is not None:
            after = (day + datetime.timedelta(days=1)).isoformat()
            if best is None or after > best:
                best, why = after, f"{package}=={version}'s release" + (f"; the stack's era is {era}" if era else "")
    return best, why
