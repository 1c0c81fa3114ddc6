"""The simulated alarm-monitoring centre: panic and intrusion alarms at premises, sent as CAP 1.2 alerts.
Mixed into `Simulator` (scheduler.py).
"""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

from .model import AlarmEvent, Stream

ALARMS = (
    ("Panic button", "Security", "Immediate", "Extreme"),
    ("Duress alarm", "Security", "Immediate", "Extreme"),
    ("Intrusion alarm", "Security", "Expected", "Moderate"),
    ("Glass-break sensor", "Security", "Expected", "Moderate"),
    ("Door sensor", "Security", "Expected", "Minor"),
)
PREMISES = ("bank branch", "pharmacy", "convenience store", "jewelry store", "school office", "transit station")
ALARM_SENDER = "alarms@monitoring.demo.invalid"


class AlarmSource:
    """Alarms from monitored premises."""

    def _alarm(self) -> None:
        self.after(self.rng.uniform(*self.config.alarm_every_s), self._alarm)
        device, category, urgency, severity = self.rng.choice(ALARMS)
        premise = self.rng.choice(PREMISES)
        h = self.sampler.hotspot()
        lon, lat = self.sampler.near(h.lon, h.lat, h.spread_m * 1.5)
        address, _ = self.addresser.address(self.rng, lon, lat)
        self._counters["alarms"] += 1
        identifier = f"SIM-AL-{self.run_id}-{self._counters['alarms']:05d}"
        title = f"{device}: {premise}"
        xml = cap_alert(
            identifier=identifier,
            sent=self.stamp(self.now).astimezone(self.tz),
            event=title,
            category=category,
            urgency=urgency,
            severity=severity,
            headline=f"{device} activated at a {premise}, {address}",
            area=f"{premise.capitalize()}, {address}",
            lon=lon,
            lat=lat,
        )
        kind = "panic" if device in ("Panic button", "Duress alarm") else "sensor"
        event = AlarmEvent(f"{ALARM_SENDER},{identifier}", kind, title, round(lon, 6), round(lat, 6))
        self._emit(Stream.CAP, event, body=xml, content_type="application/cap+xml")


def cap_alert(
    *,
    identifier: str,
    sent: datetime,
    event: str,
    category: str,
    urgency: str,
    severity: str,
    headline: str,
    area: str,
    lon: float,
    lat: float,
) -> bytes:
    """An OASIS CAP 1.2 alert as an alarm-monitoring centre would send it to the agency."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{escape(identifier)}</identifier>
  <sender>{ALARM_SENDER}</sender>
  <sent>{sent.isoformat(timespec="seconds")}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Restricted</scope>
  <restriction>Law enforcement dispatch only</restriction>
  <info>
    <language>en-US</language>
    <category>{escape(category)}</category>
    <event>{escape(event)}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <senderName>Demo alarm monitoring centre</senderName>
    <headline>{escape(headline)}</headline>
    <description>Signal received from the premises panel; keyholder being contacted.</description>
    <area>
      <areaDesc>{escape(area)}</areaDesc>
      <circle>{lat:.6f},{lon:.6f} 0</circle>
    </area>
  </info>
</alert>
""".encode()
