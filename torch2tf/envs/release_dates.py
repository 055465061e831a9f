"""When a release was published, from the package index (PEP 700 upload-time): what a model's
requirements resolve "as of" (the library's own release day, not today)."""

from __future__ import annotations

import datetime

from torch2tf.envs import package_index


def released(package: str, version: str, index: str | None = None) -> datetime.date | None:
    """The day the first file of package==version was uploaded; None when the index cannot say."""
    listing = package_index.files(package, index)
    times = [f["upload-time"] for f in package_index.release_files(package, version, listing) if f.get("upload-time")]
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
