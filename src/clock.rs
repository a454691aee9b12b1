//! UTC wall-clock text without a date-time crate: `YYYY-MM-DD HH:MM:SS.fff`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date (year, month, day) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Formats microseconds since the Unix epoch as UTC text.
pub fn format_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{frac:06}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Now, as `YYYY-MM-DD HH:MM:SS.fff` UTC.
pub fn now() -> String {
    let mut s = format_micros(now_micros());
    s.truncate(23);
    s
}

/// This month as `YYYY-MM`, for monthly log files.
pub fn this_month() -> String {
    now()[..7].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_micros(0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            format_micros(951_782_400_000_001),
            "2000-02-29 00:00:00.000001"
        );
        assert_eq!(format_micros(-1), "1969-12-31 23:59:59.999999");
        assert_eq!(
            format_micros(253_402_300_799_000_000),
            "9999-12-31 23:59:59.000000"
        );
    }
}
