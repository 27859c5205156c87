//! Timestamps in the contract files (`status.json`, `run.json`) and in Docker's API: RFC 3339 in
//! UTC, through `jiff` rather than hand-written calendar arithmetic.

use jiff::Timestamp;

/// Now, as RFC 3339 UTC with milliseconds (`2026-01-02T03:04:05.678Z`). Milliseconds because
/// a small job starts and finishes within one second: with whole seconds two such runs cannot be
/// told apart from one after the other.
pub fn now_rfc3339() -> String {
    format_millis(Timestamp::now())
}

fn format_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Seconds since the Unix epoch as RFC 3339 UTC with whole seconds.
pub fn format_unix(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Seconds (with fraction) since the Unix epoch of an RFC 3339 timestamp, any offset, as Docker
/// and the trainer write them. `None` when it does not parse, and for Docker's zero time
/// (`0001-01-01T00:00:00Z`), which means "never".
pub fn parse_rfc3339(s: &str) -> Option<f64> {
    let t: Timestamp = s.trim().parse().ok()?;
    if t.as_second()
        < Timestamp::from_second(-62_135_596_800 + 86_400)
            .ok()?
            .as_second()
    {
        return None;
    }
    Some(t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc_times() {
        assert_eq!(format_unix(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(parse_rfc3339("2024-02-29T12:34:56Z"), Some(1_709_210_096.0));
        assert_eq!(
            parse_rfc3339("2026-11-27T23:24:11.5Z"),
            Some(parse_rfc3339("2026-11-27T23:24:11Z").unwrap() + 0.5)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:34:56+01:00"),
            Some(1_709_210_096.0)
        );
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        let t = Timestamp::from_millisecond(1_709_210_096_007).unwrap();
        assert_eq!(format_millis(t), "2024-02-29T12:34:56.007Z");
        let back = parse_rfc3339(&format_millis(t)).unwrap();
        assert!((back - 1_709_210_096.007).abs() < 1e-6, "{back}");
        let now = parse_rfc3339(&now_rfc3339()).unwrap();
        assert!(now > 1.7e9, "{now}");
    }
}
