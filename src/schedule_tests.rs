//! The schedule's arithmetic, across both daylight-saving transitions of
//! America/New_York in 2026 (spring forward 2026-03-08 02:00 → 03:00,
//! fall back 2026-11-01 02:00 → 01:00) and in UTC.

use super::*;

fn sched(
    mode: &str,
    every: Option<&str>,
    offset: Option<&str>,
    at: Option<&str>,
    days: &[&str],
    tz: &str,
) -> Schedule {
    let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    let days = (!days.is_empty()).then_some(days);
    Schedule::parse(
        Some(mode),
        every,
        offset,
        at,
        days.as_deref(),
        Some(tz),
        None,
    )
    .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// Every run from `from` up to `to`, as wall-clock text with the offset.
fn runs(s: &Schedule, from: &str, to: &str) -> Vec<String> {
    let (mut at, to) = (ts(from), ts(to));
    let mut out = vec![];
    while let Some(n) = s.next(at, None) {
        if n > to {
            break;
        }
        out.push(
            n.to_zoned_datetime(s.tz.clone())
                .strftime("%F %R %:z")
                .to_string(),
        );
        at = n;
    }
    out
}

const NY: &str = "America/New_York";

#[test]
fn daily_runs_once_a_day_across_both_transitions() {
    let s = sched("daily", None, None, Some("02:30"), &[], NY);
    // 02:30 does not exist on 2026-03-08: it runs at 03:30, after the jump.
    assert_eq!(
        runs(&s, "2026-03-07T00:00:00Z", "2026-03-10T00:00:00Z"),
        [
            "2026-03-07 02:30 -05:00",
            "2026-03-08 03:30 -04:00",
            "2026-03-09 02:30 -04:00"
        ]
    );
    // 01:30 happens twice on 2026-11-01: the first one only.
    let s = sched("daily", None, None, Some("01:30"), &[], NY);
    assert_eq!(
        runs(&s, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
        [
            "2026-10-31 01:30 -04:00",
            "2026-11-01 01:30 -04:00",
            "2026-11-02 01:30 -05:00"
        ]
    );
}

#[test]
fn periodic_runs_follow_real_hours_across_both_transitions() {
    let s = sched("periodic", Some("1h"), Some("10m"), None, &[], NY);
    // Spring: 02:10 is skipped by the clocks; its slot is 03:10, which runs
    // once. 00:00 to 04:00 local is three real hours: three runs.
    assert_eq!(
        runs(&s, "2026-03-08T05:00:00Z", "2026-03-08T08:00:00Z"),
        [
            "2026-03-08 00:10 -05:00",
            "2026-03-08 01:10 -05:00",
            "2026-03-08 03:10 -04:00"
        ]
    );
    // Autumn: 01:10 comes twice, an hour apart: both run. 00:00 EDT to
    // 03:00 EST is four real hours: four runs.
    assert_eq!(
        runs(&s, "2026-11-01T04:00:00Z", "2026-11-01T08:00:00Z"),
        [
            "2026-11-01 00:10 -04:00",
            "2026-11-01 01:10 -04:00",
            "2026-11-01 01:10 -05:00",
            "2026-11-01 02:10 -05:00"
        ]
    );
    let s = sched("periodic", Some("5m"), None, None, &[], "UTC");
    assert_eq!(
        s.next(ts("2026-11-29T10:07:30Z"), None),
        Some(ts("2026-11-29T10:10:00Z"))
    );
    // Strictly after: a run that just started does not start again.
    assert_eq!(
        s.next(ts("2026-11-29T10:10:00Z"), None),
        Some(ts("2026-11-29T10:15:00Z"))
    );
    // Across midnight.
    assert_eq!(
        s.next(ts("2026-11-29T23:58:00Z"), None),
        Some(ts("2026-11-30T00:00:00Z"))
    );
}

#[test]
fn weekly_runs_on_its_days() {
    // 2026-11-29 is a Sunday.
    let s = sched(
        "weekly",
        None,
        None,
        Some("02:30"),
        &["mon", "Thursday"],
        "UTC",
    );
    assert_eq!(
        runs(&s, "2026-11-29T00:00:00Z", "2026-12-08T00:00:00Z"),
        [
            "2026-11-30 02:30 +00:00",
            "2026-12-03 02:30 +00:00",
            "2026-12-07 02:30 +00:00"
        ]
    );
    // Across the spring gap, a weekly run at a time that does not exist.
    let s = sched("weekly", None, None, Some("02:15"), &["sun"], NY);
    assert_eq!(
        runs(&s, "2026-03-01T00:00:00Z", "2026-03-16T00:00:00Z"),
        [
            "2026-03-01 02:15 -05:00",
            "2026-03-08 03:15 -04:00",
            "2026-03-15 02:15 -04:00"
        ]
    );
}

#[test]
fn automatic_and_manual() {
    let s = Schedule::parse(
        Some("automatic"),
        None,
        None,
        None,
        None,
        Some("UTC"),
        Some("30s"),
    )
    .unwrap();
    // No run yet: at once; then 30 s after the last one ended.
    assert_eq!(
        s.next(ts("2026-11-29T10:00:00Z"), None),
        Some(ts("2026-11-29T10:00:00Z"))
    );
    assert_eq!(
        s.next(ts("2026-11-29T10:00:00Z"), Some(ts("2026-11-29T10:05:00Z"))),
        Some(ts("2026-11-29T10:05:30Z"))
    );
    let s = sched("manual", None, None, None, &[], "UTC");
    assert_eq!(s.next(ts("2026-11-29T10:00:00Z"), None), None);
}

#[test]
fn bad_settings_name_their_key() {
    let p = |mode, every, offset, at, days: Option<&[String]>, tz| {
        Schedule::parse(Some(mode), every, offset, at, days, tz, None).unwrap_err()
    };
    assert_eq!(
        p("periodic", Some("7m"), None, None, None, None).0,
        "schedule.every"
    );
    assert_eq!(
        p("periodic", None, None, None, None, None).0,
        "schedule.every"
    );
    assert_eq!(
        p("periodic", Some("1h"), Some("1h"), None, None, None).0,
        "schedule.offset"
    );
    assert_eq!(
        p("periodic", Some("soon"), None, None, None, None).0,
        "schedule.every"
    );
    assert_eq!(
        p("daily", None, None, Some("25:00"), None, None).0,
        "schedule.at"
    );
    assert_eq!(p("daily", None, None, None, None, None).0, "schedule.at");
    assert_eq!(
        p("weekly", None, None, Some("02:00"), None, None).0,
        "schedule.days"
    );
    let mo = vec!["mo".to_string()];
    assert_eq!(
        p("weekly", None, None, Some("02:00"), Some(&mo), None).0,
        "schedule.days"
    );
    assert_eq!(p("hourly", None, None, None, None, None).0, "schedule.mode");
    assert_eq!(
        p(
            "daily",
            None,
            None,
            Some("02:00"),
            None,
            Some("Mars/Olympus")
        )
        .0,
        "schedule.timezone"
    );
}
