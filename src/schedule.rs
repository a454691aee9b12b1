//! When scheduled runs start: the `[schedule]` section as arithmetic on
//! instants. Nothing here sleeps or reads the clock: `next` takes the
//! instant to look after, so every rule is tested without waiting.
//!
//! Times of day are wall-clock times of the schedule's time zone (the
//! machine's own by default). Daylight saving: a time that does not exist
//! that day (the spring gap) runs when the clocks have jumped, as much
//! later as the gap is long (02:30 becomes 03:30); a time that exists twice
//! (the autumn fold) runs once, the first time, for `daily` and `weekly`,
//! and both times for `periodic` (two real hours went by). Slots are compared
//! as instants, so one that falls where another is never runs twice.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// How runs are started.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Only by hand (`ingest delta`, `ingest run --once`).
    Manual,
    /// The next run starts when the last one ended, at least `min_gap` later.
    Automatic { min_gap: SignedDuration },
    /// Every `every` (a divisor of a day), `offset` after each multiple of
    /// it since midnight: `every = 1h, offset = 10m` runs at :10 each hour.
    Periodic {
        every: SignedDuration,
        offset: SignedDuration,
    },
    /// Each day at `at`.
    Daily { at: Time },
    /// At `at` on these days.
    Weekly { at: Time, days: Vec<Weekday> },
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub mode: Mode,
    pub tz: TimeZone,
}

/// An error in the `[schedule]` section: the key and what is wrong.
pub type SettingError = (&'static str, String);

impl Schedule {
    /// The first run to start strictly after `after`; `last_end`: when the
    /// last run ended (automatic mode). `None`: runs start only by hand.
    /// `periodic, every 15m, offset 0s`, for `status` and the page.
    pub fn describe(&self) -> String {
        match &self.mode {
            Mode::Manual => "manual".to_string(),
            Mode::Automatic { min_gap } => format!("automatic, min_gap {min_gap:#}"),
            Mode::Periodic { every, offset } => {
                format!("periodic, every {every:#}, offset {offset:#}")
            }
            Mode::Daily { at } => format!("daily at {}", at.strftime("%H:%M")),
            Mode::Weekly { at, days } => format!(
                "weekly at {} on {}",
                at.strftime("%H:%M"),
                days.iter()
                    .map(|&d| day_name(d))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn next(&self, after: Timestamp, last_end: Option<Timestamp>) -> Option<Timestamp> {
        match &self.mode {
            Mode::Manual => None,
            Mode::Automatic { min_gap } => Some(match last_end {
                Some(end) => end.checked_add(*min_gap).ok()?.max(after),
                None => after,
            }),
            Mode::Periodic { every, offset } => {
                let step = every.as_secs();
                let slots: Vec<i64> = (0..86_400 / step)
                    .map(|k| k * step + offset.as_secs())
                    .collect();
                self.first_after(after, 3, |_| true, &slots, true)
            }
            Mode::Daily { at } => self.first_after(after, 3, |_| true, &[seconds_of(*at)], false),
            Mode::Weekly { at, days } => self.first_after(
                after,
                9,
                |d: Date| days.contains(&d.weekday()),
                &[seconds_of(*at)],
                false,
            ),
        }
    }

    /// The earliest instant after `after` of the civil times `slots`
    /// (seconds into the day) on the days `on` accepts, looking at `span`
    /// days from the day before `after`'s. `both_folds`: a time that occurs
    /// twice counts twice.
    fn first_after(
        &self,
        after: Timestamp,
        span: i64,
        on: impl Fn(Date) -> bool,
        slots: &[i64],
        both_folds: bool,
    ) -> Option<Timestamp> {
        let today = after.to_zoned_datetime(self.tz.clone()).date();
        let mut best: Option<Timestamp> = None;
        for d in -1..span {
            let Ok(day) = today.checked_add(jiff::Span::new().days(d)) else {
                continue;
            };
            if !on(day) {
                continue;
            }
            for &s in slots {
                let dt = day.to_datetime(Time::midnight()) + SignedDuration::from_secs(s);
                for t in self.instants(dt, both_folds) {
                    if t > after && best.is_none_or(|b| t < b) {
                        best = Some(t);
                    }
                }
            }
        }
        best
    }

    /// The instants a wall-clock time names in the schedule's zone.
    fn instants(&self, dt: DateTime, both_folds: bool) -> Vec<Timestamp> {
        let amb = self.tz.to_ambiguous_timestamp(dt);
        match amb.offset() {
            AmbiguousOffset::Unambiguous { .. } => amb.compatible().ok().into_iter().collect(),
            // Skipped by the clocks: as much later as the gap is long.
            AmbiguousOffset::Gap { .. } => amb.compatible().ok().into_iter().collect(),
            AmbiguousOffset::Fold { .. } if both_folds => [amb.earlier().ok(), amb.later().ok()]
                .into_iter()
                .flatten()
                .collect(),
            AmbiguousOffset::Fold { .. } => amb.earlier().ok().into_iter().collect(),
        }
    }

    /// Builds a schedule from the section's values as written.
    pub fn parse(
        mode: Option<&str>,
        every: Option<&str>,
        offset: Option<&str>,
        at: Option<&str>,
        days: Option<&[String]>,
        timezone: Option<&str>,
        min_gap: Option<&str>,
    ) -> Result<Schedule, SettingError> {
        let tz = match timezone {
            None | Some("local") => TimeZone::system(),
            Some(name) => TimeZone::get(name).map_err(|_| {
                (
                    "schedule.timezone",
                    format!("'{name}' is not a time zone (use \"UTC\", \"local\" or an IANA name such as \"Europe/Berlin\")"),
                )
            })?,
        };
        fn need<'a>(
            v: Option<&'a str>,
            key: &'static str,
            m: &str,
        ) -> Result<&'a str, SettingError> {
            v.ok_or_else(|| (key, format!("is required with mode = \"{m}\"")))
        }
        let time = |v: &str| {
            v.parse::<Time>().map_err(|_| {
                (
                    "schedule.at",
                    format!("'{v}' is not a time of day like \"02:30\""),
                )
            })
        };
        let mode = match mode.unwrap_or("manual") {
            "manual" => Mode::Manual,
            "automatic" => Mode::Automatic {
                min_gap: match min_gap {
                    None => SignedDuration::ZERO,
                    Some(g) => duration(g, "schedule.min_gap")?,
                },
            },
            "periodic" => {
                let every = duration(need(every, "schedule.every", "periodic")?, "schedule.every")?;
                let s = every.as_secs();
                if s < 60 || 86_400 % s != 0 || every.subsec_nanos() != 0 {
                    return Err((
                        "schedule.every",
                        "must be at least 1m and divide a day evenly (1m, 5m, 15m, 1h, 6h, 24h, ...)".into(),
                    ));
                }
                let offset = match offset {
                    None => SignedDuration::ZERO,
                    Some(o) => duration(o, "schedule.offset")?,
                };
                if offset >= every {
                    return Err(("schedule.offset", "must be shorter than schedule.every".into()));
                }
                Mode::Periodic { every, offset }
            }
            "daily" => Mode::Daily {
                at: time(need(at, "schedule.at", "daily")?)?,
            },
            "weekly" => {
                let at = time(need(at, "schedule.at", "weekly")?)?;
                let days = days
                    .ok_or_else(|| ("schedule.days", "is required with mode = \"weekly\"".to_string()))?
                    .iter()
                    .map(|d| weekday(d))
                    .collect::<Result<Vec<_>, _>>()?;
                if days.is_empty() {
                    return Err(("schedule.days", "must name at least one day".into()));
                }
                Mode::Weekly { at, days }
            }
            other => {
                return Err((
                    "schedule.mode",
                    format!("'{other}' is not one of \"manual\", \"automatic\", \"periodic\", \"daily\", \"weekly\""),
                ))
            }
        };
        Ok(Schedule { mode, tz })
    }
}

fn seconds_of(t: Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

/// `"5m"`, `"1h 30m"`, `"90s"`, `"2 hours"` (jiff's friendly format).
pub fn duration(text: &str, key: &'static str) -> Result<SignedDuration, SettingError> {
    match text.parse::<SignedDuration>() {
        Ok(d) if d >= SignedDuration::ZERO => Ok(d),
        _ => Err((
            key,
            format!("'{text}' is not a duration like \"5m\", \"1h\" or \"1h 30m\""),
        )),
    }
}

/// The days as `days` names them: short and full names.
const DAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

fn weekday(d: &str) -> Result<Weekday, SettingError> {
    let l = d.to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, full, _)| l == *short || l == *full)
        .map(|(_, _, w)| *w)
        .ok_or_else(|| {
            (
                "schedule.days",
                format!("'{d}' is not a day (mon, tue, wed, thu, fri, sat, sun)"),
            )
        })
}

/// A day's short name, as `days` takes it.
pub fn day_name(w: Weekday) -> &'static str {
    DAYS.iter()
        .find(|(_, _, x)| *x == w)
        .map_or("?", |(short, _, _)| short)
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
