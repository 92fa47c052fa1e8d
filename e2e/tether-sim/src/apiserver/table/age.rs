//! Ages as the real printers show them: `duration.HumanDuration` of the time since a
//! timestamp (apimachinery `pkg/util/duration/duration.go`), `<unknown>` for none.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// The server's clock when it answers.
pub type Now = DateTime<Utc>;

/// A timestamp field: `None` when unset, null, empty, unparsable or Go's zero time.
pub fn parse(v: &Value) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    let t = t.with_timezone(&Utc);
    // Go's zero time (year 1) is what an unset metav1.Time encodes as.
    (t.timestamp() > ZERO_TIME).then_some(t)
}

/// Seconds of 0001-01-01T00:00:00Z since the Unix epoch.
const ZERO_TIME: i64 = -62_135_596_800;

/// `translateTimestampSince`: the age of the timestamp at `v`, or `<unknown>`.
pub fn since(v: &Value, now: Now) -> String {
    match parse(v) {
        Some(t) => human_duration(now - t),
        None => "<unknown>".into(),
    }
}

/// `duration.HumanDuration`: about two or three significant figures.
pub fn human_duration(d: TimeDelta) -> String {
    // Go truncates toward zero; up to 2 s into the future reads as now (clock skew).
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// `5m` when the rest is zero, else `5m30s`.
fn with_rest(big: i64, big_unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(s: i64) -> String {
        human_duration(TimeDelta::seconds(s))
    }

    #[test]
    fn human_durations_follow_apimachinery() {
        let cases = [
            (-3, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (59, "59s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 3599, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (s, want) in cases {
            assert_eq!(secs(s), want, "{s} s");
        }
        // 1.5 s in the future truncates to -1 s: still "0s".
        assert_eq!(human_duration(TimeDelta::milliseconds(-1500)), "0s");
    }

    #[test]
    fn ages_of_timestamps() {
        let now = parse(&json!("2025-01-01T12:00:00Z")).unwrap();
        assert_eq!(since(&json!("2025-01-01T11:55:00Z"), now), "5m");
        assert_eq!(since(&json!("2025-01-01T11:59:59.5Z"), now), "0s");
        for unset in [
            json!(null),
            json!(""),
            json!("0001-01-01T00:00:00Z"),
            json!("soon"),
        ] {
            assert_eq!(since(&unset, now), "<unknown>", "{unset}");
        }
    }
}
