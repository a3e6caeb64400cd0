//! Expansion of RRULE/EXRULE/RDATE/EXDATE recurrences into instance start times, with the
//! rrule crate and the series' time zone (so instances keep their wall-clock time across DST).

use chrono::{DateTime, NaiveDate, Utc};
use rrule::RRuleSet;

use crate::events::EventTime;

/// Most instances expanded for one series in one request.
pub const MAX_INSTANCES: u16 = 5000;

/// Checks that the recurrence lines parse for a series starting at `start`.
pub fn validate(start: &EventTime, lines: &[String]) -> Result<(), String> {
    rule_set(start, lines).map(|_| ())
}

/// Returns the start times of the instances whose span `[start, start + duration)` overlaps
/// `[window_start, window_end)`, in order, at most `MAX_INSTANCES` of them.
pub fn instance_starts(
    start: &EventTime,
    lines: &[String],
    duration: chrono::Duration,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
) -> Result<Vec<EventTime>, String> {
    let mut set = rule_set(start, lines)?;
    let tz = series_zone(start);

    // `after` and `before` only narrow the search; the exact overlap test follows below.
    if let Some(window_start) = window_start {
        let from = window_start - duration - chrono::Duration::days(1);
        set = set.after(from.with_timezone(&tz));
    }
    if let Some(window_end) = window_end {
        set = set.before(window_end.with_timezone(&tz));
    }

    let starts = set
        .all(MAX_INSTANCES)
        .dates
        .into_iter()
        .map(|date| to_event_time(start, date))
        .filter(|instance| {
            let begin = instance.instant();
            let end = begin + duration;
            let after_min =
                window_start.is_none_or(|min| end > min || (duration.is_zero() && begin >= min));
            let before_max = window_end.is_none_or(|max| begin < max);
            after_min && before_max
        })
        .collect();
    Ok(starts)
}

fn series_zone(start: &EventTime) -> rrule::Tz {
    match start.zone() {
        Some(zone) => rrule::Tz::Tz(zone),
        None => rrule::Tz::UTC,
    }
}

fn rule_set(start: &EventTime, lines: &[String]) -> Result<RRuleSet, String> {
    let dtstart = match start {
        EventTime::Date(date) => format!("DTSTART;VALUE=DATE:{}", date.format("%Y%m%d")),
        EventTime::DateTime {
            instant,
            zone: Some(zone),
        } => format!(
            "DTSTART;TZID={}:{}",
            zone.name(),
            instant.with_timezone(zone).format("%Y%m%dT%H%M%S")
        ),
        EventTime::DateTime {
            instant,
            zone: None,
        } => {
            format!("DTSTART:{}", instant.format("%Y%m%dT%H%M%SZ"))
        }
    };

    let mut text = dtstart;
    for line in lines {
        let upper = line.to_ascii_uppercase();
        let known = ["RRULE:", "EXRULE:", "RDATE", "EXDATE"]
            .iter()
            .any(|prefix| upper.starts_with(prefix));
        if !known {
            return Err(format!("unsupported recurrence line: {line}"));
        }
        text.push('\n');
        text.push_str(line.trim());
    }
    text.parse::<RRuleSet>().map_err(|error| error.to_string())
}

fn to_event_time(start: &EventTime, date: DateTime<rrule::Tz>) -> EventTime {
    match start {
        EventTime::Date(_) => EventTime::Date(naive_date(date)),
        EventTime::DateTime { zone, .. } => EventTime::DateTime {
            instant: date.with_timezone(&Utc),
            zone: *zone,
        },
    }
}

fn naive_date(date: DateTime<rrule::Tz>) -> NaiveDate {
    date.date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn timed(text: &str, zone: &str) -> EventTime {
        EventTime::parse(
            &serde_json::json!({"dateTime": text, "timeZone": zone}),
            "start",
        )
        .expect("valid time")
    }

    #[test]
    fn weekly_count_keeps_wall_clock_across_dst() {
        let start = timed("2025-03-03T09:00:00", "America/New_York");
        let lines = vec!["RRULE:FREQ=WEEKLY;COUNT=3".to_string()];

        let starts =
            instance_starts(&start, &lines, chrono::Duration::hours(1), None, None).unwrap();

        let suffixes: Vec<String> = starts.iter().map(EventTime::instance_suffix).collect();
        // DST starts on 2025-03-09 in New York, so 09:00 local moves from 14:00Z to 13:00Z.
        assert_eq!(
            suffixes,
            ["20250303T140000Z", "20250310T130000Z", "20250317T130000Z"]
        );
    }

    #[test]
    fn window_limits_instances() {
        let start = timed("2025-01-01T10:00:00", "UTC");
        let lines = vec!["RRULE:FREQ=DAILY".to_string()];
        let min = Utc.with_ymd_and_hms(2025, 1, 10, 10, 30, 0).unwrap();
        let max = Utc.with_ymd_and_hms(2025, 1, 12, 10, 0, 0).unwrap();

        let starts = instance_starts(
            &start,
            &lines,
            chrono::Duration::hours(1),
            Some(min),
            Some(max),
        )
        .unwrap();

        let suffixes: Vec<String> = starts.iter().map(EventTime::instance_suffix).collect();
        assert_eq!(suffixes, ["20250110T100000Z", "20250111T100000Z"]);
    }

    #[test]
    fn all_day_with_exdate() {
        let start = EventTime::Date(NaiveDate::from_ymd_opt(2025, 1, 6).unwrap());
        let lines = vec![
            "RRULE:FREQ=WEEKLY;UNTIL=20250127".to_string(),
            "EXDATE;VALUE=DATE:20250113".to_string(),
        ];

        let starts =
            instance_starts(&start, &lines, chrono::Duration::days(1), None, None).unwrap();

        let suffixes: Vec<String> = starts.iter().map(EventTime::instance_suffix).collect();
        assert_eq!(suffixes, ["20250106", "20250120", "20250127"]);
    }

    #[test]
    fn exrule_removes_instances() {
        let start = timed("2025-01-06T10:00:00", "UTC");
        let lines = vec![
            "RRULE:FREQ=DAILY;COUNT=5".to_string(),
            "EXRULE:FREQ=DAILY;INTERVAL=2;COUNT=3".to_string(),
        ];

        let starts =
            instance_starts(&start, &lines, chrono::Duration::hours(1), None, None).unwrap();

        let suffixes: Vec<String> = starts.iter().map(EventTime::instance_suffix).collect();
        assert_eq!(suffixes, ["20250107T100000Z", "20250109T100000Z"]);
    }

    #[test]
    fn garbage_rule_is_rejected() {
        let start = timed("2025-01-01T10:00:00", "UTC");
        assert!(validate(&start, &["RRULE:FREQ=SOMETIMES".to_string()]).is_err());
        assert!(validate(&start, &["FOO:BAR".to_string()]).is_err());
    }
}
