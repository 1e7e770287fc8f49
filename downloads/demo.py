"""Demo catalog for the embedded default: 120 songs, a few EAs and premium items.

Idempotent: items are found by slug, and each small generated file (deterministic bytes) is
written to storage only when missing. No balances change here.
"""

import hashlib
import io
import math
import wave
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import OutputWrapper
from django.utils import timezone

from accounts.models import User

from .models import Item, ItemKind, Platform, PricingMode, Timeframe, Verification, item_storage

SONG_COUNT = 120
PREMIUM_GROUP = "Premium members"
ADJECTIVES = ["Golden", "Midnight", "Velvet", "Electric", "Silent", "Crimson", "Neon", "Lucky", "Wild", "Blue"]
NOUNS = [
    "Harbor",
    "Skyline",
    "Echo",
    "Lantern",
    "River",
    "Summit",
    "Mirage",
    "Comet",
    "Garden",
    "Signal",
    "Tide",
    "Ember",
]


def song_wav(n: int) -> bytes:
    """A quarter second of 8 kHz, 8-bit mono sine: about 2 KB, the same bytes every time."""
    rate, frames, freq = 8000, 2000, 220 + 10 * n
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(int(128 + 100 * math.sin(2 * math.pi * freq * i / rate)) for i in range(frames)))
    return buf.getvalue()


def _ensure_file(path: str, content: bytes) -> None:
    storage = item_storage()
    if not storage.exists(path):
        storage.save(path, ContentFile(content))


def _item(*, slug: str, path: str, content: bytes, **fields: object) -> bool:
    _ensure_file(path, content)
    if Item.objects.filter(slug=slug).exists():
        return False
    Item.objects.create(slug=slug, file=path, size=len(content), sha256=hashlib.sha256(content).hexdigest(), **fields)
    return True


def seed(*, stdout: OutputWrapper) -> None:
    created = 0
    for n in range(1, SONG_COUNT + 1):
        title = f"{ADJECTIVES[n % len(ADJECTIVES)]} {NOUNS[(n * 7) % len(NOUNS)]} No. {n}"
        created += _item(
            slug=f"demo-song-{n:03d}",
            path=f"downloads/demo/song-{n:03d}.wav",
            content=song_wav(n),
            title=title,
            kind=ItemKind.SONG,
            description="A short generated demo tone.",
        )
    uploader = User.objects.filter(email="demo@goldbook.local").first()
    today = timezone.localdate()
    eas = [
        ("Gold Scalper Pro", "XAUUSD", Timeframe.M15, Platform.MT4, "1.84", "12.50", Verification.VERIFIED, 1500),
        ("Trend Rider EURUSD", "EURUSD", Timeframe.H1, Platform.MT5, "1.42", "18.30", Verification.VERIFIED, 800),
        ("Night Grid", "GBPJPY", Timeframe.M5, Platform.MT4, "1.21", "27.90", Verification.VERIFIED, 500),
        ("Breakout Hunter", "USDJPY", Timeframe.H4, Platform.MT5, "1.65", "9.80", Verification.PENDING, 1200),
    ]
    for n, (title, symbol, tf, platform, pf, dd, status, price) in enumerate(eas, start=1):
        slug = f"demo-ea-{n}"
        report_path = f"downloads/demo/ea-{n}-report.html"
        _ensure_file(
            report_path,
            f"<html><body><h1>{title} backtest</h1><p>Profit factor {pf}, drawdown {dd}%.</p></body></html>".encode(),
        )
        created += _item(
            slug=slug,
            path=f"downloads/demo/ea-{n}.ex4",
            content=hashlib.sha256(slug.encode()).digest() * 32,
            title=title,
            kind=ItemKind.EA,
            description=f"Demo expert advisor for {symbol}.",
            price=price,
            pricing_mode=PricingMode.UNLOCK,
            uploader=uploader,
            platform=platform,
            symbol=symbol,
            timeframe=tf,
            backtest_start=today - timedelta(days=730),
            backtest_end=today - timedelta(days=30),
            profit_factor=Decimal(pf),
            max_drawdown_pct=Decimal(dd),
            report_file=report_path,
            verification=status,
            verified_at=timezone.now() if status == Verification.VERIFIED else None,
        )
    group, _ = Group.objects.get_or_create(name=PREMIUM_GROUP)
    created += _item(
        slug="demo-premium-masterclass",
        path="downloads/demo/premium-masterclass.pdf",
        content=b"%PDF-1.4\n% Goldbook demo masterclass\n",
        title="Risk Management Masterclass (PDF)",
        kind=ItemKind.PREMIUM,
        description="A premium guide, pay once and keep it.",
        price=300,
        pricing_mode=PricingMode.UNLOCK,
    )
    created += _item(
        slug="demo-premium-members-pack",
        path="downloads/demo/members-pack.zip",
        content=b"PK\x05\x06" + b"\x00" * 18,
        title="Members' Indicator Pack",
        kind=ItemKind.PREMIUM,
        description="Only for members of the premium group (a reward in the store).",
        price=0,
        pricing_mode=PricingMode.UNLOCK,
        access_group=group,
    )
    stdout.write(f"downloads: {created} demo items added ({Item.objects.count()} in the catalog)")
